-- admit: checks every limit of one client key for one request and, only
-- when all pass, counts the request against all of them; the same rules,
-- in the same order, as MemoryStore.Admit (limits/memory.go). One call,
-- one key's hash tag: it works on Redis Cluster.
--
-- KEYS: 1 state hash, 2 lease zset, 3 reservation hash, 4 tombstone hash
-- ARGV: 1 admission id, 2 now in µs (0: Redis TIME), 3 lease ttl µs,
--       4 estimated tokens, 5 estimated cost µUSD, 6 rpm, 7 tpm,
--       8 concurrency, 9 session window µs, 10 session tokens,
--       11 budget µUSD, 12 tombstone ttl s (every limit 0: none)
-- Returns integers: status (1 admitted, 2 admitted before: a replay,
-- 0 refused, 3 cancelled), why, never, wait µs, limit, remaining, used,
-- session reset µs, rpm remaining, rpm reset µs, tpm remaining,
-- tpm reset µs, now µs.
--
-- Numbers that leave the script are integers: Lua's tostring and `..`
-- write 14 digits, so numbers reach Redis only as redis.call arguments
-- (17 digits) or through string.format('%d').
local S, L, R, X = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
local now = tonumber(ARGV[2])
if now == 0 then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local etok, ecost = tonumber(ARGV[4]), tonumber(ARGV[5])
local rpm, tpm, conc = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local win, stok, budget = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local MINUTE = 60000000
-- int writes a whole number for Redis: string.format('%d') is cheaper than
-- the %.17g Redis applies to a Lua number, and never writes an exponent.
local function int(x) return string.format('%d', x) end

local v = redis.call('HMGET', S, 'sp', 'rs', 'ss', 'su', 'sr', 'rt', 'rl', 'tt', 'tl')
local sp, rs = tonumber(v[1]) or 0, tonumber(v[2]) or 0
local ss, su, sr = tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0

-- A bucket's level now (see bucket.go): full when never used. The TAT is
-- read under the limit it was written with, then capped at today's.
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
-- How long a bucket at level l takes to refill to target.
local function untilAt(l, target, cap)
	if l >= target then return 0 end
	return (target - l) * MINUTE / cap
end
local rl = level(v[6], v[7], rpm)
local tl = level(v[8], v[9], tpm)

local function answer(status, why, never, wait, limit, rem, used, resetAt)
	return {status, why, never, math.floor(wait), math.floor(limit), math.floor(rem), math.floor(used),
		math.floor(resetAt), math.floor(rl), math.floor(untilAt(rl, rpm, rpm)),
		math.floor(tl), math.floor(untilAt(tl, tpm, tpm)), now}
end

-- An admission already made under this id (a repeated call) is admitted
-- again without counting anything twice; one cancelled before it ran is
-- refused.
if redis.call('HEXISTS', R, id) == 1 then
	return answer(2, 0, 0, 0, 0, 0, 0, 0)
end
local tomb = redis.call('HGET', X, id)
if tomb then
	if tomb == 'c' then return answer(3, 0, 0, 0, 0, 0, 0, 0) end
	return answer(2, 0, 0, 0, 0, 0, 0, 0)
end

-- Reap leases that expired (their gateway died or lost Redis): each
-- reservation is charged as spent, as the provider may have billed it,
-- and a tombstone keeps what was charged, so a late settlement corrects it.
local dirty = false
local dead = redis.call('ZRANGEBYSCORE', L, '-inf', int(now), 'LIMIT', 0, 16)
if #dead > 0 then
	local recs = redis.call('HMGET', R, unpack(dead))
	for i = 1, #dead do
		local rec = recs[i]
		if rec then
			local c, t, rss = string.match(rec, '^(%d+) (%d+) (%d+)')
			c, t, rss = tonumber(c), tonumber(t), tonumber(rss)
			rs = rs - c
			if rs < 0 then rs = 0 end
			sp = sp + c
			if rss ~= 0 and rss == ss then
				sr = sr - t
				if sr < 0 then sr = 0 end
				su = su + t
			end
			redis.call('HSET', X, dead[i], rec)
		end
	end
	redis.call('HDEL', R, unpack(dead))
	redis.call('ZREM', L, unpack(dead))
	redis.call('EXPIRE', X, ARGV[12])
	dirty = true
end

local function save()
	redis.call('HSET', S, 'sp', sp, 'rs', rs, 'ss', ss, 'su', su, 'sr', sr)
end

-- Budget first: waiting does not help.
if budget > 0 then
	local committed = sp + rs
	if ecost > budget or committed + ecost > budget then
		if dirty then save() end
		return answer(0, 5, ecost > budget and 1 or 0, 0, budget, budget - committed, committed, 0)
	end
end

-- The session: a window opens with this request, if it is admitted.
local sstart = ss
if win > 0 then
	local u = su + sr
	if ss == 0 or now >= ss + win then
		sstart, u = now, 0
	end
	if etok > stok or u + etok > stok then
		if dirty then save() end
		return answer(0, 4, etok > stok and 1 or 0, sstart + win - now, stok, stok - u, u, sstart + win)
	end
end

if tpm > 0 and etok > tpm then
	if dirty then save() end
	return answer(0, 2, 1, untilAt(tl, tpm, tpm), tpm, tl, 0, 0)
end

-- rpm, tpm and concurrency: the refusal names the longest wait.
local why, wait, limit, rem = 0, 0, 0, 0
if rpm > 0 and rl + 1e-9 < 1 then
	why, wait, limit, rem = 1, untilAt(rl, 1, rpm), rpm, rl
end
if tpm > 0 and tl + 1e-9 < etok then
	local w = untilAt(tl, etok, tpm)
	if why == 0 or w > wait then
		why, wait, limit, rem = 2, w, tpm, tl
	end
end
if conc > 0 and why == 0 then
	-- Live leases: all of them, unless the reaping above stopped at its
	-- bound and left expired ones behind.
	local n
	if #dead < 16 then
		n = redis.call('ZCARD', L)
	else
		n = redis.call('ZCOUNT', L, '(' .. int(now), '+inf')
	end
	if n >= conc then
		why, limit, rem = 3, conc, conc - n
	end
end
if why ~= 0 then
	if dirty then save() end
	return answer(0, why, 0, wait, limit, rem, 0, 0)
end

-- Every limit passed: count the request against all of them, in one
-- write of the state hash, of the fields that change.
local a = {'rs', int(rs + ecost)}
local tf, rss = 0, 0
if rpm > 0 then
	rl = rl - 1
	a[#a + 1], a[#a + 2] = 'rt', int(now + (rpm - rl) * MINUTE / rpm + 0.5)
	if tonumber(v[7]) ~= rpm then a[#a + 1], a[#a + 2] = 'rl', rpm end
end
if tpm > 0 then
	tl = tl - etok
	tf = 1
	a[#a + 1], a[#a + 2] = 'tt', int(now + (tpm - tl) * MINUTE / tpm + 0.5)
	if tonumber(v[9]) ~= tpm then a[#a + 1], a[#a + 2] = 'tl', tpm end
end
local opened = false
if win > 0 then
	if sstart ~= ss then
		ss, su, sr = sstart, 0, 0
		opened = true
	end
	sr = sr + etok
	rss = ss
	if not (opened or dirty) then a[#a + 1], a[#a + 2] = 'sr', int(sr) end
end
if opened or dirty then
	a[#a + 1], a[#a + 2] = 'ss', ss
	a[#a + 1], a[#a + 2] = 'su', su
	a[#a + 1], a[#a + 2] = 'sr', sr
end
if dirty then
	a[#a + 1], a[#a + 2] = 'sp', sp
end
redis.call('HSET', S, unpack(a))
redis.call('ZADD', L, int(now + tonumber(ARGV[3])), id)
redis.call('HSET', R, id, string.format('%d %d %d %d', ecost, etok, rss, tf))
return answer(1, 0, 0, 0, 0, 0, 0, 0)
