// The History tab: the user's own API Studio calls (GET /ui/history), newest first, with search,
// a status-class filter and paging. "Open" refills the operation's form with the call as it was
// audited; "Run again" does the same and executes it (writes still ask for confirmation).

import { clear, el, pagerButtons, replace } from "./dom.js";

const PAGE_SIZE = 20;
const STATUS_LABELS = { "": "Any status", "2xx": "2xx success", "3xx": "3xx redirect", "4xx": "4xx client error", "5xx": "5xx server error", refused: "Refused / no answer" };

export class HistoryTab {
  /** options: {call, isAdmin, onOpen(item), onRunAgain(item)} */
  constructor(options) {
    this.options = options;
    this.page = 1;
    this.loaded = false;
    this.timer = null;
    const $ = (id) => document.getElementById(id);
    this.search = $("history-search");
    this.status = $("history-status");
    this.scope = $("history-scope");
    this.list = $("history-list");
    this.summary = $("history-summary");
    this.pager = $("history-pager");
    for (const [value, label] of Object.entries(STATUS_LABELS)) this.status.append(el("option", { value }, label));
    $("history-scope-row").hidden = !options.isAdmin;
    this.search.addEventListener("input", () => { clearTimeout(this.timer); this.timer = setTimeout(() => this.load(1), 250); });
    this.status.addEventListener("change", () => this.load(1));
    this.scope.addEventListener("change", () => this.load(1));
    $("history-refresh").addEventListener("click", () => this.load(this.page));
  }

  /** Called when the tab is shown: load once, later on demand (Refresh). */
  show() {
    if (!this.loaded) this.load(1);
  }

  async load(page) {
    this.loaded = true;
    this.page = page;
    const params = new URLSearchParams({ page: String(page), pageSize: String(PAGE_SIZE) });
    if (this.search.value.trim()) params.set("q", this.search.value.trim());
    if (this.status.value) params.set("statusClass", this.status.value);
    if (this.scope.checked) params.set("scope", "workspace");
    this.summary.textContent = "Loading…";
    const result = await this.options.call("GET", `/ui/history?${params}`);
    if (!result.ok) {
      this.summary.textContent = `History is unavailable: ${(result.data && result.data.message) || result.status}`;
      clear(this.list);
      clear(this.pager);
      return;
    }
    const { items, total } = result.data;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    this.summary.textContent = total ? `${total} call${total === 1 ? "" : "s"} · page ${page} of ${pages}` : "No calls match.";
    replace(this.list, items.map((item) => this.row(item)));
    replace(this.pager, ...pagerButtons(page, pages, (n) => this.load(n)));
  }

  row(item) {
    const status = item.statusCode === null ? item.outcome : String(item.statusCode);
    const statusClass = item.statusCode === null ? "refused" : item.statusCode < 400 ? "ok" : item.statusCode < 500 ? "client-error" : "server-error";
    const when = new Date(item.createdAt);
    const name = item.operationId || `${item.method} ${item.path}`;
    const parameters = JSON.stringify(item.request || {}, null, 2);
    const actions = item.operationId ? [
      el("button", { type: "button", className: "secondary small", "aria-label": `Open ${name} from ${when.toLocaleString()}`, onclick: () => this.options.onOpen(item) }, "Open"),
      el("button", { type: "button", className: "secondary small", "aria-label": `Run again: ${name}`, onclick: () => this.options.onRunAgain(item) }, "Run again"),
    ] : [];
    return el("li", { className: "history-item", "data-call-id": String(item.id) },
      el("div", { className: "history-head" },
        el("span", { className: `method ${item.method}` }, item.method),
        el("strong", { className: "history-operation" }, name),
        el("span", { className: `status ${statusClass}` }, status)),
      el("p", { className: "muted history-meta" },
        el("time", { datetime: item.createdAt }, when.toLocaleString()),
        item.durationMs !== null ? ` · ${Math.round(item.durationMs)} ms` : "",
        this.scope.checked && item.userId ? ` · user ${item.userId}` : "",
        item.tokenKind === "installation" ? " · installation token" : ""),
      el("p", {}, el("code", {}, item.path)),
      item.error ? el("p", { className: "field-error" }, item.error) : null,
      el("details", {}, el("summary", {}, "Parameters sent"), el("pre", { className: "body" }, parameters)),
      el("div", { className: "actions" }, actions));
  }
}
