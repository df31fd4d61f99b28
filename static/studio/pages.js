// "Fetch all pages": POST /ui/api-explorer/all-pages answers NDJSON, a progress line per page and
// a final "done" line with the merged body. Aborting the fetch closes the connection, which is
// how the server learns to stop.

const PAGE_SIZE_PARAMS = ["page-size", "pageSize"];

/** True for a GET operation with `page` and a page-size query parameter. */
export function isPaginated(operation) {
  const names = new Set((operation.parameters || []).filter((p) => p.in === "query").map((p) => p.name));
  return operation.method === "GET" && names.has("page") && PAGE_SIZE_PARAMS.some((name) => names.has(name));
}

/**
 * Run it: onProgress({pages, items, requestsLeft, rateLimitRemaining}) per page.
 * Resolves to {ok: true, done} or {ok: false, status, data} (a refusal before the first page).
 */
export async function fetchAllPages({ headers, payload, signal, onProgress }) {
  const response = await fetch("/ui/api-explorer/all-pages", {
    method: "POST", headers: { ...headers, "Content-Type": "application/json", Accept: "application/x-ndjson" },
    body: JSON.stringify(payload), signal,
  });
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    return { ok: false, status: response.status, data };
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let done = null;
  for (;;) {
    const { value, done: finished } = await reader.read();
    if (value) buffered += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      const event = JSON.parse(line);
      if (event.type === "progress") onProgress(event);
      else if (event.type === "done") done = event;
    }
    if (finished) break;
  }
  return done ? { ok: true, done } : { ok: false, status: 0, data: { message: "The run ended without a result." } };
}

/** Why a run stopped, in words. */
export function stopReason(code) {
  return {
    last_page: "all pages fetched",
    max_pages: "stopped at the page limit (STUDIO_MAX_PAGES)",
    time_limit: "stopped at the time limit",
    size_limit: "stopped: the merged result is too large",
    not_a_list: "the answer is not a list",
    clockify_error: "Clockify answered an error",
  }[code] || `stopped (${code})`;
}
