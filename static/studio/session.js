// The user token: read once from the page URL, removed from the address bar, kept in memory
// only, and sent as "Authorization: Bearer" on every call to the add-on.
//
// Clockify's user tokens last 30 minutes. Before they expire the page asks Clockify for a new
// one with the documented window message {action: "refreshAddonToken"}. How the fresh token
// comes back is not documented (UNCONFIRMED): we accept a message event from a Clockify frame
// ancestor whose data is the token itself, or an object / JSON string carrying it in `token`,
// `authToken`, `auth_token` or `body`. Each candidate is checked by the server (GET /ui/session)
// before it replaces the current token. If none arrives, the page says so when the token expires.

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const REFRESH_BEFORE_SECONDS = [120, 30];

export class Session {
  constructor(bootstrap, { onExpired, onRefreshed }) {
    this.info = bootstrap;
    this.onExpired = onExpired;
    this.onRefreshed = onRefreshed;
    this.timers = [];
    this.expired = false;
    this.token = takeTokenFromUrl();
    this.ancestors = (bootstrap.frameAncestors || []).map(originPattern).filter(Boolean);
    window.addEventListener("message", (event) => this.receive(event));
    this.schedule();
  }

  /** Seconds until the token expires (Infinity when it has no exp). */
  secondsLeft() {
    if (!this.info.expiresAt) return Infinity;
    const skew = (this.info.serverTime || Date.now() / 1000) - this.loadedAt();
    return this.info.expiresAt - (Date.now() / 1000 + skew);
  }

  loadedAt() {
    if (this._loadedAt === undefined) this._loadedAt = Date.now() / 1000;
    return this._loadedAt;
  }

  schedule() {
    this.timers.forEach(clearTimeout);
    this.loadedAt();
    const left = this.secondsLeft();
    if (!Number.isFinite(left)) return;
    for (const before of REFRESH_BEFORE_SECONDS) {
      this.timers.push(setTimeout(() => requestRefresh(), Math.max(0, (left - before) * 1000)));
    }
    this.timers.push(setTimeout(() => this.expire(), Math.max(0, left * 1000)));
  }

  expire() {
    if (this.expired) return;
    this.expired = true;
    requestRefresh();
    this.onExpired();
  }

  /** Headers for a call to the add-on. */
  headers(extra = {}) {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  async receive(event) {
    if (!this.fromAncestor(event.origin)) return;
    const candidate = tokenIn(event.data);
    if (!candidate || candidate === this.token) return;
    try {
      const response = await fetch("/ui/session", { headers: { Authorization: `Bearer ${candidate}` } });
      if (!response.ok) return;
      const info = await response.json();
      if (info.workspaceId !== this.info.workspaceId) return;
      this.token = candidate;
      this.info = { ...this.info, ...info };
      this._loadedAt = Date.now() / 1000;
      this.expired = false;
      this.schedule();
      this.onRefreshed();
    } catch (error) {
      // A token we cannot verify is ignored; the expiry message stays accurate.
    }
  }

  fromAncestor(origin) {
    if (origin === window.location.origin) return true;
    return this.ancestors.some((pattern) => pattern.test(origin));
  }
}

/** Ask Clockify for a fresh token (documented window message). */
export function requestRefresh() {
  const target = window.top && window.top !== window ? window.top : null;
  if (target) target.postMessage(JSON.stringify({ action: "refreshAddonToken" }), "*");
}

function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("auth_token");
  if (token !== null) {
    url.searchParams.delete("auth_token");
    window.history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
  }
  return token;
}

function tokenIn(data, depth = 0) {
  if (depth > 3 || data === null || data === undefined) return null;
  if (typeof data === "string") {
    const text = data.trim();
    if (JWT.test(text)) return text;
    if (text.startsWith("{")) {
      try { return tokenIn(JSON.parse(text), depth + 1); } catch (error) { return null; }
    }
    return null;
  }
  if (typeof data === "object") {
    for (const key of ["token", "authToken", "auth_token", "body", "payload"]) {
      const found = tokenIn(data[key], depth + 1);
      if (found) return found;
    }
  }
  return null;
}

function originPattern(source) {
  if (source === "'self'") return new RegExp(`^${escape(window.location.origin)}$`);
  const match = /^(https?):\/\/(\*\.)?([^/]+)$/.exec(source);
  if (!match) return null;
  const [, scheme, wildcard, host] = match;
  return new RegExp(`^${scheme}://${wildcard ? "[^/]+\\." : ""}${escape(host)}$`);
}

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
