// The orch dashboard: runs, one run (its DAG, timeline, steps and latest context keys) and one step.
// It reads the JSON API once, then follows the Server-Sent Events stream (/api/events), so it
// updates without reloading. Each run and step has its own address (/runs/ID, /runs/ID/steps/NAME)
// that can be pasted. Drawing lives in draw.js.
"use strict";

const state = {
  runs: [],          // newest first, from /api/runs
  runId: null,       // the run shown
  run: null,         // /api/runs/ID: {run, steps, depends_on, layout}
  context: null,     // /api/runs/ID/context
  stepName: null,    // the step whose panel is open
  stepDoc: null,     // /api/runs/ID/steps/NAME
  follow: true,      // switch to each new run as it starts
  contextTimer: null,
  stepTimer: null,
  loading: null,     // events of the run being loaded, applied once it is: [id, record]
};

const $ = (id) => document.getElementById(id);

// A number JavaScript would show as another value (an integer past 2**53, -0.0, 1.0) is kept as
// the text the server sent (JSON.rawJSON), so a context value is shown as it is stored. Only for
// values that are shown, never computed with: a raw number is not a number.
function exactNumbers(key, value, context) {
  if (typeof value === "number" && JSON.rawJSON && context && typeof context.source === "string"
      && context.source !== String(value)) {
    return JSON.rawJSON(context.source);
  }
  return value;
}

async function getJSON(url, {exact = false} = {}) {
  const response = await fetch(url, {headers: {Accept: "application/json"}});
  if (!response.ok) {  // the API explains its refusals: show that, not a status code
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.message || `${url}: ${response.status}`);
  }
  return exact ? JSON.parse(await response.text(), exactNumbers) : response.json();
}

const api = (...parts) => "/api/runs/" + parts.map(encodeURIComponent).join("/");

// -- addresses ----------------------------------------------------------------------------
function pathFor(runId, stepName) {
  if (!runId) return "/";
  return `/runs/${encodeURIComponent(runId)}` + (stepName ? `/steps/${encodeURIComponent(stepName)}` : "");
}

function go(runId, stepName) {
  const path = pathFor(runId, stepName);
  if (location.pathname !== path) history.pushState({}, "", path);
}

function routeOf(path) {
  const found = path.match(/^\/runs\/([^/]+)(?:\/steps\/([^/]+))?\/?$/);
  return found ? {runId: decodeURIComponent(found[1]), stepName: found[2] ? decodeURIComponent(found[2]) : null}
               : {runId: null, stepName: null};
}

// -- rendering ----------------------------------------------------------------------------
function when(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function renderRuns() {
  const list = $("runs");
  list.replaceChildren();
  for (const run of state.runs) {
    const item = el("li", {"data-run": run.id, title: run.id});
    if (run.id === state.runId) item.classList.add("selected");
    const link = el("a", {href: pathFor(run.id)});
    const top = el("span", {class: "run-top"});
    top.append(el("span", {class: "badge", "data-status": run.status}, run.status), el("b", {}, run.recipe));
    link.append(top, el("span", {class: "run-when"}, `${when(run.started)} · ${run.id.split("-").pop()}`));
    link.addEventListener("click", (event) => {
      event.preventDefault();
      state.follow = false;
      $("follow").checked = false;
      go(run.id, null);
      selectRun(run.id).catch(console.error);
    });
    item.append(link);
    list.append(item);
  }
}

function renderSummary(now) {
  const box = $("summary");
  box.replaceChildren();
  if (!state.run) return;
  const run = state.run.run;
  $("run-title").textContent = `${run.recipe} · run ${run.id}`;
  document.title = `${run.recipe} (${run.status}) · orch`;
  const counts = {};
  for (const step of state.run.steps) counts[stepStatus(step)] = (counts[stepStatus(step)] || 0) + 1;
  const running = run.status === "running";
  const took = running ? now - run.started * 1000 : run.duration_ms;
  const parts = [["status", run.status], ["started", when(run.started)],
                 [running ? "elapsed" : "duration", formatDuration(took)], ["steps", state.run.steps.length],
                 ...Object.entries(counts).map(([k, v]) => [statusLabel(k), v])];
  for (const [name, value] of parts) {
    const attrs = name === "status" ? {id: "run-status", "data-status": value}
      : (name === "elapsed" || name === "duration") ? {id: "run-elapsed"} : {};
    const span = el("span", attrs);
    span.append(el("b", {}, `${name}: `), document.createTextNode(String(value)));
    box.append(span);
  }
}

function renderSteps(now) {
  const body = $("steps").tBodies[0];
  body.replaceChildren();
  if (!state.run) return;
  for (const step of state.run.steps) {
    const status = stepStatus(step);
    const row = el("tr", {"data-step": step.step, "data-status": status});
    if (step.step === state.stepName) row.classList.add("selected");
    const badge = el("td");
    badge.append(el("span", {class: "badge"}, statusLabel(status)));
    const took = stepDuration(step, now);
    const name = el("td");
    name.append(el("a", {href: pathFor(state.runId, step.step)}, step.step));
    row.append(name, badge, el("td", {class: "duration"}, took == null ? "" : formatDuration(took) + (step.status === "running" ? "…" : "")),
               el("td", {}, step.executor || ""), el("td", {}, step.attempts != null ? String(step.attempts) : ""),
               el("td", {class: "error"}, step.error ? step.error.reason || "" : ""));
    row.addEventListener("click", (event) => { event.preventDefault(); selectStep(step.step); });
    body.append(row);
  }
}

function renderContext() {
  const body = $("context").tBodies[0];
  body.replaceChildren();
  if (!state.context) return;
  const entries = Object.entries(state.context.context)
    .sort((a, b) => String(b[1].ts || "").localeCompare(String(a[1].ts || "")));
  for (const [key, entry] of entries.slice(0, 200)) {
    const row = el("tr", {"data-key": key});
    const value = el("td", {class: "value"});
    value.append(valueView(entry.value));
    row.append(el("td", {class: "key"}, key), value, el("td", {}, whoWrote(entry)),
               el("td", {class: "when"}, (entry.ts || "").replace("T", " ").replace("Z", "")));
    body.append(row);
  }
}

function renderGraphs(now) {
  if (!state.run) return;
  drawDag($("dag"), state.run.layout, state.run.steps, state.stepName, selectStep, now);
  drawTimeline($("timeline"), state.run.run, state.run.steps, now, state.stepName, selectStep);
}

function renderPanel(now) {
  const panel = $("step-panel");
  if (!state.stepDoc || state.stepDoc.step.step !== state.stepName) { panel.hidden = true; return; }
  panel.hidden = false;
  drawStepPanel(panel, state.stepDoc, now, () => selectStep(null));
}

function renderRun() {
  const now = Date.now();
  renderSummary(now);
  renderGraphs(now);
  renderSteps(now);
  renderPanel(now);
}

// -- loading ------------------------------------------------------------------------------
async function loadRuns() {
  state.runs = (await getJSON("/api/runs?limit=30")).runs;
  renderRuns();
}

async function loadContext() {
  if (!state.runId) return;
  state.context = await getJSON(`${api(state.runId)}/context`, {exact: true});
  renderContext();
}

async function loadStep() {
  if (!state.runId || !state.stepName) { state.stepDoc = null; renderPanel(Date.now()); return; }
  const [runId, name] = [state.runId, state.stepName];
  const doc = await getJSON(`${api(runId)}/steps/${encodeURIComponent(name)}`);
  if (state.runId === runId && state.stepName === name) { state.stepDoc = doc; renderPanel(Date.now()); }
}

function soon(timer, load) {  // many events together: one reload
  clearTimeout(state[timer]);
  state[timer] = setTimeout(() => load().catch(console.error), 100);
}

function selectStep(name) {
  state.stepName = name;
  go(state.runId, name);
  renderRun();
  loadStep().then(() => { if (name) $("step-panel").scrollIntoView({block: "nearest"}); }).catch(console.error);
}

// Events that arrive while the run is being fetched are kept, and those the fetched
// document does not include yet (an id above its cursor) are applied to it.
async function selectRun(id, stepName = null) {
  const changed = id !== state.runId;
  state.runId = id;
  state.stepName = stepName;
  state.stepDoc = null;
  state.loading = [];
  let doc;
  try {
    doc = await getJSON(api(id));
  } finally {
    const missed = state.loading || [];
    state.loading = null;
    if (doc && state.runId === id) {
      state.run = doc;
      state.runId = doc.run.id;  // "latest" or a prefix becomes the id
      for (const [eventId, record] of missed) if (eventId > doc.cursor) applyStepEvent(record);
    }
  }
  if (changed) dagView.box = null;
  renderRuns();
  renderRun();
  await Promise.all([loadContext(), loadStep()]);
}

// -- live events --------------------------------------------------------------------------
function onEvent(record, eventId) {
  if (record.event === "run_start" || record.event === "run_finish") {
    loadRuns().then(() => {
      if (record.event === "run_start" && state.follow) { go(record.run, null); return selectRun(record.run); }
      if (record.run === state.runId) return selectRun(record.run, state.stepName);
    }).catch(console.error);
    return;
  }
  if (record.run !== state.runId) return;
  if (record.event === "context_write") { soon("contextTimer", loadContext); return; }
  if (state.loading) { state.loading.push([eventId, record]); return; }
  if (state.run) {
    applyStepEvent(record);
    renderRun();
    if (record.step === state.stepName) soon("stepTimer", loadStep);
  }
}

function applyStepEvent(record) {
  const step = state.run.steps.find((s) => s.step === record.step);
  if (!step) return;
  const finished = Date.parse(record.ts) / 1000;
  if (record.event === "step_start") {
    Object.assign(step, {status: "running", started: record.ts, duration_ms: null, error: null, finished: null});
  } else if (record.event === "step_finish") {
    Object.assign(step, {status: "ok", cache: record.cache, duration_ms: record.metrics.duration_ms, finished,
                         executor: record.executor, attempts: record.attempts});
    soon("contextTimer", loadContext);
  } else if (record.event === "step_error") {
    Object.assign(step, {status: "error", error: record.error, duration_ms: (record.metrics || {}).duration_ms,
                         finished, executor: record.executor, attempts: record.attempts});
  }
}

function connect(cursor) {
  const source = new EventSource(`/api/events?after=${cursor}`);
  source.onopen = () => { $("live").dataset.state = "live"; $("live").textContent = "live"; };
  source.onerror = () => { $("live").dataset.state = "lost"; $("live").textContent = "reconnecting"; };
  source.onmessage = (message) => onEvent(JSON.parse(message.data), Number(message.lastEventId));
}

async function openAddress() {
  const route = routeOf(location.pathname);
  if (route.runId) {
    state.follow = false;
    $("follow").checked = false;
    await selectRun(route.runId, route.stepName);
  } else if (state.runs.length) {
    await selectRun(state.runs[0].id);
  }
}

async function start() {
  drawLegend($("legend"));
  enableZoomAndPan($("dag"));
  $("zoom-in").addEventListener("click", () => zoomDag($("dag"), 1 / 1.3));
  $("zoom-out").addEventListener("click", () => zoomDag($("dag"), 1.3));
  $("zoom-fit").addEventListener("click", () => fitDag($("dag")));
  $("follow").addEventListener("change", (e) => {
    state.follow = e.target.checked;
    if (state.follow && state.runs.length) { go(state.runs[0].id, null); selectRun(state.runs[0].id).catch(console.error); }
  });
  window.addEventListener("popstate", () => openAddress().catch(console.error));
  let resized = null;
  window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(() => { fitDag($("dag")); renderRun(); }, 100); });
  const listing = await getJSON("/api/runs?limit=30");
  state.runs = listing.runs;
  renderRuns();
  await openAddress();
  connect(listing.cursor);
  setInterval(() => {  // while something runs: the time so far, the bars growing
    if (state.run && (state.run.run.status === "running" || state.run.steps.some((s) => s.status === "running"))) {
      renderRun();
    }
  }, 500);
}

start().catch((error) => { $("run-title").textContent = `cannot load: ${error.message}`; });
