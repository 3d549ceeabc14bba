// One form per endpoint: enums as selects with their descriptions, listed values as cascading
// dropdowns (choosing a year refills the datasets, a dataset the targets, ...), `required_if` fields
// shown only while their condition holds, and the service's field errors next to their field.

import { request } from "./api.js";

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter(Boolean));
  return node;
}

/** Options `[[value, text]]` from whatever a listing endpoint answers: a list of values, a list of
 * `{label, value}`, a `{code: name}` object, or an object holding a list of records (`versions`). */
export function optionsOf(answer) {
  if (Array.isArray(answer)) {
    return answer.map((item) => {
      if (item === null || typeof item !== "object") return [String(item), String(item)];
      const value = item.value ?? item.version ?? item.code ?? item.id ?? item.name;
      const text = item.label ?? item.name ?? value;
      return [String(value), String(text) === String(value) ? String(value) : `${value} — ${text}`];
    });
  }
  if (answer && typeof answer === "object") {
    const records = Object.values(answer).find((v) => Array.isArray(v) && v.every((i) => i && typeof i === "object"));
    if (records) return optionsOf(records);
    return Object.entries(answer).map(([code, name]) => [code, typeof name === "string" ? `${code} — ${name}` : code]);
  }
  return [];
}

const fieldId = (name) => `field-${name}`;
const isList = (field) => field.type === "array" && field.itemType !== "object" && !field.listing;
const isJson = (field) => (field.type === "array" || field.type === "object") && !field.listing && !isList(field);

export class GeneratedForm {
  constructor(container, operation, values, onChange) {
    this.container = container;
    this.operation = operation;
    this.onChange = onChange;
    this.fields = Object.fromEntries(operation.fields.map((f) => [f.name, f]));
    this.controls = {};
    this.rows = {};
    this.listings = 0;
    container.dataset.pending = "0";
    container.replaceChildren(...operation.fields.map((field) => this.render(field, values[field.name])));
  }

  render(field, value) {
    const id = fieldId(field.name);
    const describedBy = [];
    const help = [];
    if (field.description) {
      help.push(element("p", { class: "help", id: `${id}-help`, text: field.description }));
      describedBy.push(`${id}-help`);
    }
    let control;
    if (field.type === "enum" || field.listing) {
      control = element("select", { id, name: field.name, multiple: field.type === "array" });
      if (field.type === "enum") {
        if (!field.required) control.append(element("option", { value: "", text: "(not set)" }));
        for (const [name, description] of Object.entries(field.values || {})) {
          control.append(element("option", { value: name, text: description && description !== name ? `${name} — ${description}` : name }));
        }
        const chosen = element("p", { class: "help", id: `${id}-choice`, "aria-live": "polite" });
        help.push(chosen);
        describedBy.push(`${id}-choice`);
        this.choices = { ...(this.choices || {}), [field.name]: chosen };
      }
      if (field.type === "array") control.size = 6;
    } else if (field.type === "boolean") {
      control = element("input", { id, name: field.name, type: "checkbox" });
    } else if (field.type === "integer" || field.type === "number") {
      control = element("input", { id, name: field.name, type: "number", inputmode: field.type === "integer" ? "numeric" : "decimal",
        step: field.type === "integer" ? "1" : "any", min: field.minimum, max: field.maximum });
    } else if (field.type === "file") {
      control = element("input", { id, name: field.name, type: "file" });
    } else if (isList(field) || isJson(field)) {
      control = element("textarea", { id, name: field.name, rows: isJson(field) ? 8 : 4, spellcheck: "false" });
      help.push(element("p", { class: "help", id: `${id}-format`, text: isList(field) ? "One value per line." : "JSON." }));
      describedBy.push(`${id}-format`);
    } else {
      control = element("input", { id, name: field.name, type: "text", autocomplete: "off" });
    }
    const error = element("p", { class: "field-error", id: `${id}-error`, "data-testid": "field-error", hidden: true, role: "alert" });
    describedBy.push(`${id}-error`);
    control.setAttribute("aria-describedby", describedBy.join(" "));
    if (field.required) control.setAttribute("aria-required", "true");
    const label = element("label", { for: id }, field.label,
      field.required || field.requiredIf ? element("span", { class: "required", text: " *", "aria-hidden": "true" }) : null,
      element("code", { class: "name", text: field.name }));
    const row = element("div", { class: "field", "data-field": field.name, "data-listed": Boolean(field.listing) }, label, control, ...help, error);
    this.controls[field.name] = control;
    this.rows[field.name] = row;
    this.initial = { ...(this.initial || {}), [field.name]: value };
    control.addEventListener("change", () => this.changed(field.name));
    if (control.tagName !== "SELECT") control.addEventListener("input", () => this.clearError(field.name));
    this.setValue(field.name, value);
    return row;
  }

  /** Fill every listing in order of dependency, keeping the values given where they are valid. */
  async start() {
    await this.refreshListings(Object.keys(this.fields), this.initial);
    this.updateVisibility();
  }

  dependants(name) {
    return Object.values(this.fields).filter((f) => f.listing && f.listing.inputs.includes(name)).map((f) => f.name);
  }

  async changed(name) {
    this.clearError(name);
    this.describeChoice(name);
    this.updateVisibility();
    await this.refreshListings(this.dependants(name));
    this.onChange();
  }

  /** Refill the listed fields `names` (and, transitively, the fields listed from them). */
  async refreshListings(names, wanted = {}) {
    const pending = [...names];
    const done = new Set();
    let steps = 0;
    while (pending.length && steps++ < 500) {
      const name = pending.shift();
      const field = this.fields[name];
      if (done.has(name) || !field || !field.listing) continue;
      const waitsFor = field.listing.inputs.filter((input) => pending.includes(input) && this.fields[input]?.listing);
      if (waitsFor.length) { pending.push(name); continue; }
      done.add(name);
      const before = this.getValue(name);
      await this.fillListing(field, wanted[name] !== undefined ? wanted[name] : before);
      if (JSON.stringify(this.getValue(name)) !== JSON.stringify(before) || wanted[name] !== undefined) {
        pending.push(...this.dependants(name).filter((d) => !done.has(d)));
      }
    }
  }

  async fillListing(field, keep) {
    const control = this.controls[field.name];
    const inputs = Object.fromEntries(field.listing.inputs.map((input) => [input, this.getValue(input)]));
    const missing = Object.entries(inputs).filter(([input, v]) =>
      (v === undefined || v === null || v === "") && this.fields[input]?.required).map(([input]) => input);
    control.replaceChildren();
    if (missing.length) {
      control.append(new Option(`(choose ${missing.join(", ")} first)`, ""));
      control.disabled = true;
      return;
    }
    control.disabled = true;
    this.listings += 1;
    this.container.dataset.pending = String(this.listings);
    try {
      const options = { query: {}, body: undefined };
      if (field.listing.method === "GET") options.query = inputs;
      else {
        const inBody = new Set(field.listing.bodyInputs || []);
        options.query = Object.fromEntries(Object.entries(inputs).filter(([k]) => !inBody.has(k)));
        options.body = Object.fromEntries(Object.entries(inputs).filter(([k]) => inBody.has(k)));
        if (!Object.keys(options.body).length) options.body = undefined;
      }
      const answer = (await request(field.listing.method, field.listing.endpoint, options)).content;
      const list = optionsOf(answer);
      if (field.type !== "array" && !field.required && !field.requiredIf) control.append(new Option("(not set)", ""));
      for (const [value, text] of list) control.append(new Option(text, value));
      control.disabled = false;
      this.setValue(field.name, keep);
      if (field.type !== "array" && (field.required || field.requiredIf) && !list.some(([value]) => value === control.value) && list.length) {
        control.value = list[0][0];
      }
    } catch (error) {
      control.append(new Option("(could not list the values)", ""));
      this.showError(field.name, error.message);
    } finally {
      this.listings -= 1;
      this.container.dataset.pending = String(this.listings);
    }
  }

  conditionHolds(field) {
    if (!field.requiredIf) return true;
    return field.requiredIf.some((condition) => Object.entries(condition).every(([other, value]) =>
      String(this.getValue(other)) === String(value)));
  }

  updateVisibility() {
    for (const field of Object.values(this.fields)) {
      this.rows[field.name].hidden = !this.conditionHolds(field);
    }
  }

  setValue(name, value) {
    const control = this.controls[name];
    const field = this.fields[name];
    if (value === undefined) value = field.default;
    if (control.type === "file") return;
    if (control.type === "checkbox") control.checked = Boolean(value);
    else if (control.multiple) {
      const chosen = new Set((value || []).map(String));
      for (const option of control.options) option.selected = chosen.has(option.value);
    } else if (control.tagName === "TEXTAREA") {
      control.value = value === undefined || value === null ? "" : isList(field) ? value.join("\n") : JSON.stringify(value, null, 1);
    } else control.value = value === undefined || value === null ? "" : String(value);
    this.describeChoice(name);
  }

  describeChoice(name) {
    const chosen = (this.choices || {})[name];
    if (chosen) chosen.textContent = (this.fields[name].values || {})[this.controls[name].value] || "";
  }

  getValue(name) {
    const control = this.controls[name];
    const field = this.fields[name];
    if (!control) return undefined;
    if (control.type === "checkbox") return control.checked;
    if (control.type === "file") return control.files[0];
    if (control.multiple) return [...control.selectedOptions].map((o) => o.value);
    const text = control.value;
    if (text === "") return undefined;
    if (field.type === "integer" || field.type === "number") {
      const number = Number(text);
      return Number.isFinite(number) && text.trim() !== "" ? number : text;
    }
    if (isList(field)) return text.split("\n").map((line) => line.trim()).filter(Boolean)
      .map((item) => (field.itemType === "number" || field.itemType === "integer" ? Number(item) : item));
    if (isJson(field)) {
      try { return JSON.parse(text); } catch { return new SyntaxError(`Not valid JSON: ${text.slice(0, 40)}`); }
    }
    return text;
  }

  /** The values to send and to share: visible fields only; `errors` for values that cannot be read. */
  values() {
    const values = {};
    const errors = {};
    for (const field of Object.values(this.fields)) {
      if (!this.conditionHolds(field)) continue;
      const value = this.getValue(field.name);
      if (value instanceof SyntaxError) errors[field.name] = value.message;
      else if (value !== undefined && !(Array.isArray(value) && !value.length && !field.required)) values[field.name] = value;
    }
    return { values, errors };
  }

  clearErrors() {
    for (const name of Object.keys(this.fields)) this.clearError(name);
  }

  clearError(name) {
    const row = this.rows[name];
    if (!row) return;
    row.querySelector(".field-error").hidden = true;
    this.controls[name].removeAttribute("aria-invalid");
  }

  /** Show an error next to its field; false when no field of this form has that name. */
  showError(name, message) {
    const row = this.rows[name];
    if (!row) return false;
    row.hidden = false;
    const box = row.querySelector(".field-error");
    box.textContent = message;
    box.hidden = false;
    this.controls[name].setAttribute("aria-invalid", "true");
    return true;
  }

  /** Place the service's 422 `errors[].field` (`body.scheme`, `query.target`, `body.instances.0`). */
  showServiceErrors(errors) {
    const unplaced = [];
    let first = null;
    for (const problem of errors || []) {
      const parts = String(problem.field || "").split(".");
      let name = ["body", "query", "path", "form"].includes(parts[0]) ? parts[1] : parts[0];
      if (!this.fields[name]) name = Object.keys(this.fields).find((n) => String(problem.message).startsWith(`${n} `));
      if (name && this.showError(name, problem.message)) first = first || name;
      else unplaced.push(problem.message);
    }
    if (first) this.controls[first].focus();
    return unplaced;
  }
}
