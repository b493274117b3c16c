-- Shared by the phase scripts of Spoke's benchmark (bench/run.sh; see bench/README.md).
--
-- Every phase script is run as
--   wrk -t1 -c64 -d10s -s bench/wrk/<phase>.lua http://HOST:PORT -- TOKEN DATAFILE
-- where DATAFILE is what `seed` wrote: the id range of the seeded contacts and a uniform
-- sample of (id, email, firstname). done() prints one parseable line:
--   BENCH_RESULT requests=… duration_us=… rps=… p50_us=… p99_us=… non2xx=… …
-- With BENCH_PROBE=1 in the environment the script also counts response statuses and done()
-- prints `BENCH_PROBE statuses=200:12,501:3 first_error=…` (run.sh probes each phase once,
-- briefly, to tell "not implemented" (501) from a working endpoint; the measured runs do not
-- define response(), which keeps wrk's own CPU use low).

local M = {}

M.probe = os.getenv("BENCH_PROBE") ~= nil

M.ids = {}
M.emails = {}
M.names = {}
M.id_min, M.id_max, M.contiguous = 0, 0, false
M.score_max = 1000000

local threads = {}

function M.setup(thread)
  table.insert(threads, thread)
end

function M.init(args)
  local token = args[1] or os.getenv("SPOKE_TOKEN") or ""
  local path = args[2] or os.getenv("BENCH_DATA")
  if path == nil then
    error("usage: wrk ... -s <script> <url> -- TOKEN DATAFILE")
  end
  for line in io.lines(path) do
    local kind, a, b, c = line:match("^(%S+)%s+(%S+)%s*(%S*)%s*(%S*)")
    if kind == "rec" then
      local n = #M.ids + 1
      M.ids[n] = a
      M.emails[n] = b
      M.names[n] = c
    elseif kind == "ids" then
      M.id_min, M.id_max, M.contiguous = tonumber(a), tonumber(b), c == "1"
    elseif kind == "score_max" then
      M.score_max = tonumber(a)
    end
  end
  if #M.ids == 0 then
    error("no records in " .. path)
  end
  -- A different sequence per wrk thread and per run.
  local addr = tonumber((tostring({}):match("0x(%x+)")) or "0", 16) or 0
  math.randomseed(os.time() + addr % 1000003)
  M.tag = string.format("%d%04d", os.time() % 100000000, math.random(0, 9999))
  M.auth = "Bearer " .. token
  M.headers = { ["Authorization"] = M.auth }
  M.json_headers = { ["Authorization"] = M.auth, ["Content-Type"] = "application/json" }
end

-- A random id of a seeded contact: anywhere in the id range when it is contiguous, else from
-- the sample.
function M.random_id()
  if M.contiguous then
    return string.format("%d", math.random(M.id_min, M.id_max))
  end
  return M.ids[math.random(1, #M.ids)]
end

-- A random sampled record: id, email, firstname.
function M.random_record()
  local i = math.random(1, #M.ids)
  return M.ids[i], M.emails[i], M.names[i]
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(ch)
    return string.format("\\u%04x", ch:byte())
  end) .. '"'
end
M.json_string = json_string

function M.get(path)
  return wrk.format("GET", path, M.headers)
end

function M.send_json(method, path, body)
  return wrk.format(method, path, M.json_headers, body)
end

-- Probe mode only: count statuses, keep the first error body.
statuses = {}
first_error = ""

function M.response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and first_error == "" then
    first_error = tostring(status) .. " " .. (body or ""):sub(1, 300):gsub("%s+", " ")
  end
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d"
      .. " mean_us=%.0f max_us=%d non2xx=%d connect_errors=%d read_errors=%d"
      .. " write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, e.status, e.connect, e.read, e.write, e.timeout))
  if M.probe then
    local counts = {}
    local first = ""
    for _, t in ipairs(threads) do
      for status, n in pairs(t:get("statuses") or {}) do
        counts[status] = (counts[status] or 0) + n
      end
      local fe = t:get("first_error") or ""
      if first == "" then
        first = fe
      end
    end
    local parts = {}
    for status, n in pairs(counts) do
      table.insert(parts, string.format("%d:%d", status, n))
    end
    table.sort(parts)
    io.write(string.format("BENCH_PROBE statuses=%s first_error=%s\n",
      table.concat(parts, ","), first))
  end
end

-- Installs the wrk callbacks; `request` builds one request.
function M.phase(request)
  _G.setup = M.setup
  _G.init = M.init
  _G.done = M.done
  _G.request = request
  if M.probe then
    _G.response = M.response
  end
end

return M
