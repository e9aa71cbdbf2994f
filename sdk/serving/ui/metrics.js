// Live metrics: GET /metrics (Prometheus text format) every few seconds, parsed here, drawn as small line charts.
// Counters become rates and histograms become quantiles over the interval between two polls.

import { api, describe } from "./api.js";
import { clear, el, fmt } from "./dom.js";
import { drawSpark } from "./draw.js";

const HISTORY = 60; // points kept per chart
const SERVING = new Set(["infer", "explain", "invocations"]); // the routes that run a model

// One sample per line: {name, labels, value}. Comments (# HELP, # TYPE) give the families' types.
export function parseMetrics(text) {
  const samples = [];
  const types = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith("#")) {
      const typed = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (typed) types[typed[1]] = typed[2];
      continue;
    }
    const sample = parseLine(line);
    if (sample) samples.push(sample);
  }
  return { samples, types };
}

function parseLine(line) {
  const named = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!named) return null;
  let i = named[0].length;
  const labels = {};
  if (line[i] === "{") {
    i += 1;
    for (;;) {
      while (line[i] === " " || line[i] === ",") i += 1;
      if (line[i] === "}") {
        i += 1;
        break;
      }
      const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (!key || line[i + key[0].length] !== "=" || line[i + key[0].length + 1] !== '"') return null;
      i += key[0].length + 2;
      let value = "";
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\" && i + 1 < line.length) {
          i += 1;
          value += line[i] === "n" ? "\n" : line[i];
        } else value += line[i];
        i += 1;
      }
      if (line[i] !== '"') return null;
      i += 1;
      labels[key[0]] = value;
    }
  }
  const fields = line.slice(i).trim().split(/\s+/);
  const value = parseValue(fields[0]);
  return value === null ? null : { name: named[0], labels, value };
}

function parseValue(text) {
  if (text === "+Inf" || text === "Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const value = Number(text);
  return text !== "" && !Number.isNaN(value) ? value : null;
}

function sum(samples, name, keep = () => true) {
  let total = 0;
  let seen = false;
  for (const s of samples) {
    if (s.name === name && keep(s.labels)) {
      total += s.value;
      seen = true;
    }
  }
  return seen ? total : null;
}

// Cumulative bucket counts of a histogram, summed over the label sets ``keep`` accepts: Map(le -> count).
function buckets(samples, family, keep) {
  const found = new Map();
  for (const s of samples) {
    if (s.name !== `${family}_bucket` || !keep(s.labels)) continue;
    const le = parseValue(s.labels.le);
    found.set(le, (found.get(le) || 0) + s.value);
  }
  return found.size ? found : null;
}

// Prometheus' histogram_quantile over the difference of two bucket maps (the interval between polls).
export function quantile(q, now, before) {
  if (!now) return null;
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => now.get(le) - ((before && before.get(le)) || 0));
  const total = counts[counts.length - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i += 1) {
    if (counts[i] >= rank) {
      if (bounds[i] === Infinity) return bounds[i - 1] ?? null;
      const lower = i ? bounds[i - 1] : 0;
      const below = i ? counts[i - 1] : 0;
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lower + ((bounds[i] - lower) * (rank - below)) / inBucket : bounds[i];
    }
  }
  return null;
}

function rate(now, before, seconds) {
  if (now === null || before === null || !(seconds > 0)) return null;
  return Math.max(0, now - before) / seconds; // a counter that went down was reset: no negative rate
}

// Each chart: a title, a unit, and how to read its values from two consecutive polls.
const CHARTS = [
  { id: "rps", title: "Requests /s", unit: "/s", lines: ["infer, explain"], read: (n, b, dt, keep) => [
    rate(sum(n.samples, "aiaas_requests_total", (l) => keep(l) && SERVING.has(l.route)),
         sum(b.samples, "aiaas_requests_total", (l) => keep(l) && SERVING.has(l.route)), dt)] },
  { id: "errors", title: "Errors /s (4xx, 5xx)", unit: "/s", lines: ["errors"], read: (n, b, dt, keep) => {
    const failed = (l) => keep(l) && SERVING.has(l.route) && Number(l.status) >= 400;
    return [rate(sum(n.samples, "aiaas_requests_total", failed), sum(b.samples, "aiaas_requests_total", failed), dt)];
  } },
  { id: "latency", title: "Latency (ms)", unit: "ms", lines: ["p50", "p95"], read: (n, b, dt, keep) => {
    const serving = (l) => keep(l) && SERVING.has(l.route);
    const now = buckets(n.samples, "aiaas_request_duration_seconds", serving);
    const before = buckets(b.samples, "aiaas_request_duration_seconds", serving);
    return [0.5, 0.95].map((q) => scaled(quantile(q, now, before), 1000));
  } },
  { id: "phases", title: "Queue / compute p95 (ms)", unit: "ms", lines: ["queue", "compute"], read: (n, b, dt, keep) =>
    ["aiaas_queue_duration_seconds", "aiaas_compute_duration_seconds"].map((family) =>
      scaled(quantile(0.95, buckets(n.samples, family, keep), buckets(b.samples, family, keep)), 1000)) },
  { id: "batch", title: "Batch size (mean rows)", unit: "rows", lines: ["rows"], read: (n, b, dt, keep) => {
    const rows = delta(sum(n.samples, "aiaas_batch_size_sum", keep), sum(b.samples, "aiaas_batch_size_sum", keep));
    const runs = delta(sum(n.samples, "aiaas_batch_size_count", keep), sum(b.samples, "aiaas_batch_size_count", keep));
    return [runs ? rows / runs : runs === 0 ? 0 : null];
  } },
  { id: "depth", title: "Queue depth", unit: "requests", lines: ["waiting"], read: (n, b, dt, keep) => [
    sum(n.samples, "aiaas_queue_depth", keep)] },
  { id: "rejected", title: "Rejections /s (503)", unit: "/s", lines: ["rejected"], read: (n, b, dt, keep) => [
    rate(sum(n.samples, "aiaas_rejections_total", keep), sum(b.samples, "aiaas_rejections_total", keep), dt)] },
  { id: "explained", title: "Explanations /s", unit: "/s", lines: ["explanations"], read: (n, b, dt, keep) => [
    rate(sum(n.samples, "aiaas_explanations_total", keep), sum(b.samples, "aiaas_explanations_total", keep), dt)] },
];

function scaled(value, factor) {
  return value === null ? null : value * factor;
}

function delta(now, before) {
  return now === null || before === null ? null : Math.max(0, now - before);
}

export class MetricsPanel {
  constructor(container, note, seconds) {
    this.container = container;
    this.note = note;
    this.seconds = seconds;
    this.model = "";
    this.timer = null;
    this.previous = null;
    this.charts = [];
    this.filter = el("select", { id: "metrics-model", onchange: () => this.reset(this.filter.value) });
    container.before(el("div", { class: "field filter" }, el("label", { for: "metrics-model", text: "Model" }), this.filter));
    clear(container).append(...CHARTS.map((spec) => this.chart(spec)));
    this.models([]);
    document.addEventListener("visibilitychange", () => (document.hidden ? this.stop() : this.start()));
  }

  chart(spec) {
    const value = el("output", { text: "-" });
    const canvas = el("canvas", { role: "img", "aria-label": `${spec.title}: no data yet` });
    const figure = el("figure", { class: "chart absent", "data-chart": spec.id },
      el("figcaption", {}, el("span", { text: spec.title }), value), canvas);
    this.charts.push({ spec, value, canvas, figure, history: spec.lines.map(() => []) });
    return figure;
  }

  models(names) {
    clear(this.filter).append(el("option", { value: "", text: "all models" }),
      ...names.map((name) => el("option", { value: name, text: name })));
    this.filter.value = names.includes(this.model) ? this.model : "";
  }

  reset(model) {
    this.model = model;
    for (const chart of this.charts) chart.history = chart.spec.lines.map(() => []);
    this.previous = null;
    this.poll();
  }

  start() {
    this.stop();
    this.poll();
    this.timer = setInterval(() => this.poll(), this.seconds * 1000);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async poll() {
    let text;
    try {
      text = await api("metrics", { text: true });
    } catch (exc) {
      this.note.textContent = exc.status === 404 ? "This server does not serve metrics (turned off)."
        : exc.status === 401 ? "The metrics need the access token." : `Metrics: ${describe(exc)}`;
      if (exc.status === 404) this.stop();
      return;
    }
    const now = { ...parseMetrics(text), at: performance.now() };
    const before = this.previous;
    this.previous = now;
    this.note.textContent = `Every ${this.seconds} s from /metrics; rates and quantiles over the last interval.`;
    if (!before) return;
    const seconds = (now.at - before.at) / 1000;
    const keep = this.model ? (labels) => labels.model === this.model : () => true;
    for (const chart of this.charts) this.update(chart, chart.spec.read(now, before, seconds, keep));
  }

  update(chart, values) {
    values.forEach((v, i) => {
      chart.history[i].push(v === undefined || Number.isNaN(v) ? null : v);
      if (chart.history[i].length > HISTORY) chart.history[i].shift();
    });
    const shown = values.map((v, i) => (v === null || v === undefined ? null : `${chart.spec.lines.length > 1
      ? `${chart.spec.lines[i]} ` : ""}${fmt(v, 3)}`)).filter(Boolean);
    const reported = shown.length > 0;
    chart.figure.classList.toggle("absent", !reported && chart.history.every((h) => h.every((v) => v === null)));
    chart.value.textContent = reported ? `${shown.join(" · ")} ${chart.spec.unit}` : "-";
    chart.canvas.setAttribute("aria-label", `${chart.spec.title}: ${reported ? chart.value.textContent : "no data"}`);
    drawSpark(chart.canvas, chart.history);
  }
}
