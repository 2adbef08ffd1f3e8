/**
 * The Lua scripts. Each runs atomically in Redis; ioredis sends them with EVALSHA (EVAL the first time on a
 * connection, and again after NOSCRIPT, e.g. when Redis restarted).
 *
 * Numbers that leave a script as text are formatted with `%d`: Lua 5.1's `tostring` switches to exponent notation
 * at 1e14.
 */

/**
 * Makes sure a channel's meta hash exists. Shared by the scripts that may be the first to touch a channel: a new
 * epoch starts with offset 0 and an empty stream (a stream left from a lost epoch is deleted, its offsets restart).
 * Leaves `epoch` and `top` set.
 *
 * On a Redis Cluster (`ARGV[guard]` is `'1'`) the meta hash also records the node id of the master that wrote it
 * (`n`). Replication is asynchronous: a replica promoted after its master died may lack the last writes the master
 * acknowledged (and published). Continuing the same epoch there would hand out those offsets again to other messages,
 * which every subscriber that saw the lost ones would drop as duplicates — a silent gap. So when the master serving
 * the channel is not the one that last wrote it (a failover, or a slot migration), the channel starts a new epoch:
 * subscribers get a resync and clients resuming from the old epoch get `recovered: false`.
 */
function ensureMeta(guard: number): string {
  return `
local me = false
if ARGV[${guard}] == '1' then me = redis.call('CLUSTER', 'MYID') end
local meta = redis.call('HMGET', KEYS[1], 'e', 'o', 'n')
local epoch = meta[1]
local top = tonumber(meta[2])
if not epoch or not top or (me and meta[3] ~= me) then
  epoch = ARGV[1]
  top = 0
  redis.call('DEL', KEYS[2])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  if me then redis.call('HSET', KEYS[1], 'n', me) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;
}

/**
 * Publishes one message: the idempotency check, the offset increment, the history append with its trims, and the
 * pub/sub publish, in one atomic step, so the order of offsets is the order of the pub/sub stream and a message is
 * in history exactly when it was published.
 *
 * KEYS: meta, stream, idempotency key.
 * ARGV: new epoch (used only when the channel has none), channel TTL ms, pub/sub channel, head, id, ts,
 *       history size, history TTL ms, idempotency window ms (0 = not idempotent), publish command,
 *       failover guard ('1' on a Redis Cluster, see {@link ensureMeta}).
 * Returns `{epoch, offset, duplicate (0|1)}`.
 *
 * The pub/sub payload is `m<epoch> <offset> <ts> <id> <line>`: a fixed header of space-free fields, then the
 * complete frame line, which receivers slice off without parsing it.
 */
export const PUBLISH_LUA = `${ensureMeta(11)}
local window = tonumber(ARGV[9])
if window > 0 then
  local previous = redis.call('GET', KEYS[3])
  if previous then
    local space = string.find(previous, ' ', 1, true)
    return {string.sub(previous, 1, space - 1), tonumber(string.sub(previous, space + 1)), 1}
  end
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local o = string.format('%d', offset)
local line = ARGV[4] .. o .. '}'
local ts = ARGV[6]
if window > 0 then
  redis.call('SET', KEYS[3], epoch .. ' ' .. o, 'PX', window)
end
local size = tonumber(ARGV[7])
if size > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', size, o .. '-0', 'i', ARGV[5], 't', ts, 'l', line)
  local cutoff = tonumber(ts) - tonumber(ARGV[8])
  while true do
    local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
    if not first or tonumber(first[2][4]) > cutoff then break end
    redis.call('XDEL', KEYS[2], first[1])
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
end
redis.call(ARGV[10], ARGV[3], 'm' .. epoch .. ' ' .. o .. ' ' .. ts .. ' ' .. ARGV[5] .. ' ' .. line)
return {epoch, offset, 0}
`;

/**
 * A channel's position (creating its epoch on first use, and keeping an idle subscribed channel's epoch alive).
 * KEYS: meta, stream. ARGV: new epoch, channel TTL ms, failover guard. Returns `{epoch, offset}`.
 */
export const POSITION_LUA = `${ensureMeta(3)}
return {epoch, top}
`;

/**
 * Reads history after an offset, with the position, in one snapshot.
 * KEYS: meta, stream. ARGV: new epoch, channel TTL ms, after epoch, after offset, count (0 = all), failover guard.
 * Returns `{epoch, top, streamId1, id1, ts1, line1, …}`; no entries when the epoch differs or nothing is newer.
 */
export const READ_LUA = `${ensureMeta(6)}
local out = {epoch, top}
local after = tonumber(ARGV[4])
if ARGV[3] == epoch and after < top then
  local range
  local start = string.format('%d', after + 1)
  if ARGV[5] == '0' then
    range = redis.call('XRANGE', KEYS[2], start, '+')
  else
    range = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', ARGV[5])
  end
  for _, entry in ipairs(range) do
    local f = entry[2]
    out[#out + 1] = entry[1]
    out[#out + 1] = f[2]
    out[#out + 1] = f[4]
    out[#out + 1] = f[6]
  end
end
return out
`;

/**
 * Adds one connection of a user to a presence channel; a connection already present is taken over by `owner`
 * (a node restoring its entries after an outage) without counting twice.
 * KEYS: entries, users, members. ARGV: connection id, user id, member JSON, owner, info given (1|0).
 * Returns `{joined (0|1), member count}`.
 */
export const PRESENCE_ADD_LUA = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4] .. ' ' .. ARGV[2])
  return {0, redis.call('HLEN', KEYS[2])}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4] .. ' ' .. ARGV[2])
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if n == 1 or ARGV[5] == '1' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
end
local joined = 0
if n == 1 then joined = 1 end
return {joined, redis.call('HLEN', KEYS[2])}
`;

/**
 * Removes one connection from a presence channel; when it was its user's last connection anywhere, the user
 * leaves. Count and removal are one atomic step, so of two nodes sweeping the same dead node only one sees the
 * leave. With an `owner`, the entry is removed only if that owner still holds it.
 * KEYS: entries, users, members. ARGV: connection id, owner ('' = any).
 * Returns `{left (0|1), member JSON or false}`.
 */
export const PRESENCE_REMOVE_LUA = `
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return {0, false} end
local space = string.find(entry, ' ', 1, true)
if ARGV[2] ~= '' and string.sub(entry, 1, space - 1) ~= ARGV[2] then return {0, false} end
local user = string.sub(entry, space + 1)
redis.call('HDEL', KEYS[1], ARGV[1])
local member = redis.call('HGET', KEYS[3], user)
local n = redis.call('HINCRBY', KEYS[2], user, -1)
if n <= 0 then
  redis.call('HDEL', KEYS[2], user)
  redis.call('HDEL', KEYS[3], user)
  return {1, member}
end
return {0, member}
`;
