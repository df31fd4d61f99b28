// The Workspace data tab: the bootstrap's progress, the cached collections (with how fresh each
// is, when the server says so) and one collection's items, searchable, in the response viewer
// (table first).

import { clear, el, pagerButtons, replace, show } from "./dom.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 50;

export class DataTab {
  /** options: {call, isAdmin, viewer(value, name, initialView)} */
  constructor(options) {
    this.options = options;
    this.loaded = false;
    this.source = null;
    this.timer = null;
    show($("bootstrap-start"), options.isAdmin);
    $("bootstrap-refresh").addEventListener("click", () => this.load());
    $("bootstrap-start").addEventListener("click", () => startBootstrap(options.call));
    $("data-search").addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.source && this.openCollection(this.source, 1), 250);
    });
  }

  show() {
    if (!this.loaded) this.load();
  }

  async load() {
    this.loaded = true;
    const call = this.options.call;
    loadBootstrapStatus(call);
    const result = await call("GET", "/ui/workspace-data");
    const box = clear($("data-counts"));
    if (!result.ok) {
      box.append(el("p", { className: "muted" }, `Cached data is unavailable (${result.status}).`));
      return;
    }
    const entries = Object.entries(result.data.counts || {});
    if (!entries.length) {
      box.append(el("p", { className: "muted" }, "Nothing is cached for this workspace yet."));
      return;
    }
    box.append(el("ul", { className: "collections" }, entries.map(([source, count]) => el("li", {},
      el("button", { type: "button", className: "secondary small", "aria-controls": "data-items", onclick: () => this.openCollection(source, 1, true) },
        `${source} (${count})`)))));
    box.append(freshnessView(result.data.collections || []));
  }

  async openCollection(source, page, fresh = false) {
    if (fresh) $("data-search").value = "";
    this.source = source;
    show($("data-search-row"), true);
    $("data-search-label").textContent = `Search ${source}`;
    const params = new URLSearchParams({ source, page: String(page), pageSize: String(PAGE_SIZE) });
    const text = $("data-search").value.trim();
    if (text) params.set("q", text);
    const box = $("data-items");
    const result = await this.options.call("GET", `/ui/workspace-data?${params}`);
    if (!result.ok) {
      replace(box, el("p", { className: "muted" }, `Could not load ${source} (${(result.data && result.data.message) || result.status}).`));
      return;
    }
    const { items, total, pageSize } = result.data;
    const pages = Math.max(1, Math.ceil(total / pageSize));
    replace(box,
      el("h3", {}, `${source}: ${total} item${total === 1 ? "" : "s"}${text ? ` matching “${text}”` : ""} · page ${page} of ${pages}`),
      items.length ? this.options.viewer(items.map((item) => item.data), source, "table") : el("p", { className: "muted" }, "No items match."),
      el("div", { className: "pager" }, ...pagerButtons(page, pages, (n) => this.openCollection(source, n))));
  }
}

/** How each cached collection stays fresh (webhook events or the periodic refresh) and when it
 * was last listed, as the server reports it in `collections`. */
function freshnessView(collections) {
  return el("details", { id: "data-freshness" }, el("summary", {}, "How each collection stays fresh"),
    el("ul", {}, collections.map((c) => el("li", {},
      el("strong", {}, c.source), ": ",
      c.freshness === "events" ? `webhook events (${(c.events || []).join(", ")})` : "periodic refresh",
      c.lastRefreshedAt ? ` · last listed ${new Date(c.lastRefreshedAt).toLocaleString()}` : " · never listed"))));
}

async function loadBootstrapStatus(call) {
  const box = $("bootstrap-status");
  const result = await call("GET", "/bootstrap/status");
  if (result.status === 404 && (!result.data || result.data.error === "not_found")) {
    replace(box, el("p", { className: "muted" }, "Bootstrap progress is not available on this server."));
    return;
  }
  if (!result.ok || !result.data) {
    replace(box, el("p", { className: "muted" }, `Bootstrap progress is unavailable (${(result.data && result.data.message) || result.status}).`));
    return;
  }
  replace(box, bootstrapView(result.data));
}

function bootstrapView(data) {
  const job = data.job || data.bootstrap || data;
  if (job.status === "none") return [el("p", { className: "muted" }, "No bootstrap has run for this workspace yet.")];
  const done = job.operations_done ?? job.operationsDone;
  const total = job.operations_total ?? job.operationsTotal;
  const parts = [el("p", {}, "Status: ", el("strong", {}, String(job.status ?? "unknown")))];
  if (Number.isFinite(done) && Number.isFinite(total) && total > 0) {
    parts.push(el("progress", { className: "progress", max: String(total), value: String(done), "aria-label": "Bootstrap progress" }),
      el("p", { className: "muted" }, `${done} of ${total} operations`));
  }
  const items = job.items_stored ?? job.itemsStored;
  if (items !== undefined) parts.push(el("p", { className: "muted" }, `${items} items stored`));
  if (job.status === "waiting" && job.resume_at) {
    parts.push(el("p", { className: "waiting" }, `Clockify is throttling this workspace: the bootstrap resumes at ${new Date(job.resume_at).toLocaleString()}.`));
  }
  if (job.started_at) parts.push(el("p", { className: "muted" }, `Started ${new Date(job.started_at).toLocaleString()}`));
  if (job.finished_at) parts.push(el("p", { className: "muted" }, `Finished ${new Date(job.finished_at).toLocaleString()}`));
  const errors = job.errors || [];
  if (Array.isArray(errors) && errors.length) {
    parts.push(el("details", {}, el("summary", {}, `${errors.length} error${errors.length === 1 ? "" : "s"}`),
      el("pre", { className: "body" }, JSON.stringify(errors, null, 2))));
  }
  return parts;
}

async function startBootstrap(call) {
  const button = $("bootstrap-start");
  button.disabled = true;
  const result = await call("POST", "/bootstrap");
  button.disabled = false;
  if (result.status === 202 || result.status === 409) {
    $("bootstrap-message").textContent = result.status === 202 ? "Bootstrap started." : "A bootstrap is already running.";
  } else {
    $("bootstrap-message").textContent = `Could not start a bootstrap: ${(result.data && result.data.message) || result.status}`;
  }
  loadBootstrapStatus(call);
}

