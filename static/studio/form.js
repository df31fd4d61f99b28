// A form generated from an operation's schemas: path and query parameters, then the JSON body.
// Each widget reads back to a JSON value (undefined = left out) and knows its error key
// ("path:workspaceId", "query:page", "body:memberships[0].userId"), the same keys the server's
// validation errors carry, so every error is shown beside its field.

import { clear, el, uid } from "./dom.js";

const MAX_HELP_CHARS = 240;
// More optional fields than this go into a collapsed "Optional …" section, so required ones
// stay in view at sidebar width.
const VISIBLE_OPTIONAL_FIELDS = 3;

export class OperationForm {
  constructor(container, operation, defaults) {
    this.container = container;
    this.operation = operation;
    this.fields = new Set();
    this.sections = { path: new Map(), query: new Map() };
    this.body = null;
    clear(container);
    this.render(defaults || {});
  }

  render(defaults) {
    for (const location of ["path", "query", "header"]) {
      const params = this.operation.parameters.filter((p) => p.in === location);
      if (!params.length || location === "header") continue;
      const fieldset = el("fieldset", {}, el("legend", {}, location === "path" ? "Path parameters" : "Query parameters"));
      const sorted = [...params].sort((a, b) => Number(!!b.required) - Number(!!a.required));
      const elements = [];
      for (const param of sorted) {
        const node = buildNode(this, param.schema || {}, {
          location, name: param.name, label: param.name, required: param.required,
          description: param.description, example: param.example,
        });
        if (defaults[param.name] !== undefined) node.write(defaults[param.name]);
        this.sections[location].set(param.name, node);
        elements.push({ required: !!param.required, element: node.element });
      }
      fieldset.append(...withOptionalSection(elements, `Optional ${location} parameters`));
      this.container.append(fieldset);
    }
    const body = this.operation.requestBody;
    if (body) {
      const fieldset = el("fieldset", {}, el("legend", {}, "Request body", body.required ? requiredMark() : null));
      if (body.contentType !== "application/json") {
        fieldset.append(el("p", { className: "note" },
          `This operation takes ${body.contentType}; API Studio sends JSON only, so Clockify will refuse it.`));
      }
      this.body = buildNode(this, body.schema || {}, { location: "body", name: null, label: "body", required: body.required, root: true });
      fieldset.append(this.body.element);
      this.container.append(fieldset);
    }
  }

  /** {pathParams, query, body} as JSON values; empty fields are left out. */
  read() {
    const out = { pathParams: {}, query: {} };
    for (const [location, key] of [["path", "pathParams"], ["query", "query"]]) {
      for (const [name, node] of this.sections[location]) {
        const value = node.read();
        if (value !== undefined) out[key][name] = value;
      }
    }
    if (this.body) {
      const value = this.body.read();
      if (value !== undefined) out.body = value;
    }
    return out;
  }

  /** Write a stored request ({pathParams, query, body}) into a fresh form's fields. */
  load(request) {
    for (const [location, key] of [["path", "pathParams"], ["query", "query"]]) {
      const values = (request && request[key]) || {};
      for (const [name, node] of this.sections[location]) if (values[name] !== undefined) node.write(values[name]);
    }
    if (this.body && request && request.body !== undefined) this.body.write(request.body);
  }

  /** Write examples into empty required fields (and every empty path parameter). */
  fillExamples() {
    for (const node of this.fields) {
      if (requiredChain(node) && node.isEmpty() && node.example !== undefined) {
        node.write(node.example);
      }
    }
  }

  /** Show server errors beside their fields; returns the errors no field could take. */
  showErrors(errors) {
    this.clearErrors();
    const byKey = new Map();
    for (const node of this.fields) byKey.set(node.key(), node);
    const unplaced = [];
    let first = null;
    for (const error of errors) {
      const node = byKey.get(`${error.location}:${error.field}`) || (error.field === "" && error.location === "body" ? this.body : null);
      if (node && node.setError) {
        node.setError(error.message);
        openAncestors(node.element);
        first = first || node;
      } else {
        unplaced.push(error);
      }
    }
    if (first) first.focus();
    return unplaced;
  }

  clearErrors() {
    for (const node of this.fields) node.setError && node.setError(null);
  }
}

/** The elements, with the optional ones folded into a collapsed section when there are many. */
function withOptionalSection(items, title) {
  const optional = items.filter((item) => !item.required);
  if (optional.length <= VISIBLE_OPTIONAL_FIELDS) return items.map((item) => item.element);
  return [
    ...items.filter((item) => item.required).map((item) => item.element),
    el("details", { className: "optional" }, el("summary", {}, `${title} (${optional.length})`),
      optional.map((item) => item.element)),
  ];
}

/** True when node and every object above it are required (filling it will not invent an optional object). */
function requiredChain(node) {
  for (let n = node; n && !n.spec.root; n = n.parent) {
    if (!(n.required || n.location === "path") || n.spec.index !== undefined) return false;
  }
  return true;
}

function openAncestors(node) {
  for (let n = node; n; n = n.parentElement) if (n.tagName === "DETAILS") n.open = true;
}

function requiredMark() {
  return [el("span", { className: "required-mark", "aria-hidden": "true" }, "*"), el("span", { className: "visually-hidden" }, " (required)")];
}

function typeLabel(schema) {
  if (schema.enum) return "one of";
  if (schema.type === "array") return `array of ${(schema.items && (schema.items.type || "object")) || "values"}`;
  return [schema.type, schema.format].filter(Boolean).join(", ");
}

function helpText(spec, schema) {
  const text = spec.description || schema.description || "";
  return text.length > MAX_HELP_CHARS ? `${text.slice(0, MAX_HELP_CHARS)}…` : text;
}

function exampleOf(spec, schema) {
  if (spec.example !== undefined) return spec.example;
  if (schema.example !== undefined) return schema.example;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum && schema.enum.length) return schema.enum[0];
  return undefined;
}

/** A node for one schema: scalar input, select, array list, nested object, or JSON textarea. */
function buildNode(form, schema, spec, parent = null) {
  const kind = schema.enum ? "enum"
    : schema.type === "boolean" ? "boolean"
    : schema.type === "array" ? "array"
    : (schema.type === "object" || schema.properties) && schema.properties && !schema.recursive ? "object"
    : ["string", "integer", "number"].includes(schema.type) ? "scalar"
    : "json";
  const node = { form, schema, spec, parent, location: spec.location, required: !!spec.required, example: exampleOf(spec, schema) };
  node.key = () => `${node.location}:${fieldPath(node)}`;
  const builders = { enum: buildSelect, boolean: buildSelect, scalar: buildInput, json: buildJson, array: buildArray, object: buildObject };
  builders[kind](node);
  form.fields.add(node);
  return node;
}

function fieldPath(node) {
  if (node.location !== "body") return node.spec.name;
  const parts = [];
  for (let n = node; n && !n.spec.root; n = n.parent) parts.unshift(n.spec.index !== undefined ? n.spec.index : n.spec.name);
  let text = "";
  for (const part of parts) text += typeof part === "number" ? `[${part}]` : (text ? `.${part}` : part);
  return text;
}

function fieldShell(node, control) {
  const { spec, schema } = node;
  const errorId = uid("err");
  const helpId = uid("help");
  const help = helpText(spec, schema);
  const error = el("p", { className: "field-error", id: errorId, hidden: true });
  control.id = control.id || uid("f");
  if (node.required) control.setAttribute("aria-required", "true");
  control.setAttribute("aria-describedby", [help ? helpId : null, errorId].filter(Boolean).join(" "));
  control.dataset.key = node.key();
  const label = spec.label !== undefined && spec.index === undefined
    ? el("label", { for: control.id }, spec.label, node.required ? requiredMark() : null, " ", el("span", { className: "type" }, typeLabel(schema)))
    : null;
  if (!label) control.setAttribute("aria-label", spec.index !== undefined ? `${spec.arrayLabel} item ${spec.index + 1}` : String(spec.label || "value"));
  node.element = el("div", { className: "field" }, label, control, help ? el("p", { className: "help", id: helpId }, help) : null, error);
  node.setError = (message) => {
    error.textContent = message || "";
    error.hidden = !message;
    if (message) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
  };
  node.focus = () => { openAncestors(control); control.focus(); };
}

function buildInput(node) {
  const { schema } = node;
  const numeric = schema.type === "integer" || schema.type === "number";
  const input = el("input", { type: "text", autocomplete: "off", inputmode: numeric ? "decimal" : null });
  if (node.example !== undefined) input.placeholder = `e.g. ${typeof node.example === "string" ? node.example : JSON.stringify(node.example)}`;
  fieldShell(node, input);
  node.isEmpty = () => input.value === "";
  node.write = (value) => { input.value = value === undefined || value === null ? "" : (typeof value === "string" ? value : JSON.stringify(value)); };
  node.read = () => {
    if (input.value === "") return undefined;
    if (numeric && input.value.trim() !== "" && !Number.isNaN(Number(input.value))) return Number(input.value);
    return input.value; // sent as typed: the server says what is wrong with it
  };
}

function buildSelect(node) {
  const { schema } = node;
  const values = schema.enum ? schema.enum : [true, false];
  const select = el("select", {}, el("option", { value: "" }, "(not set)"));
  values.forEach((value, index) => select.append(el("option", { value: String(index) }, String(value))));
  fieldShell(node, select);
  node.isEmpty = () => select.value === "";
  node.write = (value) => {
    const index = values.findIndex((v) => v === value || String(v) === String(value));
    select.value = index < 0 ? "" : String(index);
  };
  node.read = () => (select.value === "" ? undefined : values[Number(select.value)]);
}

function buildJson(node) {
  const area = el("textarea", { rows: 3, spellcheck: "false", placeholder: node.example !== undefined ? JSON.stringify(node.example) : "JSON value" });
  fieldShell(node, area);
  node.isEmpty = () => area.value.trim() === "";
  node.write = (value) => { area.value = value === undefined ? "" : JSON.stringify(value, null, 2); };
  node.read = () => {
    const text = area.value.trim();
    if (text === "") return undefined;
    try { return JSON.parse(text); } catch (error) { return text; }
  };
}

function buildArray(node) {
  const { schema, spec, form } = node;
  const itemSchema = schema.items || {};
  const items = [];
  const list = el("div", { className: "array-items" });
  const label = spec.label !== undefined ? String(spec.label) : "items";
  const addButton = el("button", { type: "button", className: "secondary small" }, `Add ${label} item`);
  const error = el("p", { className: "field-error", hidden: true });
  const heading = spec.index === undefined
    ? el("div", { className: "label" }, spec.label, node.required ? requiredMark() : null, " ", el("span", { className: "type" }, typeLabel(schema)))
    : null;
  const help = helpText(spec, schema);
  node.element = el("div", { className: "field", role: "group", "aria-label": label }, heading, list, addButton,
    help ? el("p", { className: "help" }, help) : null, error);

  const renumber = () => items.forEach((child, i) => { child.spec.index = i; });
  const add = (value) => {
    const child = buildNode(form, itemSchema, { location: node.location, name: null, index: items.length, arrayLabel: label, label: "" }, node);
    const remove = el("button", { type: "button", className: "secondary small", "aria-label": `Remove ${label} item` }, "Remove");
    const row = el("div", { className: "array-item" }, child.element, remove);
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(child), 1);
      forget(form, child);
      row.remove();
      renumber();
      addButton.focus();
    });
    items.push(child);
    list.append(row);
    if (value !== undefined) child.write(value);
    return child;
  };
  addButton.addEventListener("click", () => { const child = add(); child.focus && child.focus(); });

  node.isEmpty = () => items.length === 0;
  node.write = (value) => {
    for (const child of items.splice(0)) forget(form, child);
    list.replaceChildren();
    (Array.isArray(value) ? value : [value]).forEach((v) => add(v));
  };
  node.read = () => {
    const values = items.map((child) => child.read()).filter((v) => v !== undefined);
    return values.length ? values : undefined;
  };
  node.setError = (message) => { error.textContent = message || ""; error.hidden = !message; };
  node.focus = () => addButton.focus();
}

function buildObject(node) {
  const { schema, spec, form } = node;
  const required = new Set(schema.required || []);
  const children = new Map();
  const items = [];
  // Required properties first, then the others in the spec's order.
  const entries = Object.entries(schema.properties || {});
  entries.sort(([a], [b]) => Number(required.has(b)) - Number(required.has(a)));
  for (const [name, propSchema] of entries) {
    if (propSchema.readOnly) continue; // Clockify sets these; sending one is refused
    const child = buildNode(form, propSchema, { location: node.location, name, label: name, required: required.has(name) }, node);
    children.set(name, child);
    items.push({ required: required.has(name), element: child.element });
  }
  const fields = spec.root ? withOptionalSection(items, "Optional fields") : items.map((item) => item.element);
  const error = el("p", { className: "field-error", hidden: true });
  if (spec.root) {
    node.element = el("div", {}, error, fields);
  } else {
    const summary = el("summary", {}, spec.index !== undefined ? `${spec.arrayLabel} item ${spec.index + 1}` : spec.label,
      node.required ? requiredMark() : null);
    const details = el("details", { className: "nested", open: node.required || spec.index !== undefined }, summary,
      el("fieldset", {}, el("legend", { className: "visually-hidden" }, spec.label || "item"), fields));
    node.element = el("div", { className: "field" }, details, error);
    node.details = details;
  }
  node.isEmpty = () => [...children.values()].every((child) => child.isEmpty());
  node.write = (value) => {
    if (!value || typeof value !== "object") return;
    for (const [name, child] of children) if (value[name] !== undefined) child.write(value[name]);
  };
  node.read = () => {
    const out = {};
    for (const [name, child] of children) {
      const value = child.read();
      if (value !== undefined) out[name] = value;
    }
    return Object.keys(out).length || spec.index !== undefined ? out : undefined;
  };
  node.setError = (message) => {
    error.textContent = message || ""; error.hidden = !message;
    if (message && node.details) node.details.open = true;
  };
  node.focus = () => { if (node.details) { node.details.open = true; node.details.querySelector("summary").focus(); } };
}

function forget(form, node) {
  form.fields.delete(node);
  for (const other of [...form.fields]) {
    let n = other.parent;
    while (n && n !== node) n = n.parent;
    if (n === node) form.fields.delete(other);
  }
}

