-- wrk script: POST the form with a fresh submission key per request.
-- RALLY_TS is a signed render time taken from one GET of the form.
local ts = os.getenv("RALLY_TS")
local counter = 0
local threads = 0
-- thread_id is a global that setup() gives each thread's own Lua state.

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local key = string.format("%08x-0000-4000-8000-%012d", thread_id, counter)
  local body = "_key=" .. key .. "&_ts=" .. ts ..
    "&name=Bench+Person&email=p" .. thread_id .. "x" .. counter .. "%40bench.example&website="
  return wrk.format("POST", "/f/demo", { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function done(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d, errors: connect %d read %d write %d timeout %d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
