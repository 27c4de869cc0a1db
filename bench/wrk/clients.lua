-- clients.lua: the two kinds of clients of limpet's benchmark, for wrk.
--
--   wrk ... -s clients.lua -- returning 50 [COOKIE]
--   wrk ... -s clients.lua -- new
--
-- "returning": clients that send back the cookie they were given. wrk's
-- Lua API has no handle on the connection a response arrived on, so a
-- client here is a cookie, not a connection: the first POOL responses that
-- carry a Set-Cookie each give one client its cookie (POOL is the number of
-- connections, so every connection's first request is a new client's
-- first visit), and from then on every request is a returning client's,
-- the clients taking turns. COOKIE, when given, is sent from the first
-- request on (for direct-to-backend runs, where nobody sets one), so the
-- request is the same size as a balancer's.
--
-- "new": clients that never send a cookie; each request is a first visit.
--
-- Either way the script counts responses that carry a Set-Cookie (a sticky
-- balancer sets one on every new client's response; on a returning
-- client's, limpet and nginx's sticky module re-send it, HAProxy's insert
-- mode does not), and done() prints one machine-readable line:
--   RESULT requests=N duration_us=N p50_us=N p90_us=N p99_us=N
--          errors_connect=N errors_read=N errors_write=N errors_status=N
--          errors_timeout=N set_cookie=N

local mode = "new"
local want = 0      -- cookies to collect before clients return
local have = 0      -- cookies collected
local turn = 0      -- the client whose turn it is
local pool = {}     -- one prepared request per returning client
local plain         -- the request without a cookie

-- set_cookie is global so that done() can read it from each thread.
set_cookie = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   mode = args[1] or "new"
   want = tonumber(args[2]) or 50
   plain = wrk.format()
   if mode == "returning" and args[3] then
      pool[1] = wrk.format(nil, nil, { Cookie = args[3] })
      have, want = 1, 1
   end
end

function request()
   if mode ~= "returning" or have < want then
      return plain
   end
   turn = turn % have + 1
   return pool[turn]
end

function response(status, headers, body)
   local sc = headers["Set-Cookie"] or headers["set-cookie"]
   if sc then
      set_cookie = set_cookie + 1
      if mode == "returning" and have < want then
         have = have + 1
         pool[have] = wrk.format(nil, nil, { Cookie = sc:match("^[^;]*") })
      end
   end
end

function done(summary, latency, requests)
   local sc = 0
   for _, t in ipairs(threads) do
      sc = sc + (t:get("set_cookie") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d " ..
      "errors_connect=%d errors_read=%d errors_write=%d errors_status=%d " ..
      "errors_timeout=%d set_cookie=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      e.connect, e.read, e.write, e.status, e.timeout, sc))
end
