-- wrk script for bench/run.sh: POSTs the JSON body in the file named by
-- BENCH_BODY_FILE to the URL given on the command line, and prints one
-- machine-readable line at the end:
--
--   RESULT requests=<n> rps=<req/s> p50_us=<µs> p99_us=<µs> errors=<n> non2xx=<n>
--
-- errors counts connect, read, write and timeout errors; non2xx counts
-- answers whose status was not 2xx or 3xx.

local path = os.getenv("BENCH_BODY_FILE")
if path == nil then
  error("BENCH_BODY_FILE is not set")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
-- BENCH_KEY, when set, is the client key sent (the keyed scenario).
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests,
    summary.requests / seconds,
    latency:percentile(50),
    latency:percentile(99),
    e.connect + e.read + e.write + e.timeout,
    e.status))
end
