-- Stores one chat message atomically (the standalone and the cluster Redis
-- stores both run this script; see docs/redis.md for the key layout).
--
-- KEYS[1]  the chat's messages: a sorted set, score = send time in
--          microseconds since the Unix epoch, member = "<send time>\n<payload>"
-- KEYS[2]  the chat's client message ids: a hash, field = "<sender>\n<client
--          message id>", value = send time of the stored message
-- ARGV[1]  payload: the JSON array the client built from sender, text and
--          client message id
-- ARGV[2]  the client message id field of KEYS[2]; absent when the send has
--          no client message id
--
-- Returns the stored member: the new one, or the one already stored under
-- the same client message id field.
--
-- Numbers pass through string.format('%d') before they reach redis.call,
-- because Lua converts a number argument with "%.14g", which would round a
-- 16-digit send time.

local messages = KEYS[1]
local clientIds = KEYS[2]
local payload = ARGV[1]
local idField = ARGV[2]

if idField then
  local storedTime = redis.call('HGET', clientIds, idField)
  if storedTime then
    local stored = redis.call('ZRANGE', messages, storedTime, storedTime, 'BYSCORE')
    if stored[1] then
      return stored[1]
    end
  end
end

local now = redis.call('TIME')
local sendTime = tonumber(now[1]) * 1000000 + tonumber(now[2])
local newest = redis.call('ZRANGE', messages, -1, -1, 'WITHSCORES')
if newest[2] then
  local last = tonumber(newest[2])
  if last >= sendTime then
    sendTime = last + 1
  end
end

local sendTimeText = string.format('%d', sendTime)
local member = sendTimeText .. '\n' .. payload
redis.call('ZADD', messages, sendTimeText, member)
if idField then
  redis.call('HSET', clientIds, idField, sendTimeText)
end
return member
