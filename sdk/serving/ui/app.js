// The page at /: this server's models (GET /v2/models), a form to try each, live metrics (GET /metrics).
// Plain ES modules, no build step; every request goes to the server that served the page.

import { api, describe, token } from "./api.js";
import { clear, plural } from "./dom.js";
import { MetricsPanel } from "./metrics.js";
import { modelCard } from "./models.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const params = new URLSearchParams(location.search);
const metrics = new MetricsPanel($("charts"), $("metrics-note"), Math.max(1, Number(params.get("poll")) || 5));

function say(message, error = false) {
  status.textContent = message;
  status.classList.toggle("error", error);
}

async function loadServer() {
  const where = location.host;
  try {
    const meta = await api("v2");
    const extensions = Array.isArray(meta.extensions) ? meta.extensions.join(", ") : "";
    $("server").textContent = `${meta.name ?? "server"} ${meta.version ?? ""} at ${where}; extensions: ${extensions || "none"}`;
  } catch (exc) {
    $("server").textContent = exc.status === 401 ? `${where} (its details need the access token)` : `${where}: ${describe(exc)}`;
  }
}

async function loadModels() {
  const list = clear($("models"));
  say("Reading the models...");
  let doc;
  try {
    doc = await api("v2/models");
  } catch (exc) {
    if (exc.status === 401) {
      say(token.get() ? `The token was refused: ${exc.message}` : "This server needs an access token: enter it above to see its models.", true);
      $("token").focus();
    } else {
      say(`Could not list the models: ${describe(exc)}`, true);
    }
    metrics.models([]);
    return;
  }
  const models = doc && Array.isArray(doc.models) ? doc.models : [];
  say(models.length ? `${plural(models.length, "model")} served.` : "This server serves no model.");
  for (const model of models) list.append(modelCard(model));
  metrics.models(models.filter((m) => !m.error).map((m) => String(m.name)));
}

function refresh() {
  loadServer();
  loadModels();
  metrics.start();
}

$("token").value = token.get();
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token.set($("token").value.trim());
  refresh();
});
$("token-forget").addEventListener("click", () => {
  token.set("");
  $("token").value = "";
  refresh();
});

refresh();
