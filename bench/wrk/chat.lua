-- wrk script for bench/served.py: POST /api/{user}/chat as users taken in
-- turn from a file of "user_id token" lines, each turn in a new conversation.
-- Usage: wrk ... -s chat.lua URL -- USERS_FILE MESSAGE
local users = {}
local body = nil
local next_user = 1

function init(args)
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%S+) (%S+)$")
    if id then users[#users + 1] = { id = id, token = token } end
  end
  body = '{"message": "' .. args[2] .. '"}'
  math.randomseed(tonumber(tostring({}):match("0x(%x+)") or "1", 16) % 2147483647)
  next_user = math.random(#users)
end

function request()
  local user = users[next_user]
  next_user = next_user % #users + 1
  return wrk.format("POST", "/api/" .. user.id .. "/chat",
    { ["Authorization"] = "Bearer " .. user.token, ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
