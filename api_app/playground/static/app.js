// The playground: pick a model, fill its generated form, run it as a job, look at the result.

import { ApiError, apiKey, request, setApiKey } from "./api.js";
import { loadCatalog } from "./catalog.js";
import { addLine, clearCharts, renderChart } from "./charts.js";
import { GeneratedForm } from "./form.js";
import { Job } from "./jobs.js";
import { readState, writeState } from "./state.js";
import { download, renderTable, toCsv } from "./table.js";
import { viewOf } from "./views.js";

const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"), operation: $("operation"), description: $("operation-description"), fields: $("fields"),
  form: $("form"), run: $("run"), cancel: $("cancel"), estimate: $("estimate"), progress: $("progress"),
  stage: $("stage"), elapsed: $("elapsed"), message: $("message"), result: $("result"), resultHeading: $("result-heading"),
  notes: $("notes"), charts: $("charts"), table: $("result-table"), json: $("json"), csv: $("download-csv"),
  jsonDownload: $("download-json"), apiKey: $("api-key"), share: $("share"),
  overlay: $("overlay"), overlayLegend: $("overlay-legend"), overlayChoices: $("overlay-choices"), overlayRun: $("overlay-run"),
};
let catalog = [];
let current = { model: null, operation: null, form: null, job: null, answer: null, view: null };
let estimateTimer = null;
let formsOpened = 0;

function say(text, kind = "info") {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
}

function chosen() {
  const model = catalog.find((m) => m.name === ui.model.value);
  const operation = model && (model.operations.find((o) => o.path === ui.operation.value) || model.operations[0]);
  return { model, operation };
}

function fillOperations(model, path) {
  ui.operation.replaceChildren(...model.operations.map((o) =>
    new Option(`${o.method} ${o.path}${o.main ? " (main)" : ""} — ${o.summary}`, o.path)));
  ui.operation.value = path && model.operations.some((o) => o.path === path) ? path : model.operations[0].path;
}

async function openForm(values) {
  const { model, operation } = chosen();
  const opened = ++formsOpened;
  ui.form.setAttribute("data-ready", "false"); // not .dataset: a form field named "dataset" shadows it
  ui.run.disabled = true;
  current = { ...current, model, operation, answer: null };
  ui.description.textContent = operation.summary;
  ui.result.hidden = true;
  say("");
  current.form = new GeneratedForm(ui.fields, operation, values || operation.example, formChanged);
  await current.form.start();
  if (opened !== formsOpened) return;
  ui.run.disabled = false;
  ui.form.setAttribute("data-ready", "true");
  formChanged();
}

function formChanged() {
  const { model, operation, form } = current;
  writeState(model.name, operation.path.slice(model.prefix.length), form.values().values);
  if (operation.estimatePath) {
    window.clearTimeout(estimateTimer);
    estimateTimer = window.setTimeout(showEstimate, 250);
  } else ui.estimate.textContent = "";
}

async function showEstimate() {
  const { operation, form } = current;
  const { body } = requestOf(operation, form.values().values);
  try {
    const estimate = (await request("POST", operation.estimatePath, { body })).content;
    ui.estimate.textContent = `Expected time: about ${estimate.seconds < 1 ? "1" : Math.round(estimate.seconds)} s ` +
      `(${estimate.method}, from ${estimate.runs} measured runs on this server).`;
  } catch {
    ui.estimate.textContent = "";
  }
}

/** Path, query, JSON body or multipart form of an operation from the form's values. */
function requestOf(operation, values) {
  let path = operation.path;
  const query = {};
  let body;
  let multipart = null;
  for (const field of operation.fields) {
    const value = values[field.name];
    if (field.location === "helper") continue;
    if (field.location === "path") path = path.replace(`{${field.name}}`, encodeURIComponent(value ?? ""));
    else if (value === undefined) continue;
    else if (field.location === "query") query[field.name] = value;
    else if (field.location === "form") (multipart = multipart || new FormData()).append(field.name, value);
    else (body = body || {})[field.name] = value;
  }
  const hasJsonBody = operation.fields.some((f) => f.location === "body");
  return { path, query, body: multipart || (hasJsonBody ? body || {} : undefined) };
}

function startClock() {
  const started = performance.now();
  ui.elapsed.textContent = "0.0 s";
  const show = () => { ui.elapsed.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; };
  const timer = window.setInterval(show, 100);
  let running = true;
  return () => {
    if (running) { window.clearInterval(timer); show(); }
    running = false;
  };
}

function showProgress(progress, status) {
  ui.progress.hidden = false;
  ui.progress.value = progress.fraction;
  ui.progress.setAttribute("aria-valuetext", `${Math.round(progress.fraction * 100)} %, ${progress.stage}`);
  ui.stage.textContent = `${status}: ${progress.stage} (${Math.round(progress.fraction * 100)} %)`;
}

async function run({ onlyIfCached = false } = {}) {
  const { model, operation, form } = current;
  form.clearErrors();
  const { values, errors } = form.values();
  if (Object.keys(errors).length) {
    for (const [name, text] of Object.entries(errors)) form.showError(name, text);
    say("Some values cannot be read; see the fields marked.", "error");
    return;
  }
  const job = new Job(showProgress);
  current.job = job;
  ui.run.disabled = true;
  ui.cancel.hidden = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  say(onlyIfCached ? "Looking for a stored answer…" : "Running…");
  const stopClock = startClock();
  const { path, query, body } = requestOf(operation, values);
  try {
    const answer = await job.run(operation.method, path, { query, body, onlyIfCached });
    stopClock();
    say(`Done in ${ui.elapsed.textContent}.`, "success");
    showResult(model, operation, body instanceof FormData ? values : body || values, answer);
  } catch (error) {
    showFailure(error, onlyIfCached);
  } finally {
    stopClock();
    ui.run.disabled = false;
    ui.cancel.hidden = true;
    current.job = null;
  }
}

function showFailure(error, onlyIfCached) {
  if (!(error instanceof ApiError)) { say(`The request failed: ${error.message}`, "error"); return; }
  if (onlyIfCached && error.status === 504 && error.body.code === "not_cached") {
    ui.progress.hidden = true;
    ui.stage.textContent = "";
    say("This link's answer is not stored yet: press Run to compute it.");
    return;
  }
  if (error.jobStatus === "cancelled") { say("Cancelled.", "info"); return; }
  const unplaced = current.form.showServiceErrors(error.body.errors);
  const placed = (error.body.errors || []).length - unplaced.length;
  say(placed ? `Please correct the field${placed > 1 ? "s" : ""} marked below.${unplaced.length ? ` ${unplaced.join("; ")}` : ""}`
    : error.message, "error");
}

function showResult(model, operation, body, answer) {
  const view = viewOf(model, operation, body, answer);
  current.answer = answer;
  current.view = view;
  ui.result.hidden = false;
  clearCharts(ui.charts);
  ui.notes.replaceChildren(...view.notes.map((note) => Object.assign(document.createElement("li"), { textContent: note })));
  for (const chart of view.charts) renderChart(ui.charts, chart);
  renderTable(ui.table, view.table);
  showOverlay(operation, body, view.overlay);
  ui.json.textContent = typeof answer.content === "string" ? answer.content.slice(0, 20000) : JSON.stringify(answer.content, null, 1).slice(0, 20000);
  ui.resultHeading.focus();
}

/** Checkboxes for the other values of one enum field; each checked value is run and drawn as a line. */
function showOverlay(operation, body, overlay) {
  const field = overlay && operation.fields.find((f) => f.name === overlay.field);
  ui.overlay.hidden = !field;
  if (!field) return;
  ui.overlayLegend.textContent = overlay.label;
  ui.overlayChoices.replaceChildren(...Object.keys(field.values).filter((v) => v !== body[field.name]).map((value) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), { type: "checkbox", value });
    label.append(box, ` ${value}`);
    return label;
  }));
  ui.overlayRun.onclick = async () => {
    for (const box of ui.overlayChoices.querySelectorAll("input:checked")) {
      const needed = operation.fields.filter((f) => f.requiredIf && body[f.name] === undefined
        && f.requiredIf.some((condition) => condition[field.name] === box.value));
      const extra = Object.fromEntries(needed.map((f) => [f.name, f.example ?? f.maximum ?? f.minimum ?? 1]));
      try {
        const other = (await request("POST", operation.path, { body: { ...body, ...extra, [field.name]: box.value } })).content;
        addLine(0, box.value, overlay.line(other));
        box.disabled = true;
        box.checked = false;
      } catch (error) {
        say(`${box.value}: ${error.message}`, "error");
      }
    }
  };
}

function fileStem() {
  const { model, operation } = current;
  return `${model.name}${operation.path.slice(model.prefix.length).replace(/[^A-Za-z0-9]+/g, "-")}`;
}

async function start() {
  ui.apiKey.value = apiKey();
  ui.apiKey.addEventListener("change", () => setApiKey(ui.apiKey.value.trim()));
  ui.model.addEventListener("change", async () => { fillOperations(chosen().model); await openForm(); });
  ui.operation.addEventListener("change", () => openForm());
  ui.form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  ui.cancel.addEventListener("click", async () => { say("Cancelling…"); if (current.job) await current.job.cancel(); });
  ui.csv.addEventListener("click", () => download(`${fileStem()}.csv`, toCsv(current.view.table), "text/csv"));
  ui.jsonDownload.addEventListener("click", () => {
    const content = current.answer.content;
    download(`${fileStem()}.${typeof content === "string" ? "txt" : "json"}`,
      typeof content === "string" ? content : JSON.stringify(content, null, 1), "application/json");
  });
  ui.share.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(window.location.href); say("Link copied."); } catch { say(`Link: ${window.location.href}`); }
  });
  try {
    catalog = await loadCatalog();
  } catch (error) {
    say(`Cannot read the models (${error.message}).`, "error");
    return;
  }
  ui.model.replaceChildren(...catalog.map((m) => new Option(`${m.label} (${m.name})`, m.name)));
  const state = readState();
  const restored = catalog.find((m) => m.name === state.model);
  const model = restored || catalog[0];
  ui.model.value = model.name;
  fillOperations(model, restored ? model.prefix + state.endpoint : null);
  const operation = chosen().operation;
  await openForm(restored ? { ...operation.example, ...state.values } : undefined);
  document.body.dataset.ready = "true";
  if (restored) await run({ onlyIfCached: true });
}

start();
