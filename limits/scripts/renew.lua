-- renew: extends the leases of requests still in flight, so a stream
-- longer than the lease ttl keeps its slot. A lease that expired and was
-- reaped meanwhile is not brought back (XX): that request's settlement
-- will correct the charge instead.
--
-- KEYS: 1 lease zset
-- ARGV: 1 now µs (0: Redis TIME), 2 lease ttl µs, 3... admission ids
-- Returns how many leases were extended.
local now = tonumber(ARGV[1])
if now == 0 then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local exp = string.format('%d', now + tonumber(ARGV[2]))
local a = {'XX', 'GT', 'CH'}
for i = 3, #ARGV do
	a[#a + 1], a[#a + 2] = exp, ARGV[i]
end
return redis.call('ZADD', KEYS[1], unpack(a))
