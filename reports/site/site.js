// The page over window.SIDEBYSIDE (data.js, written by `sidebyside site`): plotly draws the
// charts; this file only filters the series and builds the tables.
"use strict";

const D = window.SIDEBYSIDE;
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
const TINTS = ["#cfe2f3", "#fde2c8", "#d4efd4", "#f6d0d0", "#e3d7ef"];
const MAX_TRACES = 40;
const filters = {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  children.forEach((c) => node.append(c));
  return node;
}

function sorted(values) {
  return [...new Set(values)].sort((a, b) =>
    typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)));
}

function fill(select, values, chosen) {
  select.replaceChildren(...values.map((v) => el("option", { value: String(v) }, String(v))));
  if (chosen !== undefined && values.map(String).includes(String(chosen))) select.value = String(chosen);
}

function ms(value) { return value === null ? "" : value.toFixed(value < 1 ? 3 : 2); }

// ---- the latest run of each machine at each framework's best
function drawOverview() {
  const machine = document.getElementById("ov-machine").value;
  const overview = D.overview[machine];
  const precisions = sorted(overview.rows.map((r) => r.precision));
  const precisionSelect = document.getElementById("ov-precision");
  fill(precisionSelect, precisions, precisionSelect.value || "fp32");
  const precision = precisionSelect.value;
  document.getElementById("ov-about").textContent =
    `${machine}: ${D.features[machine]}. Run ${overview.file} from ${overview.date}.`;
  const box = document.getElementById("ov-table");
  if (overview.why) {
    box.replaceChildren(el("p", { class: "warning" }, `No verdicts for this run: ${overview.why}.`));
  } else {
    const head = el("tr", {}, ...["model", "phase", "batch", "device", ...D.frameworks.map((f) => `${f} best`),
      "fastest", "speed-up", "95% CI", "verdict"].map((h) => el("th", {}, h)));
    const rows = overview.rows.filter((r) => r.precision === precision).map((r) => {
      const cells = D.frameworks.map((f) => el("td", {},
        r.cells[f] ? `${r.cells[f].config}: ${ms(r.cells[f].ms)} ms` : "not measured"));
      const winner = D.frameworks.indexOf(r.verdict.replace(" fastest", ""));
      const verdict = el("td", { class: "verdict" }, r.verdict);
      if (winner >= 0) verdict.style.background = TINTS[winner % TINTS.length];
      const row = el("tr", { class: r.verdict === "no significant difference" ? "same" : "" },
        el("td", {}, r.model), el("td", {}, r.phase), el("td", { class: "num" }, String(r.batch)),
        el("td", {}, r.device), ...cells, el("td", {}, r.fastest),
        el("td", { class: "num" }, r.speedup === null ? "-" : `${r.speedup.toFixed(2)}x`),
        el("td", {}, r.low === null ? "-" : `[${r.low.toFixed(2)}, ${r.high.toFixed(2)}]`), verdict);
      return row;
    });
    box.replaceChildren(el("table", { id: "overview-table" }, head, ...rows));
  }
  drawChanges(machine);
}

function drawChanges(machine) {
  const last = D.runs.reduce((found, run, i) => (run.machine === machine ? i : found), -1);
  const changed = D.series.filter((s) => s.machine === machine && s.run.includes(last))
    .map((s) => ({ name: s.name, mark: s.mark[s.run.indexOf(last)] })).filter((c) => c.mark);
  const box = document.getElementById("ov-changes");
  if (!changed.length) {
    box.replaceChildren(el("p", {}, "No benchmark of this machine's latest run was judged slower or faster than the run before it (or it is the machine's first run)."));
    return;
  }
  box.replaceChildren(el("ul", {}, ...changed.map((c) =>
    el("li", {}, `${c.mark === "+" ? "slower" : "faster"}: ${c.name}`))));
}

// ---- one series per benchmark
function matching() {
  return D.series.filter((s) => D.axes.every((a) => !filters[a] || String(s[a]) === filters[a]));
}

function label(series, varying) {
  return varying.map((a) => (a === "batch" ? `b${series[a]}` : series[a])).join(" ") || series.name;
}

function hover(series, k, name) {
  const run = D.runs[series.run[k]];
  const low = series.low[k], high = series.high[k];
  const interval = low === null ? "no interval (one pass)" : `95% CI [${ms(low * 1e3)}, ${ms(high * 1e3)}] ms`;
  const mark = series.mark[k] === "+" ? "<br><b>slower than the run before</b>"
    : series.mark[k] === "-" ? "<br><b>faster than the run before</b>" : "";
  return `${name}<br>${ms(series.y[k] * 1e3)} ms, ${interval}${mark}<br>${run.date}, commit ${run.commit}` +
    `, ${run.passes} passes<br>${run.versions}`;
}

function drawHistory() {
  const chosen = matching();
  const shown = chosen.slice(0, MAX_TRACES);
  const varying = D.axes.filter((a) => new Set(chosen.map((s) => s[a])).size > 1);
  document.getElementById("count").textContent = `${chosen.length} benchmarks match` +
    (chosen.length > MAX_TRACES ? `; the first ${MAX_TRACES} are drawn (narrow the selection)` : "");
  const traces = shown.map((s, i) => {
    const name = label(s, varying);
    const color = PALETTE[i % PALETTE.length];
    return {
      type: "scatter", mode: "lines+markers", name,
      x: s.run.map((r) => D.runs[r].date.replace("T", " ")),
      y: s.y.map((v) => v * 1e3),
      error_y: { type: "data", symmetric: false, color, thickness: 1,
                 array: s.high.map((h, k) => (h === null ? 0 : (h - s.y[k]) * 1e3)),
                 arrayminus: s.low.map((l, k) => (l === null ? 0 : (s.y[k] - l) * 1e3)) },
      line: { color, width: 1.5 },
      marker: { color, size: s.mark.map((m) => (m ? 13 : 6)),
                symbol: s.mark.map((m) => (m === "+" ? "triangle-up" : m === "-" ? "triangle-down" : "circle")) },
      text: s.run.map((_, k) => hover(s, k, name)),
      hovertemplate: "%{text}<extra></extra>",
    };
  });
  const layout = {
    margin: { t: 30, r: 10 }, hovermode: "closest",
    xaxis: { title: { text: "run date" } },
    yaxis: { title: { text: "time per call (ms)" },
             type: document.getElementById("log-scale").checked ? "log" : "linear" },
    legend: { orientation: "h", y: -0.2 },
  };
  Plotly.react("chart", traces, layout, { displaylogo: false, responsive: true });
}

function newestMachine() { return D.runs[D.runs.length - 1].machine; }

function buildSelectors() {
  const box = document.getElementById("selectors");
  const defaults = { phase: "train", batch: "64", precision: "fp32", layout: "default", device: "cpu" };
  D.axes.forEach((axis) => {
    const values = sorted(D.series.map((s) => s[axis]).filter((v) => v !== null && v !== undefined));
    const select = el("select", { id: `sel-${axis}` });
    fill(select, ["all", ...values]);
    const preset = axis === "model" ? values[0] : axis === "machine" ? newestMachine() : defaults[axis];
    if (preset !== undefined && values.map(String).includes(String(preset))) select.value = String(preset);
    filters[axis] = select.value === "all" ? "" : select.value;
    select.addEventListener("change", () => {
      filters[axis] = select.value === "all" ? "" : select.value;
      drawHistory();
    });
    box.append(el("label", {}, `${axis} `, select));
  });
  document.getElementById("log-scale").addEventListener("change", (e) =>
    Plotly.relayout("chart", { "yaxis.type": e.target.checked ? "log" : "linear" }));
}

function drawRuns() {
  const head = el("tr", {}, ...["#", "date", "machine", "commit", "passes", "quick", "threads",
    "versions", "file"].map((h) => el("th", {}, h)));
  const rows = D.runs.map((r, i) => {
    const commit = r.url ? el("a", { href: r.url }, r.commit) : r.commit;
    return el("tr", {}, el("td", {}, String(i + 1)), el("td", {}, r.date), el("td", {}, r.machine),
      el("td", {}, commit), el("td", { class: "num" }, String(r.passes)), el("td", {}, String(r.quick)),
      el("td", {}, String(r.threads ?? "all cores")), el("td", {}, r.versions), el("td", {}, r.file));
  });
  document.getElementById("run-table").replaceChildren(el("table", {}, head, ...rows));
}

function main() {
  document.getElementById("generated").textContent =
    `Built ${D.generated} from ${D.runs.length} runs.`;
  document.getElementById("threshold").textContent = `${Math.round(D.threshold * 100)}%`;
  if (D.report) {
    document.getElementById("report-link").replaceChildren(" · ", el("a", { href: "report.html" }, "Latest report"));
  }
  if (D.skipped.length) {
    const box = document.getElementById("skipped");
    box.hidden = false;
    box.append(el("p", {}, "History files skipped:"), el("ul", {}, ...D.skipped.map((s) => el("li", {}, s))));
  }
  if (!D.runs.length) {
    document.getElementById("empty").hidden = false;
    document.getElementById("content").hidden = true;
    return;
  }
  const machines = Object.keys(D.overview);
  const machineSelect = document.getElementById("ov-machine");
  fill(machineSelect, machines, newestMachine());
  machineSelect.addEventListener("change", drawOverview);
  document.getElementById("ov-precision").addEventListener("change", drawOverview);
  drawOverview();
  buildSelectors();
  drawHistory();
  drawRuns();
}

main();
