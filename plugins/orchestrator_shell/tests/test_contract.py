"""The status-line contract, read from a script's stdout (no process involved)."""

from __future__ import annotations

import pytest

from orchestrator_shell.contract import ContractViolation, parse_status_line


def test_a_success_line_with_writes_and_extra_fields():
    line = parse_status_line(b'{"status":"ok","outputs":["a.b_v1"],"ctx":{"a.b_v1":[1,2]},"artifact":"Data/x.csv",'
                             b'"removed":[]}\n\n')
    assert line.ok
    assert (line.outputs, line.ctx, line.extras) == (["a.b_v1"], {"a.b_v1": [1, 2]},
                                                     {"artifact": "Data/x.csv", "removed": []})


def test_a_success_line_may_write_nothing():
    line = parse_status_line(b'{"status": "ok", "outputs": []}')
    assert line.ok and line.ctx == {} and line.extras == {}


def test_an_error_line_keeps_the_scripts_reason_details_and_code():
    line = parse_status_line('{"status":"error","reason":"Too few rows ✗","details":{"rows":2},"exit_code":3}'
                             .encode())
    assert (line.ok, line.reason, line.details, line.exit_code) == (False, "Too few rows ✗", {"rows": 2}, 3)


@pytest.mark.parametrize("stdout, message", [
    (b"", "printed nothing on stdout"),
    (b"   \n\n", "printed nothing on stdout"),
    (b"hello world\n", "stdout is not a JSON status line"),
    (b'working...\n{"status":"ok","outputs":[]}\n', "1 line(s) of text besides the status line"),
    (b'{"status":"ok","outputs":[]}\n{"status":"ok","outputs":[]}\n', "printed 2 JSON lines"),
    (b'[1, 2]', "must be a JSON object, got list"),
    (b'{"outputs":[]}', 'needs "status": "ok" or "error", got None'),
    (b'{"status":"done","outputs":[]}', "got 'done'"),
    (b'{"status":"ok"}', 'needs "outputs"'),
    (b'{"status":"ok","outputs":"a.b_v1","ctx":{"a.b_v1":1}}', 'needs "outputs"'),
    (b'{"status":"ok","outputs":["a.b_v1"],"ctx":{}}', '"outputs" names keys that are not in "ctx": a.b_v1'),
    (b'{"status":"ok","outputs":["a.b_v1"]}', '"outputs" names keys that are not in "ctx": a.b_v1'),
    (b'{"status":"ok","outputs":[],"ctx":{"a.b_v1":1}}', '"ctx" writes keys that "outputs" does not name: a.b_v1'),
    (b'{"status":"ok","outputs":[],"ctx":[]}', '"ctx" must be an object'),
    (b'{"status":"ok","outputs":["_runner.x"],"ctx":{"_runner.x":1}}', "'_runner.*' keys belong to the runner"),
    (b'{"status":"ok","outputs":["a.b_v1"],"ctx":{"a.b_v1":NaN}}', "NaN is not valid JSON"),
    (b'{"status":"ok","outputs":[],"artifact":3}', '"artifact" must be a path'),
    (b'{"status":"ok","outputs":[],"metrics":{}}', "may not set the framework's fields: metrics"),
    (b'\xff\xfe{}', "stdout is not UTF-8 text"),
])
def test_each_broken_contract_is_named(stdout, message):
    with pytest.raises(ContractViolation) as caught:
        parse_status_line(stdout)
    assert message in caught.value.reason


def test_a_violation_quotes_the_last_lines_of_stdout_cut_short():
    stdout = "\n".join([f"log line {i}" for i in range(10)] + ["x" * 1000]).encode()
    with pytest.raises(ContractViolation) as caught:
        parse_status_line(stdout)
    quoted = caught.value.details["stdout_lines"]
    assert quoted[:4] == ["log line 6", "log line 7", "log line 8", "log line 9"]
    assert quoted[4] == "x" * 300 + "…"
