-- wrk script for benchmarks/lookup_latency.py: random enterprises from LOOKUP_PICKS (one USCC per
-- line) with the key in LOOKUP_KEY; LOOKUP_PACE_MS > 0 spaces each connection's requests by a
-- random 0..2*pace ms (an offered load instead of as fast as possible). Every answer must be 200
-- with the consented field vat_paid_12m; the summary is one line of JSON.
local picks = {}
for line in io.lines(os.getenv("LOOKUP_PICKS")) do picks[#picks + 1] = line end
local key = os.getenv("LOOKUP_KEY")
local pace = tonumber(os.getenv("LOOKUP_PACE_MS") or "0")
bad = 0  -- global: done() collects it from each thread's state
local threads = {}
math.randomseed(os.time())

setup = function(thread) threads[#threads + 1] = thread end

request = function()
  local uscc = picks[math.random(#picks)]
  return wrk.format("GET", "/v1/enterprises/" .. uscc .. "/aggregates", {["Authorization"] = "Bearer " .. key})
end

delay = function()
  if pace > 0 then return math.random(0, 2 * pace) end
  return 0
end

response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"vat_paid_12m"', 1, true) then bad = bad + 1 end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("bad") end
  io.write(string.format(
    '{"lookups": %d, "seconds": %.3f, "failed": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    errors.connect + errors.read + errors.write + errors.timeout + failed,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
