// The Events tab (workspace owners and admins): the webhook deliveries the add-on stored for this
// workspace (GET /ui/events), a payload viewer (GET /ui/events/<id>) and Retry on a failed event
// (POST /ui/events/<id>/retry, the path of `flask webhooks replay`).

import { clear, el, pagerButtons, replace } from "./dom.js";

const PAGE_SIZE = 20;

export class EventsTab {
  /** options: {call, onPayload(title, value)} */
  constructor(options) {
    this.options = options;
    this.page = 1;
    this.loaded = false;
    const $ = (id) => document.getElementById(id);
    this.type = $("events-type");
    this.status = $("events-status");
    this.list = $("events-list");
    this.summary = $("events-summary");
    this.pager = $("events-pager");
    this.message = $("events-message");
    this.type.addEventListener("change", () => this.load(1));
    this.status.addEventListener("change", () => this.load(1));
    $("events-refresh").addEventListener("click", () => this.load(this.page));
  }

  show() {
    if (!this.loaded) this.load(1);
  }

  async load(page) {
    this.loaded = true;
    this.page = page;
    const params = new URLSearchParams({ page: String(page), pageSize: String(PAGE_SIZE) });
    if (this.type.value) params.set("eventType", this.type.value);
    if (this.status.value) params.set("status", this.status.value);
    this.summary.textContent = "Loading…";
    const result = await this.options.call("GET", `/ui/events?${params}`);
    if (!result.ok) {
      this.summary.textContent = `Events are unavailable: ${(result.data && result.data.message) || result.status}`;
      clear(this.list);
      clear(this.pager);
      return;
    }
    const { items, total, eventTypes, statuses } = result.data;
    fillSelect(this.type, "Any event type", eventTypes);
    fillSelect(this.status, "Any status", statuses);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    this.summary.textContent = total ? `${total} event${total === 1 ? "" : "s"} · page ${page} of ${pages}` : "No events match.";
    replace(this.list, items.map((item) => this.row(item)));
    replace(this.pager, ...pagerButtons(page, pages, (n) => this.load(n)));
  }

  row(item) {
    const when = new Date(item.receivedAt);
    const viewer = el("div", { className: "payload" });
    const payloadButton = el("button", { type: "button", className: "secondary small", "aria-expanded": "false",
      "aria-label": `Payload of event ${item.id}`, onclick: () => this.togglePayload(item, viewer, payloadButton) }, "Payload");
    const actions = [payloadButton];
    if (item.status === "failed") {
      actions.push(el("button", { type: "button", className: "small", "aria-label": `Retry event ${item.id}`,
        onclick: (event) => this.retry(item, event.currentTarget) }, "Retry"));
    }
    return el("li", { className: "history-item", "data-event-id": String(item.id) },
      el("div", { className: "history-head" },
        el("strong", { className: "history-operation" }, item.eventType),
        el("span", { className: `status event-${item.status}` }, item.status)),
      el("p", { className: "muted history-meta" },
        "Received ", el("time", { datetime: item.receivedAt }, when.toLocaleString()),
        ` · ${item.attempts} attempt${item.attempts === 1 ? "" : "s"}`),
      item.lastError ? el("p", { className: "field-error" }, `Last error: ${item.lastError}`) : null,
      el("div", { className: "actions" }, actions), viewer);
  }

  async togglePayload(item, viewer, button) {
    if (viewer.childNodes.length) {
      clear(viewer);
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const result = await this.options.call("GET", `/ui/events/${item.id}`);
    if (!result.ok) {
      replace(viewer, el("p", { className: "field-error" }, `Could not load the payload (${result.status}).`));
      return;
    }
    button.setAttribute("aria-expanded", "true");
    replace(viewer, this.options.renderPayload(result.data.payload, `event-${item.id}`));
  }

  async retry(item, button) {
    button.disabled = true;
    const result = await this.options.call("POST", `/ui/events/${item.id}/retry`);
    if (result.status === 202) {
      await this.load(this.page);
      this.message.textContent = result.data.enqueued
        ? `Event ${item.id} was queued again.` : `Event ${item.id} is already waiting for a worker.`;
      const again = this.list.querySelector(`[data-event-id="${item.id}"] button`);
      if (again) again.focus(); // the Retry button is gone: keep the focus on the same row
    } else {
      button.disabled = false;
      this.message.textContent = `Could not retry event ${item.id}: ${(result.data && result.data.message) || result.status}`;
    }
  }
}

function fillSelect(select, anyLabel, values) {
  const current = select.value;
  replace(select, el("option", { value: "" }, anyLabel), values.map((value) => el("option", { value }, value)));
  select.value = values.includes(current) ? current : "";
}
