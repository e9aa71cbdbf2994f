// What a model answered and why: a class label and score, the first values of an embedding or a forecast; the
// attributions drawn over what a person reads (a heatmap over the image, highlighted words, bars over the lags).

import { el, fmt, plural } from "./dom.js";
import { drawBars, drawHeatmap, strongest } from "./draw.js";

const SHOWN = 8; // values shown of a long output

export function renderAnswer(doc, ms) {
  const outputs = Array.isArray(doc.outputs) ? doc.outputs : [];
  const byName = Object.fromEntries(outputs.map((o) => [o.name, o]));
  const box = el("div", { class: "result" });
  const label = byName.label;
  if (label && Array.isArray(label.data) && label.data.length) {
    const k = Array.isArray(label.shape) && label.shape.length > 1 ? label.shape[1] : label.data.length;
    const scores = byName.score && Array.isArray(byName.score.data) ? byName.score.data : [];
    box.append(el("p", {}, el("span", { class: "label", text: label.data[0] }),
      scores.length ? el("span", { class: "score", text: `score ${fmt(scores[0], 4)}` }) : null));
    if (k > 1) {
      box.append(el("p", { class: "muted small", text: "Next: " + label.data.slice(1, k)
        .map((l, i) => (scores.length ? `${l} (${fmt(scores[i + 1], 3)})` : String(l))).join(", ") }));
    }
  }
  const rest = outputs.filter((o) => !(label && (o.name === "label" || o.name === "score")));
  if (rest.length) {
    box.append(el("dl", { class: "facts" }, ...rest.flatMap((o) => {
      const data = Array.isArray(o.data) ? o.data : [];
      const shown = data.slice(0, SHOWN).map((v) => fmt(v)).join(", ");
      return [el("dt", { class: "mono", text: o.name }),
        el("dd", { class: "values mono", text: `[${(o.shape || []).join(", ")}] ${shown}${data.length > SHOWN
          ? `, ... (${data.length} values)` : ""}` })];
    })));
  }
  const notes = doc.parameters && Array.isArray(doc.parameters.notes) ? doc.parameters.notes : [];
  for (const note of notes) box.append(el("p", { class: "muted small", text: `Note: ${note}` }));
  box.append(el("p", { class: "muted small", text: `${doc.model_name ?? ""} v${doc.model_version ?? "?"} answered in `
    + `${fmt(ms, 3)} ms (as this page measured it).` }));
  return box;
}

function explained(target) {
  if (!target || typeof target !== "object") return "the model's output";
  if (target.kind === "class") return `class ${target.label ?? target.index} (index ${target.index})`;
  if (target.kind === "similarity") {
    return target.to === "compare" ? "similarity to the compared input" : "similarity to its own embedding";
  }
  if (target.kind === "forecast") return `the forecast (${target.output ?? "output"})`;
  return String(target.kind ?? "the output");
}

function level(a, largest) {
  const step = Math.ceil((5 * Math.abs(a)) / largest);
  return a === 0 || !step ? "" : `${a > 0 ? "pos" : "neg"}-${Math.min(step, 5)}`;
}

function legend(target) {
  return el("p", { class: "legend" }, el("span", { class: "swatch pos-4" }), `pushes ${explained(target)} up`,
    el("span", { class: "swatch neg-4" }), "pushes it down");
}

function picture(item) {
  const units = Array.isArray(item.units) ? item.units.map(String) : [];
  const attributions = Array.isArray(item.attributions) ? item.attributions.map(Number) : [];
  const words = strongest(units, attributions);
  const kind = item.unit_kind;
  if ((kind === "pixel" || kind === "patch") && Array.isArray(item.grid)) {
    const canvas = el("canvas", { class: "pixels heatmap", role: "img",
      "aria-label": `Heatmap of ${plural(units.length, kind)} over the image; strongest: ${words || "none"}` });
    drawHeatmap(canvas, item.view, item.grid, attributions);
    return [canvas, legend(item.target)];
  }
  if (kind === "word") {
    let largest = 0;
    for (const a of attributions) largest = Math.max(largest, Math.abs(a));
    const line = el("p", { class: "words" }, ...units.map((u, i) => el("span", {
      class: `w ${level(attributions[i], largest || 1)}`, title: `${fmt(attributions[i], 3)}`, text: u })));
    return [line, legend(item.target)];
  }
  if (kind === "lag") {
    const canvas = el("canvas", { class: "bars", role: "img",
      "aria-label": `Bars of ${plural(units.length, "lag")}; strongest: ${words || "none"}` });
    drawBars(canvas, units, attributions, item.view);
    return [canvas, legend(item.target)];
  }
  return [el("p", { text: `Strongest units: ${words || "none"}` })];
}

export function renderExplanation(doc, ms) {
  const ex = doc.explanation || {};
  const box = el("div", { class: "result" });
  box.append(el("h4", { text: `Why (${ex.method ?? "?"})` }));
  if (ex.partial) box.append(el("p", { class: "badge warn", text: "partial: the deadline stopped it early" }));
  for (const item of Array.isArray(ex.items) ? ex.items : []) {
    const faith = item.faithfulness || {};
    const measured = typeof faith.deletion_auc === "number";
    box.append(el("div", { class: "figure" }, ...picture(item)));
    box.append(el("dl", { class: "facts" },
      el("dt", { text: "Explained" }), el("dd", { text: explained(item.target) }),
      el("dt", { text: "Value" }), el("dd", { text: `${fmt(item.value, 4)} (every unit removed: ${fmt(item.base_value, 4)})` }),
      el("dt", { text: "Faithfulness" }), el("dd", { class: "faithfulness", text: measured
        ? `deletion AUC ${fmt(faith.deletion_auc, 3)} (lower is better), insertion AUC ${fmt(faith.insertion_auc, 3)} `
          + "(higher is better)" : "not measured (the deadline cut it)" }),
      el("dt", { text: "Strongest" }), el("dd", { class: "mono", text: strongest(
        (item.units || []).map(String), (item.attributions || []).map(Number)) || "none" })));
  }
  box.append(el("p", { class: "muted small", text: `${plural(ex.evaluations ?? 0, "evaluation")} in `
    + `${plural(ex.calls ?? 0, "model call")}, ${fmt(ex.time_ms ?? 0, 3)} ms on the server (${fmt(ms, 3)} ms here); `
    + `seed ${ex.seed ?? 0}; ${ex.runtime ?? ""}` }));
  return box;
}
