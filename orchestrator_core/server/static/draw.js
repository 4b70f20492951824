// Drawing for the orch dashboard: the DAG (from the server's layout, the one the report's SVG uses),
// the timeline, the legend and the step panel. Text from the store is only ever set as textContent.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text = null, ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}
const svgEl = (tag, attrs = {}, text = null) => el(tag, attrs, text, SVG_NS);

// The core's orchestrator_core.durations.format_duration, line for line (a test checks they agree).
function formatDuration(ms) {
  if (typeof ms !== "number" || Number.isNaN(ms)) return "-";
  ms = Math.max(ms, 0);
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

const STATUS_LABELS = {ok: "ok", hit: "cache hit", error: "error", running: "running", pending: "pending",
                       not_run: "not run"};

function stepStatus(step) {
  if (step.status === "ok" && step.cache === "hit") return "hit";
  return step.status;
}

function statusLabel(status) { return STATUS_LABELS[status] || status; }

function startedMs(step) { return step.started ? Date.parse(step.started) : null; }

function stepDuration(step, now) {
  if (step.duration_ms != null) return step.duration_ms;
  if (step.status === "running" && step.started) return now - startedMs(step);
  return null;
}

function drawLegend(list) {
  list.replaceChildren();
  for (const status of Object.keys(STATUS_LABELS)) {
    const item = el("li", {"data-status": status});
    item.append(el("span", {class: "chip"}), document.createTextNode(statusLabel(status)));
    list.append(item);
  }
}

// -- the DAG ------------------------------------------------------------------------------
// The boxes and edge paths come from the server (orchestrator_core.display.dag); the view box
// is what zoom and pan change, and "fit" shows the whole graph in the width of the page.
const dagView = {box: null, full: null};

function drawDag(svg, layout, steps, selected, onSelect, now) {
  svg.replaceChildren();
  if (!layout) return;
  const defs = svgEl("defs");
  const marker = svgEl("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
                                  markerHeight: 7, orient: "auto-start-reverse"});
  marker.append(svgEl("path", {d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead"}));
  defs.append(marker);
  svg.append(defs);
  for (const edge of layout.edges) {
    svg.append(svgEl("path", {class: "edge", d: edge.d, "data-from": edge.from, "data-to": edge.to,
                              "marker-end": "url(#arrow)"}));
  }
  const height = layout.box_height;
  for (const step of steps) {
    const box = layout.boxes[step.step];
    if (!box) continue;
    const status = stepStatus(step);
    const group = svgEl("g", {class: "node", "data-step": step.step, "data-status": status, tabindex: 0});
    if (step.step === selected) group.classList.add("selected");
    group.append(svgEl("rect", {x: box.x, y: box.y, width: box.width, height, rx: 7}));
    const cx = box.x + box.width / 2;
    group.append(svgEl("text", {x: cx, y: box.y + 18, class: "name"}, step.step));
    const took = stepDuration(step, now);
    const details = [statusLabel(status), step.executor, took != null ? formatDuration(took) : null]
      .filter(Boolean).join(" · ");
    group.append(svgEl("text", {x: cx, y: box.y + 34, class: "details"}, details));
    group.append(svgEl("title", {}, `${step.step}: ${details}`));
    group.addEventListener("click", () => onSelect(step.step));
    group.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(step.step); });
    svg.append(group);
  }
  const full = {x: 0, y: 0, w: layout.width, h: layout.height};
  const sameGraph = dagView.full && dagView.full.w === full.w && dagView.full.h === full.h;
  dagView.full = full;
  if (!sameGraph || !dagView.box) dagView.box = {...full};
  fitDagHeight(svg);
  applyView(svg);
}

// The drawing's height: the graph at the page's width, but never taller than most of the window,
// so the whole DAG is in sight at once; a wide graph gets smaller, not clipped.
function fitDagHeight(svg) {
  const full = dagView.full;
  const width = svg.parentElement.clientWidth;
  const natural = width * full.h / full.w;
  const height = Math.max(140, Math.min(natural, full.h * 1.2, window.innerHeight * 0.62));
  svg.setAttribute("height", Math.round(height));
  svg.setAttribute("width", "100%");
}

function applyView(svg) {
  const b = dagView.box;
  svg.setAttribute("viewBox", `${b.x} ${b.y} ${b.w} ${b.h}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
}

function zoomDag(svg, factor, cx = null, cy = null) {
  const b = dagView.box;
  if (!b) return;
  cx = cx ?? b.x + b.w / 2;
  cy = cy ?? b.y + b.h / 2;
  const w = Math.min(Math.max(b.w * factor, 40), dagView.full.w * 4);
  const h = b.h * w / b.w;
  dagView.box = {x: cx - (cx - b.x) * w / b.w, y: cy - (cy - b.y) * h / b.h, w, h};
  applyView(svg);
}

function fitDag(svg) {
  if (!dagView.full) return;
  dagView.box = {...dagView.full};
  fitDagHeight(svg);
  applyView(svg);
}

function enableZoomAndPan(svg) {
  let drag = null;
  const toGraph = (event) => {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return point;
  };
  svg.addEventListener("wheel", (event) => {
    if (!event.ctrlKey && !event.metaKey && !event.altKey) return;  // a plain wheel scrolls the page
    event.preventDefault();
    const p = toGraph(event);
    zoomDag(svg, event.deltaY > 0 ? 1.2 : 1 / 1.2, p.x, p.y);
  }, {passive: false});
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest(".node")) return;
    drag = {start: toGraph(event), box: {...dagView.box}};
    svg.setPointerCapture(event.pointerId);
    svg.classList.add("panning");
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const p = toGraph(event);
    dagView.box.x -= p.x - drag.start.x;
    dagView.box.y -= p.y - drag.start.y;
    applyView(svg);
  });
  const stop = () => { drag = null; svg.classList.remove("panning"); };
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);
}

// -- the timeline -------------------------------------------------------------------------
// One row per step in plan order; a bar from when it started to when it finished (or now, while it
// runs). Steps that ran at the same time have bars over the same stretch of the axis.
const TIMELINE = {row: 20, bar: 12, labelCharPx: 6.7, labelMax: 220, axis: 22, pad: 8, right: 28};

function labelWidth(names) {  // timeline_drawing.label_width
  return Math.min(TIMELINE.labelMax, Math.max(60, Math.max(0, ...names.map((n) => n.length)) * TIMELINE.labelCharPx + 12));
}

function niceStep(span) {
  const rough = span / 6;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) || power * 10;
}

function drawTimeline(svg, run, steps, now, selected, onSelect) {
  svg.replaceChildren();
  const width = Math.max(svg.parentElement.clientWidth, 300);
  const t0 = run.started * 1000;
  const end = run.finished ? run.finished * 1000 : now;
  const span = Math.max(end - t0, 1);
  const label = labelWidth(steps.map((s) => s.step));
  const chart = width - label - TIMELINE.pad - TIMELINE.right;  // room on the right for the last tick's label
  const x = (t) => label + TIMELINE.pad + (t - t0) / span * chart;
  const height = TIMELINE.axis + steps.length * TIMELINE.row + TIMELINE.pad;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const tick = niceStep(span);
  for (let t = 0; t <= span + 1e-9; t += tick) {
    const px = x(t0 + t);
    svg.append(svgEl("line", {class: "tick", x1: px, x2: px, y1: TIMELINE.axis - 4, y2: height}));
    svg.append(svgEl("text", {class: "tick-label", x: px, y: TIMELINE.axis - 8}, t ? formatDuration(t) : "0"));
  }
  steps.forEach((step, i) => {
    const y = TIMELINE.axis + i * TIMELINE.row;
    const row = svgEl("g", {class: "row", "data-step": step.step, "data-status": stepStatus(step)});
    if (step.step === selected) row.classList.add("selected");
    row.append(svgEl("text", {class: "label", x: label - 4, y: y + TIMELINE.row / 2}, step.step));
    const start = startedMs(step);
    if (start != null) {
      const finish = step.finished ? step.finished * 1000 : (step.status === "running" ? now : start);
      const x1 = x(start), x2 = Math.max(x(finish), x1 + 2);
      const bar = svgEl("rect", {class: "bar", x: x1, y: y + (TIMELINE.row - TIMELINE.bar) / 2,
                                 width: x2 - x1, height: TIMELINE.bar, rx: 3,
                                 "data-start": start, "data-end": finish});
      bar.append(svgEl("title", {}, `${step.step}: ${formatDuration(finish - start)}, from ` +
                                   `+${formatDuration(start - t0)}`));
      row.append(bar);
    }
    row.addEventListener("click", () => onSelect(step.step));
    svg.append(row);
  });
}

// -- values and the step panel ------------------------------------------------------------
const SHORT = 120;

// A value in one line, cut at SHORT characters; the whole of it (pretty) one click away.
function valueView(value) {
  const text = JSON.stringify(value);
  if (text === undefined) return el("code", {}, "undefined");
  if (text.length <= SHORT) return el("code", {class: "value"}, text);
  const box = el("details", {class: "value"});
  box.append(el("summary", {}, text.slice(0, SHORT - 1) + "…"));
  const full = JSON.stringify(value, null, 2);
  box.append(el("pre", {}, full.length > 200000 ? full.slice(0, 200000) + "\n… (cut at 200 000 characters)" : full));
  return box;
}

function whoWrote(entry) {
  if (entry.who === "_runner") return "the runner";
  if (entry.who === "initial") return "the run's initial context";
  if (entry.step && entry.who === entry.step) return `step ${entry.step}`;
  if (entry.step) return `${entry.who} (in step ${entry.step})`;
  return `${entry.who} (through the API)`;
}

function field(list, name, content) {
  list.append(el("dt", {}, name));
  const dd = el("dd");
  dd.append(typeof content === "string" ? document.createTextNode(content) : content);
  list.append(dd);
}

function drawStepPanel(panel, doc, now, onClose) {
  panel.replaceChildren();
  const step = doc.step;
  const status = stepStatus(step);
  const head = el("div", {class: "panel-head"});
  const badge = el("span", {class: "badge", "data-status": status}, statusLabel(status));
  head.append(el("h2", {}, `Step ${step.step}`), badge);
  const close = el("button", {class: "close", title: "close"}, "×");
  close.addEventListener("click", onClose);
  head.append(close);
  panel.append(head);
  const list = el("dl");
  const error = step.error || null;
  if (error) {
    const details = {...(error.details || {})};
    const hint = error.hint || details.hint;
    const stderr = details.stderr_tail;
    delete details.hint;
    delete details.stderr_tail;
    field(list, "reason", el("strong", {class: "reason"}, error.reason || "(no reason given)"));
    if (hint) field(list, "hint", el("span", {class: "hint"}, hint));
    if (Object.keys(details).length) field(list, "details", el("pre", {class: "details"}, JSON.stringify(details, null, 2)));
    if (stderr) field(list, "last stderr lines", el("pre", {class: "stderr"}, Array.isArray(stderr) ? stderr.join("\n") : String(stderr)));
    if (error.exit_code != null) field(list, "exit code", String(error.exit_code));
  }
  const took = stepDuration(step, now);
  const timing = [step.started ? `started ${step.started.replace("T", " ").replace("Z", " UTC")}` : "not started",
                  took != null ? `took ${formatDuration(took)}` : null,
                  step.cpu_ms != null ? `CPU ${formatDuration(step.cpu_ms)}` : null,
                  step.peak_rss_kb ? `peak memory ${(step.peak_rss_kb / 1024).toFixed(1)} MiB` : null];
  field(list, "timing", timing.filter(Boolean).join(", "));
  field(list, "executor", step.executor || "-");
  field(list, "attempts", step.attempts != null ? String(step.attempts) : "-");
  field(list, "cache", {hit: "hit: the result came from the cache", miss: "miss: it ran, and its result was cached"}[step.cache]
                       || "not cached");
  field(list, "depends on", (doc.depends_on || []).join(", ") || "nothing");
  field(list, "params", doc.params == null ? "(the recipe file cannot be read)" : valueView(doc.params));
  const written = el("div", {class: "writes"});
  for (const write of doc.writes) {
    const row = el("div");
    row.append(el("code", {class: "key"}, write.key), document.createTextNode(" = "), valueView(write.value));
    written.append(row);
  }
  field(list, "keys written", doc.writes.length ? written : "none");
  panel.append(list);
}
