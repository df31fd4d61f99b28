-- POSTs a distinct, realistic webhook body on every request (so none is deduplicated) and
-- prints the latency distribution and the answers' outcomes as one JSON line at the end.
-- Env: BENCH_TOKEN (Clockify-Signature), BENCH_EVENT, BENCH_WORKSPACE, BENCH_RUN (a prefix that
-- keeps bodies of separate runs distinct), BENCH_MAX_REQUESTS (per thread: the thread stops
-- after that many answers, so a run is bounded in requests as well as by wrk's -d).
local counter = 0
local token = os.getenv("BENCH_TOKEN") or ""
local event = os.getenv("BENCH_EVENT") or "NEW_TIME_ENTRY"
local workspace = os.getenv("BENCH_WORKSPACE") or "ws-bench"
local run = os.getenv("BENCH_RUN") or "run"
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
local threads = {}
thread_id = 0
answered = 0
accepted = 0
duplicate = 0
other = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Clockify-Signature"] = token
  wrk.headers["Clockify-Webhook-Event-Type"] = event
end

function request()
  counter = counter + 1
  local id = string.format("%s-%02d%010d", run, thread_id, counter)
  local body = string.format(
    '{"id":"te-%s","workspaceId":"%s","userId":"user-%d","projectId":"proj-%d",' ..
    '"description":"Benchmark entry %s","billable":true,"tagIds":["tag-1","tag-2"],' ..
    '"timeInterval":{"start":"2026-11-26T08:00:00Z","end":"2026-11-26T09:30:00Z","duration":"PT1H30M"}}',
    id, workspace, counter % 50, counter % 300, id)
  return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 200 and body:find('"accepted"', 1, true) then
    accepted = accepted + 1
  elseif status == 200 and body:find('"duplicate"', 1, true) then
    duplicate = duplicate + 1
  elseif status < 200 or status > 299 then
    other = other + 1
  end
  if max_requests > 0 and answered >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = {answered = 0, accepted = 0, duplicate = 0, other = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
  end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"answered":%d,"accepted":%d,"duplicate":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    totals.answered, totals.accepted, totals.duplicate, totals.other))
end
