-- wrk script: POST the form with a fresh submission key per request.
-- RALLY_TS is a signed render time taken from one GET of the form.
-- Everything but the counter is built once per thread, and the counter is
-- fixed-width so the body's length is fixed: each request costs the load
-- generator one format and one concatenation.
local ts = os.getenv("RALLY_TS")
local threads = 0
local counter = 0
local head, mid, tail

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  local id = string.format("%08x", thread_id)
  local n = string.rep("0", 12)
  local key_part = "_key=" .. id .. "-0000-4000-8000-"
  mid = "&_ts=" .. ts .. "&name=Bench+Person&email=p" .. id .. "x"
  tail = "%40bench.example&website="
  local length = #key_part + #n + #mid + #n + #tail
  head = "POST /f/demo HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
    "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " ..
    length .. "\r\n\r\n" .. key_part
end

function request()
  counter = counter + 1
  local n = string.format("%012d", counter)
  return head .. n .. mid .. n .. tail
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d, errors: connect %d read %d write %d timeout %d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
