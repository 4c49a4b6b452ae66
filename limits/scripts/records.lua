-- records: changes one key record atomically: the record, the indexes
-- that keep names and key hashes unique, and the revision that tells
-- every instance something changed. All four keys share the hash tag
-- {<prefix>:keys}. Records are JSON, written by the gateway; the script
-- reads only their version, name and key_sha256.
--
-- KEYS: 1 records hash (id → JSON), 2 hash index (key_sha256 → id),
--       3 name index (name → id), 4 revision counter
-- ARGV: 1 op (create, update, delete), 2 id, 3 expected version (update,
--       delete), 4 the record's JSON (create, update), 5 name, 6 key_sha256
-- Returns {0, revision} on success, or {code, detail}: 1 not found,
-- 2 version conflict, 3 duplicate (detail: "field id").
local R, H, N, V = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, id = ARGV[1], ARGV[2]
local cur = redis.call('HGET', R, id)
local old
if op == 'create' then
	if cur then return {3, 'id ' .. id} end
else
	if not cur then return {1, ''} end
	old = cjson.decode(cur)
	if tostring(old.version) ~= ARGV[3] then return {2, ''} end
end
if op ~= 'delete' then
	local name, sha = ARGV[5], ARGV[6]
	local other = redis.call('HGET', N, name)
	if other and other ~= id then return {3, 'name ' .. other} end
	other = redis.call('HGET', H, sha)
	if other and other ~= id then return {3, 'key_sha256 ' .. other} end
end
if old then
	redis.call('HDEL', N, old.name)
	redis.call('HDEL', H, old.key_sha256)
end
if op == 'delete' then
	redis.call('HDEL', R, id)
else
	redis.call('HSET', R, id, ARGV[4])
	redis.call('HSET', N, ARGV[5], id)
	redis.call('HSET', H, ARGV[6], id)
end
return {0, redis.call('INCR', V)}
