// The orch dashboard: runs, the steps of one run (table and DAG), its latest context keys.
// It reads the JSON API once, then follows the Server-Sent Events stream (/api/events),
// so it updates without reloading. Text from the store is only ever set as textContent.
"use strict";

const state = {
  runs: [],          // newest first, from /api/runs
  runId: null,       // the run shown
  run: null,         // /api/runs/ID: {run, steps, depends_on}
  context: null,     // /api/runs/ID/context
  follow: true,      // switch to each new run as it starts
  contextTimer: null,
  loading: null,     // events of the run being loaded, applied once it is: [id, record]
};

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

async function getJSON(url) {
  const response = await fetch(url, {headers: {Accept: "application/json"}});
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function el(tag, attrs = {}, text = null, ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function stepStatus(step) {
  if (step.status === "ok" && step.cache === "hit") return "hit";
  return step.status;
}

function statusLabel(status) {
  return {hit: "cache hit", not_run: "not run"}[status] || status;
}

function duration(step) {
  if (step.duration_ms != null) return formatMs(step.duration_ms);
  if (step.status === "running" && step.started) return formatMs(Date.now() - Date.parse(step.started)) + "…";
  return "";
}

function formatMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

// -- rendering ----------------------------------------------------------------------------
function renderRuns() {
  const list = $("runs");
  list.replaceChildren();
  for (const run of state.runs) {
    const item = el("li", {"data-run": run.id}, null);
    if (run.id === state.runId) item.classList.add("selected");
    item.append(el("span", {class: "badge", "data-status": run.status}, run.status), " ",
                document.createTextNode(`${run.recipe} ${run.id.slice(9)}`));
    item.title = run.id;
    item.addEventListener("click", () => { state.follow = false; $("follow").checked = false; selectRun(run.id); });
    list.append(item);
  }
}

function renderSummary() {
  const box = $("summary");
  box.replaceChildren();
  if (!state.run) return;
  const run = state.run.run;
  $("run-title").textContent = `${run.recipe}  ${run.id}`;
  const counts = {};
  for (const step of state.run.steps) counts[stepStatus(step)] = (counts[stepStatus(step)] || 0) + 1;
  const parts = [["status", run.status], ["steps", state.run.steps.length],
                 ["duration", run.duration_ms != null ? formatMs(run.duration_ms) : "running"],
                 ...Object.entries(counts).map(([k, v]) => [statusLabel(k), v])];
  for (const [name, value] of parts) {
    const span = el("span", name === "status" ? {id: "run-status", "data-status": value} : {});
    span.append(el("b", {}, `${name}: `), document.createTextNode(String(value)));
    box.append(span);
  }
}

function renderSteps() {
  const body = $("steps").tBodies[0];
  body.replaceChildren();
  if (!state.run) return;
  for (const step of state.run.steps) {
    const status = stepStatus(step);
    const row = el("tr", {"data-step": step.step, "data-status": status});
    const badge = el("td");
    badge.append(el("span", {class: "badge"}, statusLabel(status)));
    row.append(el("td", {}, step.step), badge, el("td", {class: "duration"}, duration(step)),
               el("td", {}, step.executor || ""), el("td", {}, step.attempts != null ? String(step.attempts) : ""),
               el("td", {}, step.error ? step.error.reason || JSON.stringify(step.error) : ""));
    body.append(row);
  }
}

// A layered drawing: a step's column is the length of the longest dependency chain
// leading to it; within a column, steps keep their plan order.
function renderDag() {
  const svg = $("dag");
  svg.replaceChildren();
  if (!state.run) return;
  const steps = state.run.steps, deps = state.run.depends_on || {};
  const names = new Set(steps.map((s) => s.step));
  const layer = {};
  const layerOf = (name, seen = new Set()) => {
    if (layer[name] !== undefined) return layer[name];
    if (seen.has(name)) return 0;
    seen.add(name);
    const parents = (deps[name] || []).filter((d) => names.has(d));
    layer[name] = parents.length ? 1 + Math.max(...parents.map((p) => layerOf(p, seen))) : 0;
    return layer[name];
  };
  const columns = [];
  for (const step of steps) (columns[layerOf(step.step)] ||= []).push(step);
  const W = 170, H = 34, GX = 60, GY = 16, PAD = 10;
  const place = {};
  columns.forEach((column, x) => column.forEach((step, y) => {
    place[step.step] = {x: PAD + x * (W + GX), y: PAD + y * (H + GY)};
  }));
  const rows = Math.max(1, ...columns.map((c) => c.length));
  svg.setAttribute("width", PAD * 2 + columns.length * (W + GX) - GX);
  svg.setAttribute("height", PAD * 2 + rows * (H + GY) - GY);
  for (const step of steps) {
    for (const parent of deps[step.step] || []) {
      if (!place[parent]) continue;
      const a = place[parent], b = place[step.step];
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
      svg.append(el("path", {d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`}, null, SVG));
    }
  }
  for (const step of steps) {
    const {x, y} = place[step.step];
    const group = el("g", {class: "node", "data-step": step.step, "data-status": stepStatus(step),
                           transform: `translate(${x},${y})`}, null, SVG);
    group.append(el("rect", {width: W, height: H}, null, SVG));
    const label = step.step.length > 22 ? step.step.slice(0, 21) + "…" : step.step;
    group.append(el("text", {x: 8, y: H / 2}, label, SVG));
    group.append(el("title", {}, `${step.step}: ${statusLabel(stepStatus(step))} ${duration(step)}`, SVG));
    svg.append(group);
  }
}

function renderContext() {
  const body = $("context").tBodies[0];
  body.replaceChildren();
  if (!state.context) return;
  const entries = Object.entries(state.context.context)
    .sort((a, b) => String(b[1].ts || "").localeCompare(String(a[1].ts || "")));
  for (const [key, entry] of entries.slice(0, 100)) {
    const text = JSON.stringify(entry.value);
    const row = el("tr", {"data-key": key});
    row.append(el("td", {}, key), el("td", {class: "value", title: text.slice(0, 2000)}, text),
               el("td", {}, entry.who || ""), el("td", {}, entry.step || ""), el("td", {}, entry.ts || ""));
    body.append(row);
  }
}

function renderRun() { renderSummary(); renderSteps(); renderDag(); }

// -- loading ------------------------------------------------------------------------------
async function loadRuns() {
  state.runs = (await getJSON("/api/runs?limit=30")).runs;
  renderRuns();
}

async function loadContext() {
  if (!state.runId) return;
  state.context = await getJSON(`/api/runs/${encodeURIComponent(state.runId)}/context`);
  renderContext();
}

function contextSoon() {  // many steps finishing together: one reload
  clearTimeout(state.contextTimer);
  state.contextTimer = setTimeout(() => loadContext().catch(console.error), 100);
}

// Events that arrive while the run is being fetched are kept, and those the fetched
// document does not include yet (an id above its cursor) are applied to it.
async function selectRun(id) {
  state.runId = id;
  state.loading = [];
  let doc;
  try {
    doc = await getJSON(`/api/runs/${encodeURIComponent(id)}`);
  } finally {
    const missed = state.loading || [];
    state.loading = null;
    if (doc && state.runId === id) {
      state.run = doc;
      for (const [eventId, record] of missed) if (eventId > doc.cursor) applyStepEvent(record);
    }
  }
  renderRuns();
  renderRun();
  await loadContext();
}

// -- live events --------------------------------------------------------------------------
function onEvent(record, eventId) {
  if (record.event === "run_start" || record.event === "run_finish") {
    loadRuns().then(() => {
      if (record.event === "run_start" && state.follow) return selectRun(record.run);
      if (record.run === state.runId) return selectRun(record.run);
    }).catch(console.error);
    return;
  }
  if (record.run !== state.runId) return;
  if (record.event === "context_write") { contextSoon(); return; }
  if (state.loading) { state.loading.push([eventId, record]); return; }
  if (state.run) { applyStepEvent(record); renderRun(); }
}

function applyStepEvent(record) {
  const step = state.run.steps.find((s) => s.step === record.step);
  if (!step) return;
  if (record.event === "step_start") {
    Object.assign(step, {status: "running", started: record.ts, duration_ms: null, error: null});
  } else if (record.event === "step_finish") {
    Object.assign(step, {status: "ok", cache: record.cache, duration_ms: record.metrics.duration_ms,
                         executor: record.executor, attempts: record.attempts});
    contextSoon();
  } else if (record.event === "step_error") {
    Object.assign(step, {status: "error", error: record.error, duration_ms: (record.metrics || {}).duration_ms,
                         executor: record.executor, attempts: record.attempts});
  }
}

function connect(cursor) {
  const source = new EventSource(`/api/events?after=${cursor}`);
  source.onopen = () => { $("live").dataset.state = "live"; $("live").textContent = "live"; };
  source.onerror = () => { $("live").dataset.state = "lost"; $("live").textContent = "reconnecting"; };
  source.onmessage = (message) => onEvent(JSON.parse(message.data), Number(message.lastEventId));
}

async function start() {
  $("follow").addEventListener("change", (e) => {
    state.follow = e.target.checked;
    if (state.follow && state.runs.length) selectRun(state.runs[0].id).catch(console.error);
  });
  const listing = await getJSON("/api/runs?limit=30");
  state.runs = listing.runs;
  renderRuns();
  if (state.runs.length) await selectRun(state.runs[0].id);
  connect(listing.cursor);
  setInterval(() => {  // running steps: their time so far
    if (state.run && state.run.steps.some((s) => s.status === "running")) { renderSteps(); }
  }, 500);
}

start().catch((error) => { $("run-title").textContent = `cannot load: ${error.message}`; });
