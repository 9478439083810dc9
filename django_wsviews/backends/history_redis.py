"""
The history of the Redis backend: a stream per group, written by the script that publishes.

Each group with history has two keys, in one hash slot (the group name is
their hash tag, for Redis Cluster):

- ``<PREFIX>:history-meta:{<group>}``, a hash: the epoch (``e``), the
  last offset (``o``) and the ``run_id`` of the Redis server that wrote
  them (``r``);
- ``<PREFIX>:history:{<group>}``, a stream whose entry ids are
  ``0-<offset>``, each holding the time it was added (``t``, ms) and the
  message as published (``p``).

A broadcast is one ``EVALSHA`` (one round trip): the script takes the next
offset, adds the message to the stream (``XADD ... MAXLEN <max_messages>``,
exact), drops entries older than ``MAX_AGE`` from its head, and
``PUBLISH``\\ es the message, all at once: Redis runs a script alone, so
every subscriber sees a group's offsets in order, whichever process sent
them. Server-side it runs ``INFO server``, ``HMGET``, ``HINCRBY``,
``TIME``, ``XADD``, two ``PEXPIRE`` and the ``PUBLISH`` (plus an
``XRANGE``/``XDEL`` pair per expired entry, with ``MAX_AGE``).

When the hash is missing (Redis restarted without persistence, the keys
expired or were deleted), or was written by another Redis server process
(a restart, even from a snapshot or an append-only file, or a replica
promoted in its master's place), the next broadcast makes a new epoch and
drops what is left of the stream; until then a read finds no history. A
server restored from a snapshot, or a replica, may lack the latest
messages: were the offsets counted on from what it has, they would be
given again to other messages, and a client that saw the lost ones would
miss the new ones without a reset. Both keys expire after a day without
broadcasts (or ``MAX_AGE``, if longer): a client resuming after that gets a
reset.

A read is one ``EVALSHA`` too, returning the epoch, the last offset and the
entries after the one asked for, at one instant.
"""

from __future__ import annotations

from typing import Any

from .history_base import (
    HistoryLimits,
    HistoryRead,
    HistoryStore,
    Seq,
    header_rest,
    new_epoch,
)
from .redis import RedisBackend

__all__ = ["RedisHistory"]

#: Seconds without a broadcast before a group's history keys expire, at least.
IDLE_TTL = 86400.0
#: Entries past MAX_AGE that one broadcast removes from the head, at most.
EXPIRE_BATCH = 16

#: Lua: ``server``, the run_id of this Redis server process (a restart changes it).
_SERVER = """
local server = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
"""

_PUBLISH = (
    _SERVER
    + """
local meta = redis.call('HMGET', KEYS[1], 'e', 'r')
local epoch = meta[1]
if not epoch or meta[2] ~= server then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0, 'r', server)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local payload = '{"q":"' .. epoch .. ':' .. offset .. '",' .. ARGV[3]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], '0-' .. offset, 't', now, 'p', payload)
if ARGV[5] ~= '' then
  local cutoff = now - tonumber(ARGV[5])
  for _ = 1, tonumber(ARGV[7]) do
    local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
    if #first == 0 or tonumber(first[1][2][2]) >= cutoff then break end
    redis.call('XDEL', KEYS[2], first[1][1])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('PUBLISH', ARGV[1], payload)
return {epoch, offset}
"""
)

_READ = (
    _SERVER
    + """
local meta = redis.call('HMGET', KEYS[1], 'e', 'o', 'r')
local time = redis.call('TIME')
if not meta[1] or meta[3] ~= server then return {'', '0', {}, time[1], time[2]} end
local entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+')
return {meta[1], meta[2], entries, time[1], time[2]}
"""
)


class RedisHistory(HistoryStore[RedisBackend]):
    """Keep each group's latest messages in a Redis stream."""

    def __init__(self, backend: RedisBackend) -> None:
        super().__init__(backend)
        client = backend._publisher
        self._publish_script = client.register_script(_PUBLISH)
        self._read_script = client.register_script(_READ)

    def _keys(self, group: str) -> list[str]:
        prefix = self.backend._prefix
        return [f"{prefix}history-meta:{{{group}}}", f"{prefix}history:{{{group}}}"]

    async def publish(self, group: str, payload: bytes, limits: HistoryLimits) -> Seq:
        """Run the publishing script: one round trip; raise BroadcastError if Redis is unreachable."""
        backend = self.backend
        ttl = max(IDLE_TTL, limits.max_age or 0.0)
        args: list[Any] = [
            backend._channel(group),
            new_epoch(),
            header_rest(payload),
            limits.max_messages,
            "" if limits.max_age is None else int(limits.max_age * 1000),
            int(ttl * 1000),
            EXPIRE_BATCH,
        ]
        try:
            await backend._drop_closed_connections()
            epoch, offset = await self._publish_script(
                keys=self._keys(group), args=args
            )
        except (backend._redis.RedisError, OSError) as exc:
            raise backend._unreachable(group, exc) from exc
        return Seq(_text(epoch), int(offset))

    async def read(self, group: str, after: int, limits: HistoryLimits) -> HistoryRead:
        """Run the reading script: one round trip; raise BroadcastError if Redis is unreachable."""
        backend = self.backend
        try:
            await backend._drop_closed_connections()
            epoch, last, raw, seconds, micros = await self._read_script(
                keys=self._keys(group), args=[f"0-{after + 1}"]
            )
        except (backend._redis.RedisError, OSError) as exc:
            raise backend._unreachable(group, exc) from exc
        if not epoch:
            return HistoryRead(None, 0, [])
        now = int(seconds) * 1000 + int(micros) // 1000
        oldest = None if limits.max_age is None else now - limits.max_age * 1000
        entries = []
        for entry_id, fields in raw:
            values = dict(zip(fields[::2], fields[1::2], strict=True))
            if oldest is not None and int(values[b"t"]) < oldest:
                continue  # expired: as if trimmed
            entries.append(
                (int(_text(entry_id).partition("-")[2]), bytes(values[b"p"]))
            )
        return HistoryRead(_text(epoch), int(last), entries)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
