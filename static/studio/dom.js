// DOM helpers. Every value from Clockify or the user goes in as text (textContent or a text
// node), never as HTML: no script of the page uses an HTML-parsing API.

/** Create an element: el("p", {className: "x", "aria-live": "polite"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Append children: strings and numbers become text nodes, arrays are flattened, null skipped. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Remove every child of node. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** Replace node's children. */
export function replace(node, ...children) {
  return append(clear(node), children);
}

let idCounter = 0;
/** A unique element id with a readable prefix. */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Show or hide a node (the hidden attribute). */
export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Previous and Next buttons for page `page` of `pages`; `go(n)` opens page n. */
export function pagerButtons(page, pages, go) {
  return [
    el("button", { type: "button", className: "secondary small", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous"),
    el("button", { type: "button", className: "secondary small", disabled: page >= pages, onclick: () => go(page + 1) }, "Next"),
  ];
}
