-- peek: one key's counters now, read-only (EVAL_RO), for /status, the
-- admin API and tests. Nothing is reaped: expired leases are counted
-- apart.
--
-- KEYS: 1 state hash, 2 lease zset
-- ARGV: 1 now µs (0: Redis TIME), 2 rpm, 3 tpm
-- Returns integers: spent µUSD, reserved µUSD, session start µs, session
-- used, session reserved, live leases, expired leases, rpm level, rpm
-- reset µs, tpm level, tpm reset µs, now µs.
local S, L = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
if now == 0 then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])
local MINUTE = 60000000
local v = redis.call('HMGET', S, 'sp', 'rs', 'ss', 'su', 'sr', 'rt', 'rl', 'tt', 'tl')
local function level(tat, lim, cap)
	tat, lim = tonumber(tat), tonumber(lim)
	if cap <= 0 then return 0 end
	if not tat or not lim or lim <= 0 then return cap end
	local ahead = tat - now
	if ahead < 0 then ahead = 0 end
	local l = lim - ahead * lim / MINUTE
	if l > cap then l = cap end
	return l
end
local function untilFull(l, cap)
	if cap <= 0 or l >= cap then return 0 end
	return (cap - l) * MINUTE / cap
end
local total = redis.call('ZCARD', L)
local live = redis.call('ZCOUNT', L, string.format('(%d', now), '+inf')
local rl, tl = level(v[6], v[7], rpm), level(v[8], v[9], tpm)
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0,
	tonumber(v[5]) or 0, live, total - live, math.floor(rl), math.floor(untilFull(rl, rpm)),
	math.floor(tl), math.floor(untilFull(tl, tpm)), now}
