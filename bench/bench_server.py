"""How fast the context server answers, and how soon a run's events reach a stream.

1. Requests per second of the key-read endpoint (``GET /api/runs/RUN/context/KEY``) of a
   real ``orch serve`` subprocess, against a bare ``ThreadingHTTPServer`` (Nagle off,
   like ours) that answers a constant JSON document, in another subprocess. The load
   generator is this process: threads with keep-alive ``http.client`` connections,
   for a fixed time each. The ratio says what routing, the store and JSON cost.
2. Latency from a step finishing to its ``step_finish`` event arriving on the SSE stream:
   a real ``orch run`` of steps that each sleep, followed by a stream client; the
   event's own timestamp (when the step finished) against the arrival time.
3. The CPU an idle server spends (CPU-seconds per second, from ``/proc/PID/stat``) with
   ``--streams`` open event streams and nothing happening, against the same server with
   none; and how long a run's events then take to reach all of them.

    python bench/bench_server.py [--seconds 3] [--threads 4] [--streams 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

ORCH = str(Path(sys.executable).parent / "orch")

BARE_SERVER = r'''
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"run":"r","key":"bench.value_v1","value":42,"who":"bench","step":"s","ts":"t","history":[]}'

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    def get_request(self):
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address

server = Server(("127.0.0.1", 0), Handler)
print(f"http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr, flush=True)
server.serve_forever()
'''

STEPS = '''
import time
from orchestrator_core import BaseScriptlet

class Sleep(BaseScriptlet):
    name = "sleep"
    outputs = ("bench.value_v1",)
    def run(self, ctx, params):
        time.sleep(params.get("ms", 50) / 1000)
        ctx.set("bench.value_v1", 42)
'''


def start(args: list[str], cwd: Path, env: dict) -> tuple[subprocess.Popen, str]:
    log = cwd / f"server-{len(list(cwd.glob('server-*.log')))}.log"
    with open(log, "w") as err:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"http://\S+/", log.read_text())
        if found:
            return process, found.group(0)
        time.sleep(0.02)
    process.kill()
    raise SystemExit(f"no URL from {args}: {log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def load(url: str, path: str, seconds: float, threads: int) -> dict:
    """Requests per second of ``GET path`` from ``threads`` keep-alive clients for ``seconds``."""
    parts = urlsplit(url)
    counts = [0] * threads
    failures = [0] * threads
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.monotonic() < deadline:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                counts[index] += 1
            else:
                failures[index] += 1
        connection.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    return {"requests": sum(counts), "failed": sum(failures), "seconds": round(elapsed, 2),
            "requests_per_s": round(sum(counts) / elapsed)}


def sse_latency(url: str, workdir: Path, env: dict, steps: int) -> dict:
    """Milliseconds from each step's ``step_finish`` record to its arrival on the stream."""
    recipe = workdir / "sleepy.yaml"
    recipe.write_text("name: sleepy\nsteps:\n" + "".join(
        f"  - {{name: s{i}, module: bench_server_steps, function: Sleep, params: {{ms: 50}}}}\n" for i in range(steps)))
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    latencies: list[float] = []
    run = subprocess.Popen([ORCH, "run", str(recipe)], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        while True:
            line = response.readline().decode()
            if not line.startswith("data: "):
                continue
            arrived = time.time()
            record = json.loads(line[6:])
            if record["event"] == "step_finish":
                finished = datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
                latencies.append((arrived - finished) * 1000)
            if record["event"] == "run_finish":
                break
    finally:
        run.wait(timeout=60)
        connection.close()
    return {"steps": len(latencies), "median_ms": round(statistics.median(latencies), 1),
            "max_ms": round(max(latencies), 1), "poll_interval_ms": 20}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return round((cpu_seconds(pid) - start) / seconds, 4)


def open_streams(url: str, count: int) -> list[socket.socket]:
    parts = urlsplit(url)
    streams = []
    for _ in range(count):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"stream refused: {head[:200]!r}")
        streams.append(sock)
    return streams


def fan_out(streams: list[socket.socket], workdir: Path, env: dict) -> float:
    """Milliseconds from a run finishing to the last of ``streams`` receiving its ``run_finish``."""
    subprocess.run([ORCH, "run", "one.yaml"], cwd=workdir, env=env, check=True, capture_output=True)
    finished = time.monotonic()
    waiting = {sock: b"" for sock in streams}
    selector = selectors.DefaultSelector()
    for sock in streams:
        selector.register(sock, selectors.EVENT_READ)
    while waiting and time.monotonic() - finished < 30:
        for key, _ in selector.select(timeout=1):
            waiting[key.fileobj] += key.fileobj.recv(65536)
            if b'"event":"run_finish"' in waiting[key.fileobj]:
                del waiting[key.fileobj]
                selector.unregister(key.fileobj)
    selector.close()
    if waiting:
        raise SystemExit(f"{len(waiting)} streams never got the run's events")
    return round((time.monotonic() - finished) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--streams", type=int, default=200, help="idle event streams for the CPU measurement")
    parser.add_argument("--quick", action="store_true", help="1 s of load and 5 steps (a smoke check)")
    options = parser.parse_args()
    if options.quick:
        options.seconds, options.steps = 1.0, 5
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bench_server_steps.py").write_text(STEPS)
        env = {**os.environ, "PYTHONPATH": str(workdir), "ORCH_LOG_LEVEL": "WARNING"}
        (workdir / "one.yaml").write_text(
            "name: one\nsteps:\n  - {name: s, module: bench_server_steps, function: Sleep, params: {ms: 0}}\n")
        subprocess.run([ORCH, "run", "one.yaml"], cwd=workdir, env=env, check=True, capture_output=True)

        bare, bare_url = start([sys.executable, "-c", BARE_SERVER], workdir, env)
        try:
            baseline = load(bare_url, "/api/runs/latest/context/bench.value_v1", options.seconds, options.threads)
        finally:
            stop(bare)
        served, url = start([ORCH, "serve", "--port", "0"], workdir, env)
        try:
            key_read = load(url, "/api/runs/latest/context/bench.value_v1", options.seconds, options.threads)
            latency = sse_latency(url, workdir, env, options.steps)
            no_streams = idle_cpu(served.pid, options.seconds)
            streams = open_streams(url, options.streams)
            try:
                with_streams = idle_cpu(served.pid, options.seconds)
                fan_out_ms = fan_out(streams, workdir, env)
            finally:
                for sock in streams:
                    sock.close()
        finally:
            stop(served)
    print(json.dumps({
        "key_read": key_read,
        "bare_threading_server": baseline,
        "key_read_to_bare_ratio": round(key_read["requests_per_s"] / baseline["requests_per_s"], 2),
        "sse_step_finish_latency": latency,
        "idle_cpu_s_per_s": {"no_streams": no_streams, f"{options.streams}_streams": with_streams},
        f"run_events_to_all_{options.streams}_streams_ms": fan_out_ms,
        "threads": options.threads,
        "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
