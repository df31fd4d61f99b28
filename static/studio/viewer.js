// Response viewer: Raw (pretty JSON, large bodies folded), Tree (collapsible, children built when
// opened) and Table (arrays of objects: one column per key, nested keys flattened to "a.b",
// sortable), plus downloads as JSON or CSV. Everything is rendered as text.

import { clear, el, replace } from "./dom.js";

const LARGE_BODY_CHARS = 20000;
const TREE_CHUNK = 100;
const TABLE_CHUNK = 200;
let viewerCounter = 0;

/** A viewer element for `value` (any JSON value, or text). `name` names the downloads;
 * `initial` picks the first view ("raw", "tree" or "table" when the value has rows). */
export function jsonViewer(value, name = "response", initial = "raw") {
  viewerCounter += 1;
  const prefix = `viewer-${viewerCounter}`;
  const rows = tableRows(value);
  const views = [["raw", "Raw", () => rawView(value)], ["tree", "Tree", () => treeView(value)]];
  if (rows) views.push(["table", "Table", () => tableView(rows)]);
  const panel = el("div", { className: "viewer-panel", id: `${prefix}-panel`, role: "region", "aria-label": "Body" });
  const buttons = views.map(([key, label, build]) => el("button", {
    type: "button", className: "secondary small", "aria-pressed": "false", "data-view": key,
    onclick: () => select(key, build),
  }, label));
  const select = (key, build) => {
    for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.view === key));
    replace(panel, build());
  };
  const downloads = [el("button", { type: "button", className: "secondary small", onclick: () => download(`${name}.json`, "application/json", JSON.stringify(value, null, 2)) }, "Download JSON")];
  if (rows) downloads.push(el("button", { type: "button", className: "secondary small", onclick: () => download(`${name}.csv`, "text/csv", toCsv(rows)) }, "Download CSV"));
  const toolbar = el("div", { className: "viewer-toolbar", role: "group", "aria-label": "Body view" }, buttons, downloads);
  const [key, , build] = views.find(([k]) => k === initial) || views[0];
  select(key, build);
  return el("div", { className: "viewer" }, toolbar, panel);
}

function rawView(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  if ((text || "").length > LARGE_BODY_CHARS) {
    const pre = el("pre", { className: "body", tabindex: "0" });
    const details = el("details", {}, el("summary", {}, `Body (${Math.round(text.length / 1024)} KB): show`), pre);
    details.addEventListener("toggle", () => { if (details.open && !pre.textContent) pre.textContent = text; });
    return details;
  }
  return el("pre", { className: "body", tabindex: "0", "aria-label": "Response body" }, text === undefined ? "" : text);
}

// ---------------------------------------------------------------- tree
function treeView(value) {
  return el("ul", { className: "tree", role: "tree", "aria-label": "Body as a tree" }, treeNode("", value, true));
}

function treeNode(key, value, open = false) {
  const label = key === "" ? "" : `${key}: `;
  if (value === null || typeof value !== "object") {
    return el("li", { role: "treeitem", className: "leaf" }, el("span", { className: "key" }, label),
      el("span", { className: `value ${value === null ? "null" : typeof value}` }, JSON.stringify(value)));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  const shape = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
  const children = el("ul", { role: "group" });
  const details = el("details", { open }, el("summary", {}, el("span", { className: "key" }, label), el("span", { className: "muted" }, shape)), children);
  let shown = 0;
  const more = () => {
    const next = entries.slice(shown, shown + TREE_CHUNK);
    shown += next.length;
    const items = next.map(([k, v]) => treeNode(k, v));
    if (shown < entries.length) {
      const button = el("button", { type: "button", className: "link", onclick: () => { button.parentElement.remove(); more(); } },
        `Show ${Math.min(TREE_CHUNK, entries.length - shown)} more of ${entries.length - shown}`);
      items.push(el("li", {}, button));
    }
    children.append(...items);
  };
  // Children are built the first time the node opens: a 5,000-item array costs nothing until then.
  const build = () => { if (details.open && !shown && entries.length) more(); };
  details.addEventListener("toggle", build);
  if (open) build();
  return el("li", { role: "treeitem" }, details);
}

// ---------------------------------------------------------------- table
/** The rows of `value` as flat objects when it is (or wraps) an array of objects; else null. */
export function tableRows(value) {
  let list = value;
  if (list && !Array.isArray(list) && typeof list === "object") {
    const arrays = Object.values(list).filter((v) => Array.isArray(v));
    if (arrays.length === 1) list = arrays[0];
  }
  if (!Array.isArray(list) || !list.length || !list.every((item) => item && typeof item === "object" && !Array.isArray(item))) return null;
  return list.map((item) => flatten(item));
}

function flatten(value, prefix = "", out = {}) {
  for (const [key, v] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) flatten(v, name, out);
    else out[name] = v;
  }
  return out;
}

function columnsOf(rows) {
  const seen = new Set();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

function cellText(value) {
  if (value === undefined) return "";
  if (value === null) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function tableView(rows) {
  const columns = columnsOf(rows);
  let order = rows;
  let sorted = { column: null, direction: "none" };
  const body = el("tbody");
  const status = el("p", { className: "muted", "aria-live": "polite" });
  const headers = columns.map((column) => {
    const button = el("button", { type: "button", className: "sort", onclick: () => sortBy(column) }, column);
    return el("th", { scope: "col", "aria-sort": "none", "data-column": column }, button);
  });
  let shown = 0;
  const more = el("button", { type: "button", className: "secondary small", onclick: () => renderRows(false) }, "Show more rows");
  const renderRows = (reset) => {
    if (reset) { clear(body); shown = 0; }
    const next = order.slice(shown, shown + TABLE_CHUNK);
    shown += next.length;
    body.append(...next.map((row) => el("tr", {}, columns.map((c) => el("td", {}, cellText(row[c]))))));
    more.hidden = shown >= order.length;
    status.textContent = `${rows.length} rows, ${columns.length} columns${shown < order.length ? `; showing ${shown}` : ""}.`;
  };
  const sortBy = (column) => {
    const direction = sorted.column === column && sorted.direction === "ascending" ? "descending" : "ascending";
    sorted = { column, direction };
    const sign = direction === "ascending" ? 1 : -1;
    order = [...rows].sort((a, b) => sign * compare(a[column], b[column]));
    for (const th of headers) th.setAttribute("aria-sort", th.dataset.column === column ? direction : "none");
    renderRows(true);
  };
  renderRows(true);
  return el("div", {}, status, el("div", { className: "table-wrap", tabindex: "0", role: "region", "aria-label": "Body as a table" },
    el("table", { className: "data" }, el("thead", {}, el("tr", {}, headers)), body)), more);
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return cellText(a).localeCompare(cellText(b), undefined, { numeric: true });
}

// ---------------------------------------------------------------- downloads
/** CSV (RFC 4180) of flat rows, one column per key. */
export function toCsv(rows) {
  const columns = columnsOf(rows);
  const quote = (text) => (/[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  return [columns.map(quote).join(","), ...rows.map((row) => columns.map((c) => quote(cellText(row[c]))).join(","))].join("\r\n") + "\r\n";
}

function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
