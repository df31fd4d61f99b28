// API Studio page: operation list, generated form, execution, response viewer, workspace data.

import { clear, el, replace, show } from "./dom.js";
import { OperationForm } from "./form.js";
import { DataTab } from "./data.js";
import { EventsTab } from "./events.js";
import { HistoryTab } from "./history.js";
import { fetchAllPages, isPaginated, stopReason } from "./pages.js";
import { jsonViewer } from "./viewer.js";
import { Session } from "./session.js";

const $ = (id) => document.getElementById(id);

const root = $("app");
const bootstrap = JSON.parse(root.dataset.bootstrap);
const state = { catalog: null, operation: null, form: null, pendingConfirm: false };

const session = new Session(bootstrap, {
  onExpired: () => {
    banner("Your Clockify session has expired and no fresh token arrived. Close API Studio and open it again from the sidebar.", true);
    $("execute").disabled = true;
    renderSessionLine();
  },
  onRefreshed: () => {
    banner(null);
    $("execute").disabled = false;
    renderSessionLine();
  },
});

// ---------------------------------------------------------------- calls to the add-on
async function call(method, url, body) {
  const options = { method, headers: session.headers({ Accept: "application/json" }) };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  let data = null;
  try { data = await response.json(); } catch (error) { data = null; }
  if (response.status === 401 && data && data.check === "expired") session.expire();
  return { status: response.status, ok: response.ok, data, headers: response.headers };
}

function banner(message, isError = false) {
  const node = $("banner");
  node.textContent = message || "";
  node.classList.toggle("error", !!isError);
  show(node, !!message);
}

function renderSessionLine() {
  const left = session.secondsLeft();
  const role = bootstrap.role ? ` · ${bootstrap.role.toLowerCase()}` : "";
  const expiry = !Number.isFinite(left) ? "" : left <= 0 ? " · session expired" : ` · session ends in ${Math.ceil(left / 60)} min`;
  $("session-line").textContent = `Workspace ${bootstrap.workspaceId}${role}${expiry}`;
}

// ---------------------------------------------------------------- tabs
const tabShown = {
  "tab-history": () => historyTab.show(),
  "tab-events": () => eventsTab.show(),
  "tab-data": () => dataTab.show(),
};

function visibleTabs() {
  return [...document.querySelectorAll('[role="tab"]')].filter((tab) => !tab.hidden);
}

function selectTab(tab) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    show($(t.getAttribute("aria-controls")), selected);
  }
  if (tabShown[tab.id]) tabShown[tab.id]();
}

function setupTabs() {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const tabs = visibleTabs();
      const index = tabs.indexOf(tab);
      const targets = { ArrowRight: index + 1, ArrowLeft: index - 1 + tabs.length, Home: 0, End: tabs.length - 1 };
      if (!(event.key in targets)) return;
      event.preventDefault();
      const next = tabs[targets[event.key] % tabs.length];
      next.focus();
      selectTab(next);
    });
  }
}

// ---------------------------------------------------------------- operation list
async function loadCatalog() {
  const result = await call("GET", "/ui/api-explorer/endpoints");
  if (!result.ok) {
    $("list-status").textContent = `Could not load the operations: ${(result.data && result.data.message) || result.status}`;
    return;
  }
  state.catalog = result.data;
  renderList("");
}

function renderList(query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const container = clear($("operation-list"));
  let shown = 0;
  let lastGroup = null;
  for (const tag of state.catalog.tags) {
    const matches = tag.operations.filter((op) => {
      const haystack = `${op.summary} ${op.operationId} ${op.method} ${op.path} ${tag.name}`.toLowerCase();
      return words.every((w) => haystack.includes(w));
    });
    if (!matches.length) continue;
    shown += matches.length;
    if (tag.group !== lastGroup) {
      container.append(el("h2", { className: "tag-group" }, tag.group));
      lastGroup = tag.group;
    }
    const list = el("ul", { className: "op-list" }, matches.map((op) => el("li", {}, operationButton(op))));
    const details = el("details", { open: words.length > 0 },
      el("summary", {}, tag.name, " ", el("span", { className: "count" }, `(${matches.length})`)), list);
    container.append(el("div", { className: "tag" }, details));
  }
  $("list-status").textContent = words.length
    ? `${shown} of ${state.catalog.count} operations match.`
    : `${state.catalog.count} operations in ${state.catalog.tags.length} groups.`;
}

function operationButton(op) {
  return el("button", {
    type: "button", className: `op-button${op.deprecated ? " deprecated" : ""}`, "data-operation-id": op.operationId,
    onclick: () => openOperation(op.operationId),
  }, el("span", { className: "summary" }, el("span", { className: `method ${op.method}` }, op.method), op.summary || op.operationId),
  el("code", {}, op.path));
}

// ---------------------------------------------------------------- one operation
async function openOperation(operationId, request) {
  const result = await call("GET", `/ui/api-explorer/endpoints/${encodeURIComponent(operationId)}`);
  if (!result.ok) {
    banner(`Could not open ${operationId}: ${(result.data && result.data.message) || result.status}`, true);
    return;
  }
  const op = result.data;
  state.operation = op;
  show($("operation-list-view"), false);
  show($("operation-view"), true);
  show($("response"), false);
  show($("confirm-panel"), false);
  show($("code-text"), false);
  $("copy-status").textContent = "";
  $("op-title").textContent = op.summary || op.operationId;
  const method = $("op-method");
  method.textContent = op.method;
  method.className = `method ${op.method}`;
  $("op-path").textContent = op.path;
  const notes = [];
  if (op.deprecated) notes.push("Deprecated by Clockify.");
  if (!op.addonTokenAccepted) notes.push("Clockify does not accept add-on tokens for this operation; expect 401 or 403.");
  if (op.host === "reports") notes.push("Runs on the Reports API host.");
  if (op.write) notes.push(`${op.method} may change data: you will be asked to confirm before it is sent.`);
  replace($("op-notes"), notes.map((n) => el("span", { className: "note" }, n)));
  $("op-description").textContent = op.description || "";
  state.form = new OperationForm($("form-fields"), op, { workspaceId: bootstrap.workspaceId });
  show($("form-errors"), false);
  $("use-raw").checked = false;
  if (request) state.form.load(request);
  $("raw-editor").value = JSON.stringify(state.form.read(), null, 2);
  if (request && canonical(state.form.read()) !== canonical(sendable(request))) {
    // The form cannot hold the call exactly (a value outside the schema): send the JSON as it was.
    $("raw-editor").value = JSON.stringify(sendable(request), null, 2);
    $("use-raw").checked = true;
    $("raw-json").open = true;
  }
  show($("raw-error"), false);
  show($("installation-token-row"), !!bootstrap.installationTokenAllowed);
  $("use-installation-token").checked = false;
  $("execute").textContent = op.write ? `Execute ${op.method}…` : "Execute";
  show($("fetch-all"), isPaginated(op));
  show($("pages-progress"), false);
  $("op-title").focus();
}

/** A stored request as the page sends it: {pathParams, query, body?}. */
function sendable(request) {
  const out = { pathParams: request.pathParams || {}, query: request.query || {} };
  if (request.body !== undefined) out.body = request.body;
  return out;
}

/** JSON with object keys sorted, to compare two requests. */
function canonical(value) {
  return JSON.stringify(value, (key, v) => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));
}

/** Open a call from the History tab in the Operations tab, its form filled as it was sent. */
async function openFromHistory(item, runAgain) {
  selectTab($("tab-operations"));
  await openOperation(item.operationId, item.request || {});
  const text = JSON.stringify(item.request || {});
  if (text.includes("[REDACTED]") || text.includes("_omitted_bytes")) {
    formErrors("Some values of this call were redacted or too large to keep: fill them in before sending.");
    return;
  }
  if (runAgain) execute(false);
}

function backToList() {
  show($("operation-view"), false);
  show($("operation-list-view"), true);
  state.operation = null;
  $("search").focus();
}

/** The request to send: from the raw JSON editor when ticked, else from the form. */
function currentRequest() {
  show($("raw-error"), false);
  $("raw-editor").removeAttribute("aria-invalid");
  if (!$("use-raw").checked) return state.form.read();
  try {
    const parsed = JSON.parse($("raw-editor").value);
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("The JSON must be an object.");
    return { pathParams: parsed.pathParams || {}, query: parsed.query || {}, body: parsed.body };
  } catch (error) {
    $("raw-error").textContent = `Raw JSON: ${error.message}`;
    show($("raw-error"), true);
    $("raw-editor").setAttribute("aria-invalid", "true");
    $("raw-json").open = true;
    $("raw-editor").focus();
    return null;
  }
}

async function execute(confirm) {
  const op = state.operation;
  const request = currentRequest();
  if (!request) return;
  if (op.write && !confirm) {
    askConfirmation(op);
    return;
  }
  show($("confirm-panel"), false);
  state.form.clearErrors();
  show($("form-errors"), false);
  const payload = {
    operationId: op.operationId, pathParams: request.pathParams, query: request.query, confirm: !!confirm,
    useInstallationToken: $("use-installation-token").checked || undefined,
  };
  if (request.body !== undefined) payload.body = request.body;
  $("execute").disabled = true;
  $("execute").setAttribute("aria-busy", "true");
  try {
    const result = await call("POST", "/ui/api-explorer/execute", payload);
    handleResult(result, op);
  } catch (error) {
    formErrors(`The request could not be sent: ${error.message}`);
  } finally {
    $("execute").disabled = session.expired;
    $("execute").removeAttribute("aria-busy");
  }
}

function handleResult(result, op) {
  const data = result.data || {};
  if (result.ok) {
    renderResponse(data);
    return;
  }
  if (result.status === 428) {
    askConfirmation(op);
    return;
  }
  if (result.status === 422 && Array.isArray(data.errors)) {
    const unplaced = $("use-raw").checked ? data.errors : state.form.showErrors(data.errors);
    const placed = data.errors.length - unplaced.length;
    const summary = placed
      ? `${data.message || "Some fields are invalid."} ${placed} field${placed === 1 ? " is" : "s are"} marked below.`
      : data.message || "Some fields are invalid.";
    // With errors beside fields, the first invalid field has the focus: keep it in view.
    formErrors(summary, unplaced, { scroll: placed === 0 });
    return;
  }
  const extra = [];
  if (data.retry_after) extra.push(`Try again in ${data.retry_after} s.`);
  if (Array.isArray(data.suggestions) && data.suggestions.length) {
    extra.push(`Did you mean: ${data.suggestions.map((s) => s.operationId).join(", ")}?`);
  }
  formErrors(`${result.status} ${data.error || "error"}: ${data.message || "The call was refused."} ${extra.join(" ")}`.trim());
}

function formErrors(message, errors = [], { scroll = true } = {}) {
  const box = $("form-errors");
  replace(box, el("p", {}, message),
    errors.length ? el("ul", {}, errors.map((e) => el("li", {}, `${e.location}${e.field ? ` ${e.field}` : ""}: ${e.message}`))) : null);
  show(box, true);
  if (scroll) box.scrollIntoView({ block: "nearest" });
}

function askConfirmation(op) {
  $("confirm-text").textContent = `${op.method} ${op.path} may change data in your Clockify workspace. Send it?`;
  show($("confirm-panel"), true);
  $("confirm-send").focus();
}

// ---------------------------------------------------------------- response viewer
function renderResponse(data) {
  show($("response"), true);
  const status = $("resp-status");
  status.textContent = String(data.status);
  status.className = `status ${data.status < 400 ? "ok" : data.status < 500 ? "client-error" : "server-error"}`;
  $("resp-time").textContent = `${Math.round(data.duration_ms)} ms`;
  $("resp-url").textContent = `${data.request.method} ${data.request.url}`;
  const headers = clear($("resp-headers"));
  for (const [name, value] of Object.entries(data.headers || {})) headers.append(el("dt", {}, name), el("dd", {}, value));
  const box = clear($("resp-body-box"));
  if (data.truncated) box.append(el("p", { className: "muted" }, "The body was too large and has been cut."));
  box.append(jsonViewer(data.body, state.operation ? state.operation.operationId : "response"));
  $("response").scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------- all pages
let pagesRun = null;

async function fetchAll() {
  const op = state.operation;
  const request = currentRequest();
  if (!request) return;
  state.form.clearErrors();
  show($("form-errors"), false);
  pagesRun = new AbortController();
  $("fetch-all").disabled = true;
  $("execute").disabled = true;
  show($("pages-progress"), true);
  show($("pages-cancel"), true);
  $("pages-status").textContent = "Fetching the first page…";
  const payload = { operationId: op.operationId, pathParams: request.pathParams, query: request.query };
  try {
    const result = await fetchAllPages({
      headers: session.headers({}), payload, signal: pagesRun.signal,
      onProgress: (p) => {
        const left = p.rateLimitRemaining ? ` · Clockify budget left: ${p.rateLimitRemaining}` : "";
        $("pages-status").textContent = `${p.pages} page${p.pages === 1 ? "" : "s"} · ${p.items} items · up to ${p.requestsLeft} more requests${left}`;
      },
    });
    if (!result.ok) {
      show($("pages-progress"), false);
      handleResult(result, op);
      return;
    }
    const { done } = result;
    $("pages-status").textContent = `${done.pages} page${done.pages === 1 ? "" : "s"}, ${done.items} items: ${stopReason(done.stoppedBy)}.`;
    renderResponse(done);
  } catch (error) {
    $("pages-status").textContent = error.name === "AbortError" ? "Cancelled." : `The run failed: ${error.message}`;
  } finally {
    pagesRun = null;
    show($("pages-cancel"), false);
    $("fetch-all").disabled = false;
    $("execute").disabled = session.expired;
  }
}

// ---------------------------------------------------------------- copy as code
const LANGUAGE_NAMES = { curl: "curl command", python: "Python script", javascript: "JavaScript" };

/** Ask the server for the code of the current call (it checks the call as Execute would). */
async function copyCode() {
  const op = state.operation;
  const request = currentRequest();
  if (!request) return;
  const language = $("copy-language").value;
  const payload = { operationId: op.operationId, pathParams: request.pathParams, query: request.query };
  if (request.body !== undefined) payload.body = request.body;
  const result = await call("POST", "/ui/api-explorer/snippets", payload);
  if (!result.ok) {
    handleResult(result, op);
    return;
  }
  const code = result.data[language];
  const area = $("code-text");
  area.value = code;
  $("code-label").textContent = LANGUAGE_NAMES[language];
  show(area, true);
  const note = "Replace <your API key> with your Clockify API key (Profile settings → API).";
  try {
    await navigator.clipboard.writeText(code);
    $("copy-status").textContent = `${LANGUAGE_NAMES[language]} copied. ${note}`;
  } catch (error) {
    area.focus();
    area.select();
    $("copy-status").textContent = `Copy the selected ${LANGUAGE_NAMES[language]} with Ctrl+C. ${note}`;
  }
}

// ---------------------------------------------------------------- wiring
const isAdmin = ["OWNER", "ADMIN"].includes(String(bootstrap.role || "").toUpperCase());
const eventsTab = new EventsTab({ call, renderPayload: (payload, name) => jsonViewer(payload, name) });
const dataTab = new DataTab({ call, isAdmin, viewer: jsonViewer });
const historyTab = new HistoryTab({
  call,
  isAdmin,
  onOpen: (item) => openFromHistory(item, false),
  onRunAgain: (item) => openFromHistory(item, true),
});

function wire() {
  setupTabs();
  $("search").addEventListener("input", (event) => state.catalog && renderList(event.target.value));
  $("back").addEventListener("click", backToList);
  $("op-form").addEventListener("submit", (event) => { event.preventDefault(); execute(false); });
  $("confirm-send").addEventListener("click", () => execute(true));
  $("confirm-cancel").addEventListener("click", () => { show($("confirm-panel"), false); $("execute").focus(); });
  $("fill-examples").addEventListener("click", () => {
    state.form.fillExamples();
    $("raw-editor").value = JSON.stringify(state.form.read(), null, 2);
  });
  $("raw-from-form").addEventListener("click", () => { $("raw-editor").value = JSON.stringify(state.form.read(), null, 2); });
  $("copy-code").addEventListener("click", copyCode);
  $("fetch-all").addEventListener("click", fetchAll);
  $("pages-cancel").addEventListener("click", () => { if (pagesRun) pagesRun.abort(); $("fetch-all").focus(); });
  show($("tab-events"), isAdmin);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("confirm-panel").hidden) { show($("confirm-panel"), false); $("execute").focus(); }
  });
  renderSessionLine();
  setInterval(renderSessionLine, 30000);
  loadCatalog();
}

wire();
