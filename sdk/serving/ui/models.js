// One card per served model: what it takes and gives, its privacy floor and signature, a form to try it, its answer
// and, on request, its explanation.

import { api, base64, describe, modelPath } from "./api.js";
import { append, clear, el, plural, uid } from "./dom.js";
import { renderAnswer, renderExplanation } from "./answers.js";

const SIGNATURES = {
  verified: ["ok", "signed, verified"],
  signed: ["", "signed (not checked: no trusted keys)"],
  unsigned: ["warn", "unsigned"],
};

export function modelCard(model) {
  const name = String(model.name ?? "");
  const titleId = uid("model");
  const card = el("article", { class: "card model", "aria-labelledby": titleId, "data-model": name });
  if (model.error) {
    const error = model.error;
    return append(card, [
      el("header", {}, el("h3", { id: titleId, text: name }), el("span", { class: "badge bad", text: "not loaded" })),
      el("p", { class: "error", text: `${error.status ?? ""} ${error.message ?? ""}`.trim() }),
    ]);
  }
  const state = { name, version: String(model.version ?? ""), meta: model };
  const signature = model.signature || {};
  const [tone, words] = SIGNATURES[signature.status] || ["", `signature ${signature.status || "unknown"}`];
  const badges = el("span", { class: "badges" });
  const header = el("header", {}, el("h3", { id: titleId, text: name }), badges);
  const body = el("div");
  append(card, [header, body]);

  const draw = () => {
    const meta = state.meta;
    const privacy = String(meta.privacy_floor ?? "unknown");
    clear(badges).append(
      el("span", { class: `badge ${privacy === "public" ? "" : "warn"}`, text: `privacy floor: ${privacy}` }),
      state.version === String(model.version) // /v2/models lists the signature of the default version only
        ? el("span", { class: `badge ${tone}`, text: `v${state.version} ${words}` })
        : el("span", { class: "badge", text: `v${state.version} (signature not listed)` }),
      el("span", { class: "badge", text: `input: ${kindOf(meta) || "tensors"}` }),
      el("span", { class: `badge ${model.explain ? "ok" : ""}`, text: model.explain ? "explain on" : "explain off" }),
    );
    clear(body).append(...contents(state, model));
  };
  state.redraw = draw;
  draw();
  return card;
}

function kindOf(meta) {
  if (typeof meta.raw_input === "string") return meta.raw_input;
  const wire = wireOf(meta);
  return wire ? String(wire.kind ?? wire.name ?? "") : "";
}

function wireOf(meta) {
  if (meta.wire_input && typeof meta.wire_input === "object") return meta.wire_input;
  const raw = meta.parameters && meta.parameters.raw_input; // a version's OIP metadata
  return raw && typeof raw === "object" ? raw : null;
}

function contents(state, model) {
  const meta = state.meta;
  const parts = [];
  const versions = (Array.isArray(model.versions) ? model.versions : [state.version]).map(String);
  if (versions.length > 1) {
    const id = uid("version");
    const select = el("select", { id }, ...versions.map((v) => el("option", { value: v, text: v })));
    select.value = state.version;
    select.addEventListener("change", () => switchVersion(state, select.value));
    parts.push(el("div", { class: "field" }, el("label", { for: id, text: "Version" }), select));
  }
  if (Array.isArray(meta.labels) && meta.labels.length) {
    const shown = meta.labels.slice(0, 20).map(String).join(", ");
    parts.push(el("p", { class: "muted small", text: `Classes: ${shown}${meta.labels.length > 20 ? ", ..." : ""}` }));
  }
  parts.push(el("details", {}, el("summary", { text: "Inputs and outputs" }),
    el("div", { class: "scroll" }, table("Inputs", meta.inputs), table("Outputs", meta.outputs))));
  parts.push(tryForm(state, model));
  return parts;
}

function table(caption, specs) {
  const rows = (Array.isArray(specs) ? specs : []).map((s) =>
    el("tr", {}, el("td", { class: "mono", text: s.name }), el("td", { text: s.datatype }),
      el("td", { class: "mono", text: `[${(s.shape || []).join(", ")}]` })));
  return el("table", {}, el("caption", { class: "muted small", text: caption }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "name" }), el("th", { scope: "col", text: "datatype" }),
      el("th", { scope: "col", text: "shape (-1: any)" }))), el("tbody", {}, ...rows));
}

async function switchVersion(state, version) {
  try {
    const meta = await api(modelPath(state.name, version));
    state.version = version;
    const parameters = meta.parameters || {};
    state.meta = { ...meta, privacy_floor: parameters.privacy_floor, labels: state.meta.labels, raw_input: state.meta.raw_input };
    state.redraw();
  } catch (exc) {
    state.redraw(); // back to the version it was on, saying why
    state.error.replaceChildren(el("p", { class: "error", text: `Version ${version}: ${describe(exc)}` }));
  }
}

function tryForm(state, model) {
  const meta = state.meta;
  const wire = wireOf(meta);
  const kind = wire ? String(wire.kind ?? wire.name) : "";
  const form = el("form", { class: "try", novalidate: true });
  const read = fields(form, kind, wire, meta);
  const method = el("select", { id: uid("method") },
    ...["auto", "occlusion", "kernel_shap", ...(kind === "image" ? ["rise"] : [])].map((m) =>
      el("option", { value: m, text: m })));
  const run = el("button", { type: "submit", text: "Run" });
  const explain = el("button", { type: "button", class: "secondary", text: "Explain" });
  const canExplain = Boolean(model.explain) && Boolean(kindOf(meta));
  if (!canExplain) {
    explain.disabled = true;
    explain.title = model.explain ? "needs an input processor (image, text or series) in the manifest" : "explain is off";
  }
  const answer = el("div", { class: "answer", "aria-live": "polite" });
  const explanation = el("div", { class: "explanation", "aria-live": "polite" });
  state.error = answer;
  form.append(
    el("div", { class: "actions" }, run, explain, el("label", { for: method.id, text: "Method" }), method),
    answer,
    explanation,
  );
  const call = async (what) => {
    let inputs;
    try {
      inputs = await read();
    } catch (exc) {
      answer.replaceChildren(el("p", { class: "error", text: String(exc.message || exc) }));
      return;
    }
    const target = what === "infer" ? answer : explanation;
    const body = { inputs };
    if (what === "explain" && method.value !== "auto") body.parameters = { method: method.value };
    run.disabled = explain.disabled = true;
    form.setAttribute("aria-busy", "true");
    target.replaceChildren(el("p", { class: "muted", text: what === "infer" ? "Running..." : "Explaining..." }));
    const started = performance.now();
    try {
      const doc = await api(`${modelPath(state.name, state.version)}/${what}`, { method: "POST", body });
      const ms = performance.now() - started;
      target.replaceChildren(what === "infer" ? renderAnswer(doc, ms) : renderExplanation(doc, ms));
    } catch (exc) {
      target.replaceChildren(el("p", { class: "error", text: describe(exc) }));
    } finally {
      run.disabled = false;
      explain.disabled = !canExplain;
      form.removeAttribute("aria-busy");
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    call("infer");
  });
  explain.addEventListener("click", () => call("explain"));
  return form;
}

// The form's fields for the model's raw input (a PNG, a text) or its tensors; returns what reads them as OIP inputs.
function fields(form, kind, wire, meta) {
  if (kind === "image") {
    const id = uid("image");
    const file = el("input", { id, type: "file", accept: "image/png,image/jpeg" });
    const preview = el("canvas", { class: "pixels preview", role: "img", "aria-label": "the chosen image" });
    preview.hidden = true;
    file.addEventListener("change", () => showPreview(file, preview));
    form.append(el("div", { class: "field" }, el("label", { for: id, text: "Image (PNG or JPEG)" }), file), preview);
    return async () => {
      if (!file.files.length) throw new Error("Choose a PNG or JPEG file first.");
      const bytes = new Uint8Array(await file.files[0].arrayBuffer());
      return [{ name: wire.name, datatype: "BYTES", shape: [1], data: [base64(bytes)] }];
    };
  }
  if (kind === "text") {
    const id = uid("text");
    const text = el("textarea", { id, rows: 3, spellcheck: "false" });
    form.append(el("div", { class: "field" }, el("label", { for: id, text: "Text" }), text));
    return async () => {
      if (!text.value.trim()) throw new Error("Type some text first.");
      return [{ name: wire.name, datatype: "BYTES", shape: [1], data: [text.value] }];
    };
  }
  const specs = Array.isArray(meta.inputs) ? meta.inputs : [];
  const areas = specs.map((spec) => {
    const id = uid("tensor");
    const area = el("textarea", { id, class: "tensor", rows: 3, spellcheck: "false" });
    area.value = template(spec);
    form.append(el("div", { class: "field" },
      el("label", { for: id, text: `${spec.name} (${spec.datatype}, shape [${(spec.shape || []).join(", ")}]) as JSON` }),
      area));
    return [spec, area];
  });
  form.append(el("p", { class: "muted small", text: `A JSON list per input, nested like its shape; the batch dimension `
    + `may be left out for one item (${plural(specs.length, "input")}).` }));
  return async () => areas.map(([spec, area]) => tensorInput(spec, area.value));
}

async function showPreview(file, canvas) {
  canvas.hidden = true;
  if (!file.files.length) return;
  try {
    const bitmap = await createImageBitmap(file.files[0]);
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    canvas.hidden = false;
  } catch {
    // not an image the browser reads: the server will say what is wrong with it
  }
}

function shapeOf(value) {
  const shape = [];
  for (let probe = value; Array.isArray(probe); probe = probe[0]) shape.push(probe.length);
  return shape;
}

// A tensor's zeros, nested like its shape (dimensions of any size as 3), when small enough to edit by hand.
export function template(spec) {
  const declared = Array.isArray(spec.shape) ? spec.shape : [];
  const rest = (declared[0] === -1 ? declared.slice(1) : declared).map((d) => (d === -1 ? 3 : d));
  if (rest.reduce((a, b) => a * b, 1) > 256) return "";
  const zero = spec.datatype === "BOOL" ? false : spec.datatype === "BYTES" ? "" : 0;
  const build = (dims) => (dims.length ? Array.from({ length: dims[0] }, () => build(dims.slice(1))) : zero);
  return JSON.stringify(build(rest));
}

// One OIP input from the JSON typed for it: nested like its shape, or one item without the batch dimension, or a
// flat list when the shape leaves one way to fill it.
export function tensorInput(spec, text) {
  const declared = Array.isArray(spec.shape) ? spec.shape : [];
  let value;
  try {
    value = JSON.parse(text);
  } catch (exc) {
    throw new Error(`Input '${spec.name}' is not JSON: ${exc.message}`);
  }
  const data = Array.isArray(value) ? value.flat(Infinity) : [value];
  let shape = shapeOf(value);
  if (shape.length === declared.length - 1 && declared[0] === -1) shape = [1, ...shape];
  else if (shape.length === 1 && declared.length > 1) {
    shape = [...declared]; // one dimension of any size takes what the values leave; with more, the batch is 1
    if (shape[0] === -1 && shape.filter((d) => d === -1).length > 1) shape[0] = 1;
    const open = shape.filter((d) => d === -1).length;
    const fixed = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (open > 1 || data.length % fixed) {
      throw new Error(`Input '${spec.name}': ${data.length} values do not fill shape [${declared.join(", ")}]; nest them`);
    }
    if (open) shape[shape.indexOf(-1)] = data.length / fixed;
  } else if (shape.length !== declared.length) {
    throw new Error(`Input '${spec.name}' has ${declared.length} dimensions [${declared.join(", ")}]; the JSON has ${shape.length}`);
  }
  if (shape.reduce((a, b) => a * b, 1) !== data.length) {
    throw new Error(`Input '${spec.name}': the nested lists are ragged (${data.length} values, shape [${shape.join(", ")}])`);
  }
  return { name: spec.name, datatype: spec.datatype, shape, data };
}
