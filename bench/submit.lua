-- wrk script for POST /api/v1/cases/<id>/submit: every request submits a draft no other request touches
-- (a second submit of a submitted case is a cheap no-op, so reusing ids would flatter the numbers).
--
--   wrk -d<window + tail>s ... -s submit.lua http://127.0.0.1:PORT -- <ids file> <token> <wrk threads> <window ms>
--
-- The ids file has one draft id a line; thread t of n takes lines t, t+n, t+2n… If a thread runs out it sends
-- id 0 (a 404, counted as not 2xx and reported as "exhausted") rather than reuse an id.
--
-- Requests are sent during the first <window ms> only; wrk runs a few seconds longer so that every request
-- sent is answered before wrk stops (wrk drops the requests in flight when its time is up, and the server
-- would still submit those drafts). Then sent = 2xx + non-2xx, and the drafts the database shows submitted
-- must equal the 2xx exactly. The rate is 2xx / (last answer - first request), from a monotonic clock.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function init(args)
  local path, token, nthreads, window = args[1], args[2], tonumber(args[3]), tonumber(args[4])
  ids = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      ids[#ids + 1] = line
    end
    i = i + 1
  end
  pos, sent, ok, bad, exhausted = 0, 0, 0, 0, 0
  if tid == 0 then
    -- wrk calls request() once on the first thread before the run, to check the request it builds; that one
    -- is never sent (its draft is simply skipped).
    sent = -1
  end
  headers = { ["Authorization"] = "Bearer " .. token, ["Content-Length"] = "0" }
  t_start = now_ms()
  t_stop = t_start + window
  t_last = t_start
end

function delay()
  if now_ms() >= t_stop then
    return 3600000 -- the window is over: send nothing more (wrk's own end comes first)
  end
  return 0
end

function request()
  pos = pos + 1
  sent = sent + 1
  local id = ids[pos]
  if id == nil then
    exhausted = exhausted + 1
    id = "0"
  end
  return wrk.format("POST", "/api/v1/cases/" .. id .. "/submit", headers)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
  end
  t_last = now_ms()
end

done = function(summary, latency, requests)
  local sent_all, ok_all, bad_all, exhausted_all = 0, 0, 0, 0
  local first, last = nil, nil
  for _, t in ipairs(threads) do
    sent_all = sent_all + t:get("sent")
    ok_all = ok_all + t:get("ok")
    bad_all = bad_all + t:get("bad")
    exhausted_all = exhausted_all + t:get("exhausted")
    local s, l = t:get("t_start"), t:get("t_last")
    if first == nil or s < first then first = s end
    if last == nil or l > last then last = l end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"sent":%d,"ok_2xx":%d,"not_2xx":%d,"exhausted":%d,"window_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    sent_all, ok_all, bad_all, exhausted_all, (last - first) * 1000))
end
