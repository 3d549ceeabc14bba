// Result views: pictures first, then a table (the rows of the CSV download). A model without a view
// of its own gets the generic one (its numbers as bars, its JSON flattened into a table).

import { IMPUTED, OBSERVED, PALETTE, barsOf, clusterScatterOf, heatmapOf } from "./charts.js";

const fmt = (v) => (typeof v === "number" ? Number(v.toPrecision(4)).toString() : String(v));

function twolvlImpPredict(json, body) {
  const ij = json.indicatorJson;
  const year = body.target_year in ij.data ? body.target_year : Object.keys(ij.data)[0];
  const pick = (field) => (ij[field] || {})[year];
  const data = pick("data") || {};
  const lower = pick("lowerIntervals") || {};
  const upper = pick("upperIntervals") || {};
  const countries = Object.keys(data).sort((a, b) => data[a] - data[b]);
  const imputed = (c) => c in lower || c in upper;
  const only = (keep) => countries.map((c) => (keep(c) ? data[c] : null));
  const notes = [`Target ${body.target} in ${year}: ${countries.filter(imputed).length} SIDS imputed, ${countries.filter((c) => !imputed(c)).length} observed.`];
  if (pick("rmse") !== undefined) notes.push(`Cross-validated RMSE ${fmt(pick("rmse"))} (relative deviation ${fmt(pick("rmse_deviation"))}); model ${pick("model") || body.model}.`);
  const clipped = pick("clipped");
  if (clipped && Object.keys(clipped).length) notes.push(`Clipped to the indicator's plausible range: ${Object.keys(clipped).join(", ")}.`);
  const charts = [{
    title: `${body.target}, ${year}: every SIDS`, tall: true,
    description: "Observed values as circles, imputed values as triangles with their 90 % interval as a bar.",
    config: {
      data: { labels: countries, datasets: [
        { type: "line", label: "Observed", data: only((c) => !imputed(c)), showLine: false, pointRadius: 4,
          pointStyle: "circle", backgroundColor: OBSERVED, borderColor: OBSERVED },
        { type: "line", label: "Imputed", data: only(imputed), showLine: false, pointRadius: 6,
          pointStyle: "triangle", backgroundColor: IMPUTED, borderColor: IMPUTED },
        { type: "bar", label: "90 % interval", data: countries.map((c) => (imputed(c) ? [lower[c], upper[c]] : null)),
          backgroundColor: "rgba(213, 94, 0, 0.35)", borderColor: IMPUTED, borderWidth: 1, barThickness: 5 },
      ] },
      options: { scales: { x: { ticks: { autoSkip: false, maxRotation: 90, font: { size: 10 } } } } },
    },
  }];
  if (pick("featureImportances")) charts.push({ title: "Feature importances", description: "Weight of each predictor in the model.",
    config: barsOf(pick("featureImportances"), { label: "Importance" }) });
  if (pick("categoryImportances")) charts.push({ title: "Category importances", description: "Summed weight of the predictors of each category.",
    config: barsOf(pick("categoryImportances"), { label: "Importance" }) });
  const correlation = pick("correlation");
  if (correlation && correlation.index && correlation.index.length) charts.push({ title: "Correlation of the predictors",
    description: "Pearson correlation between the selected predictors (blue negative, orange positive).", config: heatmapOf(correlation, "r") });
  return {
    notes, charts,
    table: { columns: ["country", "value", "status", "lower", "upper"],
      rows: countries.map((c) => [c, data[c], imputed(c) ? "imputed" : "observed", lower[c] ?? "", upper[c] ?? ""]) },
  };
}

function backtest(json) {
  const methods = Object.keys(json.scores || {});
  const charts = [{
    title: "The model against its baselines", description: "Error of the model and of each baseline on the same hidden values (lower is better).",
    config: { type: "bar", data: { labels: methods, datasets: ["rmse", "mae"].map((metric, i) => ({
      label: metric.toUpperCase(), backgroundColor: PALETTE[i], data: methods.map((m) => json.scores[m][metric]) })) } },
  }];
  const notes = methods.map((m) => `${m}: RMSE ${fmt(json.scores[m].rmse)}, MAE ${fmt(json.scores[m].mae)}` +
    (json.scores[m].coverage !== null && json.scores[m].coverage !== undefined ? `, 90 % interval coverage ${fmt(json.scores[m].coverage)}` : "") +
    ` over ${json.scores[m].count} values.`);
  const records = json.countries || json.years || [];
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  return { notes, charts, table: { columns, rows: records.map((r) => columns.map((c) => r[c] ?? "")) } };
}

function statimpute(json) {
  const series = json.imputed_series;
  const years = series.columns.map(String);
  const values = series.data[0];
  const filled = new Set((json.missing_years || []).map(String));
  const only = (keep) => years.map((y, i) => (keep(y) ? values[i] : null));
  const [target, country] = series.index[0];
  return {
    notes: [`${country}, ${target}: ${filled.size} of ${years.length} years filled.`],
    charts: [{ title: `${country}: ${target} over the years`, description: "Observed years as circles, filled years as triangles.",
      config: { data: { labels: years, datasets: [
        { type: "line", label: "Series", data: values, borderColor: "#767676", pointRadius: 0, borderWidth: 1 },
        { type: "line", label: "Observed", data: only((y) => !filled.has(y)), showLine: false, pointRadius: 4, backgroundColor: OBSERVED, borderColor: OBSERVED },
        { type: "line", label: "Filled", data: only((y) => filled.has(y)), showLine: false, pointRadius: 6, pointStyle: "triangle", backgroundColor: IMPUTED, borderColor: IMPUTED },
      ] } } }],
    table: { columns: ["year", "value", "filled"], rows: years.map((y, i) => [y, values[i], filled.has(y) ? "filled" : "observed"]) },
    overlay: { field: "method", label: "Overlay other methods", line: (other) => other.imputed_series.data[0] },
  };
}

function correlate(json, body) {
  const corr = json.country_corr;
  const r = corr[body.country] || [];
  return {
    notes: [`Pearson correlation of ${body.country} with ${corr.index.length} SIDS, ${body.dataset} / ${body.category}, ${body.year}.`],
    charts: [{ title: `SIDS most like ${body.country}`, tall: true, description: "Correlations ranked, highest first; negative in orange.",
      config: barsOf(Object.fromEntries(corr.index.map((c, i) => [c, r[i]])), { label: "r", limit: 60, signed: true }) }],
    table: { columns: ["country", "r"], rows: corr.index.map((c, i) => [c, r[i]]) },
  };
}

function cluster(json) {
  const coords = json.coords || json.country.map((_, i) => [i, 0]);
  const points = json.country.map((name, i) => ({ name, cluster: json.label[i], x: coords[i][0], y: coords[i][1] }));
  const sizes = {};
  for (const label of json.label) sizes[`Cluster ${label}`] = (sizes[`Cluster ${label}`] || 0) + 1;
  return {
    notes: [`${json.country.length} SIDS in ${Object.keys(sizes).length} clusters.`],
    charts: [
      { title: "Clusters of SIDS (first two principal components)", description: "Each country is a point coloured by its cluster; hover for its name.",
        config: clusterScatterOf(points, { x: "PC 1", y: "PC 2" }) },
      { title: "Cluster sizes", description: "Number of countries per cluster.", config: barsOf(sizes, { label: "Countries" }) },
    ],
    table: { columns: ["country", "cluster", "pc1", "pc2"], rows: points.map((p) => [p.name, p.cluster, p.x, p.y]) },
  };
}

function columnsOf(table) {
  if (!Array.isArray(table)) return table || {};
  const columns = {};
  table.forEach((row, i) => Object.entries(row).forEach(([k, v]) => { (columns[k] = columns[k] || [])[i] = v; }));
  return columns;
}

function survey(json, body) {
  const data = columnsOf(body.data);
  const meta = columnsOf(body.metadata);
  const questions = (meta["Question Name"] || []).map((name, i) => ({ name, type: String(meta.Type[i]).toLowerCase(), factor: meta.Factor[i] }));
  const gps = (kind) => (questions.find((q) => q.type === `gps ${kind}`) || {}).name;
  const [lat, lon] = [gps("latitude"), gps("longitude")];
  const labels = json.cluster_label;
  const rows = json.rows || labels.map((_, i) => i);
  const clusters = [...new Set(labels)].sort((a, b) => a - b);
  const sizes = Object.fromEntries(clusters.map((c) => [`Cluster ${c}`, labels.filter((l) => l === c).length]));
  const own = questions.filter((q) => String(q.factor) === String(body.factor) && !q.type.startsWith("gps"));
  const charts = [{ title: "Cluster sizes", description: "Survey rows per cluster.", config: barsOf(sizes, { label: "Rows" }) }];
  const continuous = own.filter((q) => q.type === "continuous");
  if (continuous.length) {
    const mean = (q, c) => { const v = rows.filter((_, i) => labels[i] === c).map((r) => Number(data[q.name][r])).filter(Number.isFinite);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null; };
    charts.push({ title: "Answer profile: mean per cluster", description: "Mean answer of each continuous question per cluster.",
      config: { type: "bar", data: { labels: continuous.map((q) => q.name), datasets: clusters.map((c, i) => ({
        label: `Cluster ${c}`, backgroundColor: PALETTE[i % PALETTE.length], data: continuous.map((q) => mean(q, c)) })) } } });
  }
  for (const q of own.filter((item) => item.type === "categorical").slice(0, 3)) {
    const answer = (r) => (data[q.name][r] === null || data[q.name][r] === undefined ? "(no answer)" : String(data[q.name][r]));
    const answers = [...new Set(rows.map(answer))].sort();
    const share = (c, a) => { const members = rows.filter((_, i) => labels[i] === c);
      return members.filter((r) => answer(r) === a).length / Math.max(members.length, 1); };
    charts.push({ title: `Answer profile: ${q.name}`, description: "Share of each answer within each cluster.",
      config: { type: "bar", data: { labels: clusters.map((c) => `Cluster ${c}`), datasets: answers.map((a, i) => ({
        label: a, backgroundColor: PALETTE[i % PALETTE.length], data: clusters.map((c) => share(c, a)) })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, max: 1 } } } } });
  }
  if (lat && lon) {
    charts.push({ title: "Where the answers come from", description: "GPS points of the survey rows, coloured by cluster.",
      config: clusterScatterOf(rows.map((r, i) => ({ name: `row ${r}`, cluster: labels[i], x: Number(data[lon][r]), y: Number(data[lat][r]) })),
        { x: "Longitude", y: "Latitude" }) });
  }
  const shown = own.map((q) => q.name);
  return {
    notes: [`${labels.length} rows in ${clusters.length} clusters (${json.algorithm || "clustering"}, k chosen by the elbow method).`],
    charts,
    table: { columns: ["row", "cluster", ...(lat && lon ? ["latitude", "longitude"] : []), ...shown],
      rows: rows.map((r, i) => [r, labels[i], ...(lat && lon ? [data[lat][r], data[lon][r]] : []), ...shown.map((q) => data[q][r])]) },
  };
}

function classifier(json, body) {
  const instances = body.instances || [];
  const names = json.predictions.map((_, i) => (typeof instances[i] === "string" ? instances[i] : `instance ${i + 1}`));
  const short = names.map((n) => (n.length > 40 ? `${n.slice(0, 39)}…` : n));
  return {
    notes: [`${json.model} version ${json.version}: ${json.predictions.length} predictions.`],
    charts: [{ title: "Probability of each label", description: "Stacked probabilities of the labels for each instance.",
      config: { type: "bar", data: { labels: short, datasets: json.labels.map((label, j) => ({
        label, backgroundColor: PALETTE[j % PALETTE.length], data: json.probabilities.map((p) => p[j]) })) },
      options: { indexAxis: "y", scales: { x: { stacked: true, max: 1 }, y: { stacked: true } } } } }],
    table: { columns: ["instance", "prediction", ...json.labels.map((l) => `p_${l}`)],
      rows: names.map((n, i) => [n, json.predictions[i], ...json.probabilities[i]]) },
  };
}

function parseCsv(text) {
  const rows = [];
  let row = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (ch === '"') quoted = false; else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(cell); cell = ""; } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i += 1;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += ch;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

function fileResult(text, type) {
  if (type.includes("ndjson") || type.includes("jsonl")) {
    const records = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
    return { notes: [`${records.length} rows.`], charts: [], table: { columns, rows: records.map((r) => columns.map((c) => r[c] ?? "")) } };
  }
  const [columns, ...rows] = parseCsv(text);
  return { notes: [`${rows.length} rows.`], charts: [], table: { columns: columns || [], rows } };
}

function flatten(value, path = "", out = []) {
  if (value && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (!entries.length) out.push([path, ""]);
    for (const [key, item] of entries) flatten(item, path ? `${path}.${key}` : String(key), out);
  } else out.push([path, value]);
  return out;
}

/** Any JSON: its numbers as bars (when there are few enough to read), every leaf as a table row. */
export function generic(json) {
  const leaves = flatten(json);
  const numbers = leaves.filter(([, v]) => typeof v === "number" && Number.isFinite(v));
  const charts = numbers.length && numbers.length <= 60 ? [{ title: "Numbers in the answer", description: "Every numeric value of the answer.",
    config: { type: "bar", data: { labels: numbers.map(([p]) => p), datasets: [{ label: "value", data: numbers.map(([, v]) => v), backgroundColor: OBSERVED }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } } } } }] : [];
  return { notes: [], charts, table: { columns: ["field", "value"], rows: leaves } };
}

const VIEWS = {
  "twolvlImp /predict": twolvlImpPredict,
  "Statimpute /impute": statimpute,
  "CountryCorrelation /correlate": correlate,
  "CountryCorrelation /cluster": cluster,
  "SurveyCluster /clustering": survey,
  "* /backtest": backtest,
};

/** The view of an answer: `{notes, charts: [{title, description, config}], table: {columns, rows}}`. */
export function viewOf(model, operation, body, answer) {
  if (typeof answer.content === "string") return fileResult(answer.content, answer.type || "");
  const endpoint = operation.path.slice(model.prefix.length);
  const json = answer.content;
  const view = VIEWS[`${model.name} ${endpoint}`] || VIEWS[`* ${endpoint}`]
    || (json && Array.isArray(json.probabilities) && Array.isArray(json.labels) ? classifier : null);
  if (view) {
    try { return view(json, body); } catch (error) { console.warn("view failed, showing the generic one", error); }
  }
  return generic(json);
}
