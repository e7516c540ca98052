--[[
The gateway's token check on the hot path (access_by_lua in every protected location).

A decision is "this Authorization header belongs to user X until time T" or "this header is
refused, because Y, until T". Decisions are kept at two levels, both keyed by the whole
Authorization header:

  1. a plain Lua table in each nginx worker: a hit is one table lookup (LuaJIT hashed the
     header once, when the request's headers became Lua strings) and a clock comparison;
  2. the shared-memory dictionary `auth_decisions`, shared by all workers, so a token is
     validated once per gateway, not once per worker.

Only when neither knows the header does the njs validator run (location /_auth -> auth.js:
RS256 signature against identity's JWKS, exp/nbf/iat, iss, aud, typ, sub). Its answer is kept
for as long as it allows (X-Auth-Cache-Until): a "yes" never beyond the token's exp, a refusal
a few seconds, an outage (identity's keys unreachable) never.

The key is the header itself, not a hash of it: it lives only in memory (never on disk, never
in a log), and an exact-match key means no collision can map a forged header onto another
token's decision. Both levels are bounded: the shared dictionary evicts its least recently
used entries when full, the worker table is emptied when it reaches MAX_WORKER_ENTRIES. Losing
an entry only costs one more validation.

Measured (valgrind, instructions per request on top of a bare proxy): this layout ~3,500;
the same check through ngx.var.http_authorization and the shared dictionary alone ~18,000
(reading ngx.var and hashing a ~700-byte key in the dictionary dominate). See
docs/adr/0007-token-decisions-in-lua.md.

Written for the lua-nginx-module 0.10.x that Debian 12 ships (libnginx-mod-http-lua).
]]

local shared_decisions = ngx.shared.auth_decisions
local capture = ngx.location.capture
local get_headers = ngx.req.get_headers
local exit = ngx.exit
local now = ngx.now
local update_time = ngx.update_time
local var = ngx.var
local tonumber = tonumber
local type = type

local UNAUTHORIZED = ngx.HTTP_UNAUTHORIZED
local HTTP_OK = ngx.HTTP_OK
local ACCEPTED, REFUSED = 0, 1       -- shared dictionary flags (get() returns nil for 0)
local MAX_KEY_BYTES = 8192           -- nginx's own header limit (large_client_header_buffers)
local MAX_WORKER_ENTRIES = 10000     -- ~10 MB per worker at ~1 KB per header

-- header -> {accepted, user id or refusal detail, until (unix time, seconds)}
local worker_decisions, worker_entries = {}, 0

local _M = {}

local function remember_in_worker(authorization, accepted, value, until_time)
    if worker_entries >= MAX_WORKER_ENTRIES then
        worker_decisions, worker_entries = {}, 0
    end
    worker_decisions[authorization] = {accepted, value, until_time}
    worker_entries = worker_entries + 1
end

-- A decision another request (of any worker) already got from the validator, or nil.
-- The shared value is "<until> <user id or detail>".
local function shared_decision(authorization)
    local stored, flags = shared_decisions:get(authorization)
    if not stored then
        return nil
    end
    local space = stored:find(" ", 1, true)
    local until_time = tonumber(stored:sub(1, space - 1))
    local decision = {flags ~= REFUSED, stored:sub(space + 1), until_time}
    remember_in_worker(authorization, decision[1], decision[2], until_time)
    return decision
end

-- Ends the request with 401; the error page (/_problem/401) turns $auth_error and
-- $auth_unavailable into the problem+json body (or a 503 when identity is unreachable).
local function refuse(detail, unavailable, cache_status)
    var.auth_error = detail
    var.auth_cache = cache_status
    if unavailable then
        var.auth_unavailable = "1"
    end
    return exit(UNAUTHORIZED)
end

-- Asks the validator, keeps its answer as long as it allows, and lets the request through
-- or refuses it.
local function validate(authorization)
    local reply = capture("/_auth")
    local header = reply.header
    local until_time = authorization and tonumber(header["X-Auth-Cache-Until"])
    update_time()  -- the cached clock may lag; an entry must not outlive the token
    local seconds = until_time and until_time - now()
    if seconds and seconds < 0.001 then  -- the dictionary's resolution; 0 would mean forever
        seconds = nil
    end

    local user_id = header["X-User-Id"]
    if reply.status == HTTP_OK and user_id then
        if seconds then
            -- A full dictionary evicts its least recently used entries; a failed set only
            -- means another validation later, so its result is not checked.
            shared_decisions:set(authorization, until_time .. " " .. user_id, seconds, ACCEPTED)
            remember_in_worker(authorization, true, user_id, until_time)
        end
        var.auth_user_id = user_id
        var.auth_cache = "MISS"
        return
    end

    local detail = header["X-Auth-Error"] or "Missing or invalid access token"
    local unavailable = header["X-Auth-Unavailable"] ~= nil or reply.status >= 500
    if seconds and not unavailable then
        shared_decisions:set(authorization, until_time .. " " .. detail, seconds, REFUSED)
        remember_in_worker(authorization, false, detail, until_time)
    end
    return refuse(detail, unavailable, "MISS")
end

function _M.check()
    -- get_headers() rather than ngx.var.http_authorization: measured several times cheaper.
    -- Two Authorization headers come as a table: never cached, the validator decides (it
    -- sees the first, as every service does).
    local authorization = get_headers()["authorization"]
    if type(authorization) ~= "string" or #authorization > MAX_KEY_BYTES then
        return validate(nil)
    end

    local decision = worker_decisions[authorization]
    if not decision or decision[3] <= now() then
        decision = shared_decision(authorization)
        if not decision or decision[3] <= now() then
            return validate(authorization)
        end
    end
    if decision[1] then
        var.auth_user_id = decision[2]
        var.auth_cache = "HIT"
        return
    end
    return refuse(decision[2], false, "HIT")
end

return _M
