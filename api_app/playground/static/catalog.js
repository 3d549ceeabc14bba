// The model list and every form, generated: the main endpoint's fields from GET /params, every other
// POST endpoint's from /openapi.json. A model added under models/ appears here with no UI change.

import { getJson } from "./api.js";

const MAIN = "x-main-endpoint";

function deref(schema, spec) {
  let current = schema || {};
  const outer = { ...current };
  delete outer.$ref;
  delete outer.anyOf;
  if (current.$ref) current = { ...deref(lookup(spec, current.$ref), spec), ...outer };
  if (current.anyOf) {
    const options = current.anyOf.filter((option) => option.type !== "null");
    if (options.length === 1) current = { ...deref(options[0], spec), ...outer };
  }
  return current;
}

function lookup(spec, ref) {
  return ref.replace(/^#\//, "").split("/").reduce((node, key) => (node || {})[key], spec) || {};
}

function typeOf(schema) {
  if (schema.enum) return "enum";
  if (schema.format === "binary" || schema.contentMediaType) return "file";
  if (schema.type) return schema.type;
  if (schema.anyOf) return schema.anyOf.map((o) => o.type).find((t) => t && t !== "null") || "object";
  return "string";
}

function itemTypeOf(schema, spec) {
  const items = deref(schema.items || {}, spec);
  return items.type && !items.anyOf ? items.type : "object";
}

function conditionsOf(conditions) {
  const rule = (conditions || []).map((c) => c.required).find((r) => r !== undefined);
  if (Array.isArray(rule)) return { required: false, requiredIf: rule };
  return { required: rule === true, requiredIf: null };
}

function bodyContent(operation) {
  const content = (operation.requestBody || {}).content || {};
  if (content["application/json"]) return ["json", content["application/json"]];
  if (content["multipart/form-data"]) return ["form", content["multipart/form-data"]];
  return [null, null];
}

/** Input names of a listing endpoint: its query parameters and its JSON body's fields. */
function listingInputs(spec, path, method) {
  const operation = ((spec.paths || {})[path] || {})[method.toLowerCase()] || {};
  const query = (operation.parameters || []).filter((p) => p.in === "query").map((p) => p.name);
  const [, content] = bodyContent(operation);
  const body = content ? Object.keys(deref(content.schema, spec).properties || {}) : [];
  return { query, body };
}

function listing(spec, lister, prefix, inputs) {
  const endpoint = prefix + lister.endpoint;
  const known = listingInputs(spec, endpoint, lister.method);
  return { endpoint, method: lister.method, inputs: inputs || [...known.query, ...known.body], bodyInputs: known.body };
}

function schemaField(name, raw, spec, { location, required, prefix }) {
  const schema = deref(raw, spec);
  const lister = schema["x-req-endpoint"];
  const requiredIf = schema["x-required-if"]
    ? Object.entries(schema["x-required-if"]).flatMap(([other, values]) => values.map((v) => ({ [other]: v })))
    : null;
  return {
    name, location, required: Boolean(required), requiredIf,
    label: schema.title || name, description: schema.description || "",
    type: typeOf(schema), itemType: schema.type === "array" ? itemTypeOf(schema, spec) : null,
    values: schema.enum ? Object.fromEntries(schema.enum.map((v) => [v, (schema["x-enum-descriptions"] || {})[v] || v])) : null,
    listing: lister ? listing(spec, lister, prefix) : null,
    minimum: schema.minimum, maximum: schema.maximum,
    default: schema.default, example: (schema.examples || [])[0],
  };
}

function operationFields(spec, operation, prefix) {
  const fields = (operation.parameters || []).filter((p) => p.in === "query" || p.in === "path").map((p) =>
    schemaField(p.name, { ...p.schema, title: (p.schema || {}).title || p.name, description: p.description },
      spec, { location: p.in, required: p.required, prefix }));
  const [kind, content] = bodyContent(operation);
  if (content) {
    const body = deref(content.schema, spec);
    const required = new Set(body.required || []);
    for (const [name, raw] of Object.entries(body.properties || {})) {
      fields.push(schemaField(name, raw, spec, { location: kind === "form" ? "form" : "body", required: required.has(name), prefix }));
    }
  }
  return fields;
}

/** The /params description of an input, completed by the OpenAPI (item types, bounds, examples). */
function paramsField(spec, input, fromSchema, prefix) {
  const { required, requiredIf } = conditionsOf(input.conditions);
  const lister = input.req_endpoint;
  return {
    ...(fromSchema || { location: "body" }),
    name: input.parameter, label: input.label || input.parameter, description: input.description || "",
    type: input.type, values: input.values || null, default: input.default, required, requiredIf,
    listing: lister ? listing(spec, lister, prefix, (lister.inputs || []).map((i) => i.parameter)) : null,
  };
}

/** Inputs a listing needs that the form does not have (e.g. the `dataset` that /sampleapi/indicators
 * filters by) become helper fields, placed before the first field they list; they are not sent. */
function withHelpers(spec, fields) {
  const names = new Set(fields.map((f) => f.name));
  const result = [];
  for (const field of fields) {
    for (const input of (field.listing || {}).inputs || []) {
      if (names.has(input)) continue;
      const operation = spec.paths[field.listing.endpoint][field.listing.method.toLowerCase()];
      const parameter = (operation.parameters || []).find((p) => p.name === input);
      if (!parameter) continue;
      names.add(input);
      const helper = schemaField(input, { ...parameter.schema, description: `Narrows the values listed for ${field.label}; not sent with the request.` },
        spec, { location: "helper", required: parameter.required, prefix: "" });
      result.push({ ...helper, default: helper.example });
    }
    result.push(field);
  }
  return result;
}

function example(spec, operation, fields) {
  const [, content] = bodyContent(operation);
  const body = content ? deref(content.schema, spec) : {};
  const whole = content && (content.example || (body.examples || [])[0]);
  const values = { ...(whole || {}) };
  for (const field of fields) {
    if (values[field.name] === undefined && field.example !== undefined) values[field.name] = field.example;
  }
  return values;
}

function dirname(path) {
  return path.replace(/\/[^/]*$/, "");
}

/** `[{name, label, prefix, operations: [{path, method, summary, main, fields, example}]}]` */
export async function loadCatalog() {
  const [params, spec] = await Promise.all([getJson("params"), getJson("openapi.json")]);
  const operations = Object.entries(spec.paths || {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })));
  return params.map((entry) => {
    const tagged = operations.filter((o) => (o.operation.tags || []).includes(entry.label));
    const main = tagged.find((o) => o.operation[MAIN]);
    const prefix = main ? dirname(main.path) : "";
    const forms = tagged.filter((o) => o.method === "POST").map((o) => {
      let fields = operationFields(spec, o.operation, prefix);
      if (o === main && entry.inputs) {
        const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
        fields = entry.inputs.map((input) => paramsField(spec, input, byName[input.parameter], prefix));
      }
      fields = withHelpers(spec, fields);
      return { path: o.path, method: o.method, main: o === main, summary: o.operation.summary || o.path,
        fields, example: example(spec, o.operation, fields),
        requestSchema: JSON.stringify(((bodyContent(o.operation)[1] || {}).schema) || null) };
    }).filter((form) => form.fields.length > 0);
    forms.sort((a, b) => Number(b.main) - Number(a.main));
    for (const form of forms) {
      const estimate = forms.find((other) => other.path === `${prefix}/estimate` && other !== form
        && other.requestSchema === form.requestSchema);
      form.estimatePath = estimate ? estimate.path : null;
    }
    return { name: entry.model, label: entry.label, prefix, main: Boolean(main), operations: forms };
  }).filter((model) => model.operations.length > 0);
}
