-- settle: ends one admitted request, as MemoryStore.Settle does: releases
-- its lease, gives back its reservation, records what it really spent,
-- and replaces its token estimate with its real usage in the tpm bucket
-- and the session it was admitted in. Idempotent by admission id: a
-- repeated call finds nothing to settle and moves nothing.
--
-- KEYS: 1 state hash, 2 lease zset, 3 reservation hash, 4 tombstone hash
-- ARGV: 1 admission id, 2 now µs (0: Redis TIME), 3 used tokens,
--       4 used cost µUSD, 5 tpm, 6 session window µs, 7 flags (0: an
--       admission the admit script made; 1: its admit call failed, but
--       may have run or may yet run; 2: its admit call never reached
--       Redis), 8 tombstone ttl s
-- Returns 1 settled, 2 corrected after its lease expired and its
-- reservation was charged, 3 counted after the fact (uncounted), 0
-- nothing to do (settled before).
local S, L, R, X = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
local utok, ucost = tonumber(ARGV[3]), tonumber(ARGV[4])
local tpm, win = tonumber(ARGV[5]), tonumber(ARGV[6])
local MINUTE = 60000000
-- int writes a whole number for Redis (see admit.lua).
local function int(x) return string.format('%d', x) end

local mode = 1
local rec = redis.call('HGET', R, id)
if not rec then
	rec = redis.call('HGET', X, id)
	if rec == 'c' then
		return 0
	elseif rec then
		mode = 2
	elseif ARGV[7] ~= '0' then
		mode = 3
	else
		return 0
	end
end

local now = tonumber(ARGV[2])
if now == 0 then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local v = redis.call('HMGET', S, 'sp', 'rs', 'ss', 'su', 'sr', 'tt', 'tl')
local sp, rs = tonumber(v[1]) or 0, tonumber(v[2]) or 0
local ss, su, sr = tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0

local c, t, rss, tf = 0, 0, 0, 0
if mode ~= 3 then
	local a, b, d, e = string.match(rec, '^(%d+) (%d+) (%d+) (%d+)$')
	c, t, rss, tf = tonumber(a), tonumber(b), tonumber(d), tonumber(e)
end

if mode == 1 then
	rs = rs - c
	if rs < 0 then rs = 0 end
	sp = sp + ucost
elseif mode == 2 then
	sp = sp - c + ucost
	if sp < 0 then sp = 0 end
else
	sp = sp + ucost
end
local a = {'sp', int(sp), 'rs', int(rs)}

-- tpm: the estimate taken at admission comes back, the usage is taken; a
-- refund fills the bucket no further than full, a debt may take it below
-- zero.
if tpm > 0 then
	local l = tpm
	local tat, lim = tonumber(v[6]), tonumber(v[7])
	if tat and lim and lim > 0 then
		local ahead = tat - now
		if ahead < 0 then ahead = 0 end
		l = lim - ahead * lim / MINUTE
		if l > tpm then l = tpm end
	end
	if tf == 1 then l = l + t end
	l = l - utok
	if l > tpm then l = tpm end
	a[#a + 1], a[#a + 2] = 'tt', int(now + (tpm - l) * MINUTE / tpm + 0.5)
	if lim ~= tpm then a[#a + 1], a[#a + 2] = 'tl', tpm end
end

-- The session: the tokens count in the window the request was admitted
-- in, and nowhere when that window has closed; a request admitted
-- before its key had a session quota counts in the open window.
local session = false
if rss ~= 0 then
	if rss == ss then
		if mode == 1 then
			sr = sr - t
			if sr < 0 then sr = 0 end
			su = su + utok
		else
			su = su - t + utok
			if su < 0 then su = 0 end
		end
		session = true
	end
elseif win > 0 and ss ~= 0 and now < ss + win then
	su = su + utok
	session = true
end
if session then
	a[#a + 1], a[#a + 2] = 'su', int(su)
	a[#a + 1], a[#a + 2] = 'sr', int(sr)
end
redis.call('HSET', S, unpack(a))

if mode == 1 then
	redis.call('HDEL', R, id)
	redis.call('ZREM', L, id)
elseif mode == 2 then
	redis.call('HDEL', X, id)
elseif ARGV[7] == '1' then
	-- An admission that may yet arrive (it timed out, but Redis may run
	-- it late) is refused: this request has been counted here instead.
	redis.call('HSET', X, id, 'c')
	redis.call('EXPIRE', X, ARGV[8])
end
return mode
