"""
The Redis presence store: hashes per group, a heartbeat key per process.

Keys, all under one hash tag (``{<PREFIX>:presence}``, so that every script
touches one slot, on a single server and on Redis Cluster alike):

``...:g:<group>``
    a hash, connection id -> ``{"k": key, "m": meta}`` (JSON);
``...:c:<group>``
    a hash, key -> its number of connections in the group;
``...:p:<process>``
    a set of the process's entries, ``<group>\\n<connection id>``;
``...:alive:<process>``
    set with a time to live (``PX``) by each heartbeat;
``...:procs``
    the set of registered processes.

Each change is one Lua script, atomic on the server: a join adds the entry
and counts the key's connections (first: 1), a leave removes it and counts
down (last: 0), and a sweep of a process whose ``alive`` key has expired
removes the process from ``procs`` and its entries in the same step, so of
several survivors sweeping at once exactly one gets its departures.

The client is the publishing client of a group backend made from
``WSVIEWS_BACKEND['OPTIONS']``
(:class:`~django_wsviews.backends.redis.RedisBackend`): the same URL,
Sentinel or cluster nodes, and connection arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .presence_store import Departure, PresenceStore, departures
from .redis import RedisBackend

__all__ = ["RedisClusterPresenceStore", "RedisPresenceStore"]

_JOIN = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return -1 end
redis.call('SADD', KEYS[3], ARGV[4])
return redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
"""

_LEAVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('SREM', KEYS[3], ARGV[3])
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if n <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return n
"""

_HEARTBEAT = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return redis.call('SADD', KEYS[1], ARGV[1])
"""

# KEYS: g:<group>, procs; ARGV: the keys' base, group. Returns the group's
# hash as HGETALL does, without the entries of processes whose alive key
# has expired (not swept yet: no process may be left to sweep them).
_MEMBERS = """
local dead = {}
local prefix = ARGV[2] .. '\\n'
for _, process in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. ':alive:' .. process) == 0 then
    for _, item in ipairs(redis.call('SMEMBERS', ARGV[1] .. ':p:' .. process)) do
      if string.sub(item, 1, #prefix) == prefix then
        dead[string.sub(item, #prefix + 1)] = true
      end
    end
  end
end
local out = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if not dead[entries[i]] then
    table.insert(out, entries[i])
    table.insert(out, entries[i + 1])
  end
end
return out
"""

# KEYS: procs, p:<process>, alive:<process>; ARGV: process, the keys' base.
# Returns group, connection, entry, count left for the key, repeated.
_SWEEP = """
if redis.call('EXISTS', KEYS[3]) == 1 then return {} end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
local out = {}
for _, item in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local cut = string.find(item, '\\n', 1, true)
  local group = string.sub(item, 1, cut - 1)
  local connection = string.sub(item, cut + 1)
  local hash = ARGV[2] .. ':g:' .. group
  local entry = redis.call('HGET', hash, connection)
  if entry then
    redis.call('HDEL', hash, connection)
    local counts = ARGV[2] .. ':c:' .. group
    local key = cjson.decode(entry)['k']
    local n = redis.call('HINCRBY', counts, key, -1)
    if n <= 0 then redis.call('HDEL', counts, key) end
    table.insert(out, group)
    table.insert(out, connection)
    table.insert(out, entry)
    table.insert(out, n)
  end
end
redis.call('DEL', KEYS[2])
return out
"""


def _ignore(payload: bytes) -> None:
    """The group backend made here only lends its client: it listens to nothing."""


class RedisPresenceStore(PresenceStore):
    """Presence in Redis, shared by every process that uses the server."""

    def __init__(self, options: Mapping[str, Any], process_id: str, ttl: float) -> None:
        super().__init__(options, process_id, ttl)
        self._backend = self._lender(options)  # makes no connection
        self._client = self._borrow()
        self._base = "{" + str(options.get("PREFIX", "wsviews")) + ":presence}"
        self._procs = self._base + ":procs"
        self._join = self._client.register_script(_JOIN)
        self._leave = self._client.register_script(_LEAVE)
        self._heartbeat = self._client.register_script(_HEARTBEAT)
        self._sweep = self._client.register_script(_SWEEP)
        self._members = self._client.register_script(_MEMBERS)

    def _lender(self, options: Mapping[str, Any]) -> Any:
        """Return the group backend whose client the store uses."""
        return RedisBackend(options, _ignore)

    def _borrow(self) -> Any:
        """Return the lender's publishing client."""
        return self._backend._publisher

    def _keys(self, group: str) -> list[str]:
        base = self._base
        return [f"{base}:g:{group}", f"{base}:c:{group}", self._own()]

    def _own(self) -> str:
        return f"{self._base}:p:{self.process_id}"

    def _alive(self, process: str) -> str:
        return f"{self._base}:alive:{process}"

    async def heartbeat(self) -> bool:
        """Set this process's ``alive`` key for ``ttl``; True if it was not registered."""
        added = await self._heartbeat(
            keys=[self._procs, self._alive(self.process_id)],
            args=[self.process_id, max(1, int(self.ttl * 1000))],
        )
        return bool(added)

    async def join(self, group: str, connection: str, key: str, meta: str) -> bool:
        """Add the entry with one script; True if the key's count became 1."""
        entry = json.dumps({"k": key, "m": json.loads(meta)}, separators=(",", ":"))
        count = await self._join(
            keys=self._keys(group),
            args=[connection, key, entry, f"{group}\n{connection}"],
        )
        return int(count) == 1

    async def leave(self, group: str, connection: str, key: str) -> bool:
        """Remove the entry with one script; True if the key's count became 0."""
        count = await self._leave(
            keys=self._keys(group), args=[connection, key, f"{group}\n{connection}"]
        )
        return int(count) == 0

    async def members(self, group: str) -> dict[str, dict[str, Any]]:
        """Read the group's hash with one script, but the entries of lapsed processes."""
        raw = await self._members(
            keys=[f"{self._base}:g:{group}", self._procs], args=[self._base, group]
        )
        members: dict[str, dict[str, Any]] = {}
        for index in range(0, len(raw), 2):
            fields = json.loads(raw[index + 1])
            members.setdefault(fields["k"], {})[_text(raw[index])] = fields["m"]
        return members

    async def sweep(self) -> list[Departure]:
        """Sweep each registered process whose ``alive`` key has expired."""
        processes = [_text(p) for p in await self._client.smembers(self._procs)]
        others = [p for p in processes if p != self.process_id]
        if not others:
            return []
        found: list[Departure] = []
        for process in others:
            if await self._client.exists(self._alive(process)):
                continue
            found.extend(await self._sweep_process(process))
        return found

    async def _sweep_process(self, process: str) -> list[Departure]:
        out = await self._sweep(
            keys=[
                self._procs,
                f"{self._base}:p:{process}",
                self._alive(process),
            ],
            args=[process, self._base],
        )
        removed: list[tuple[str, str, str, Any]] = []
        gone: set[tuple[str, str]] = set()
        for index in range(0, len(out), 4):
            group, connection = _text(out[index]), _text(out[index + 1])
            fields = json.loads(out[index + 2])
            removed.append((group, fields["k"], connection, fields["m"]))
            if int(out[index + 3]) <= 0:
                gone.add((group, fields["k"]))
        return departures(removed, gone)

    async def unregister(self) -> list[Departure]:
        """Sweep this process now: its ``alive`` key is deleted first."""
        await self._client.delete(self._alive(self.process_id))
        return await self._sweep_process(self.process_id)

    async def close(self) -> None:
        """Close the client's connections."""
        await self._backend._release()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisClusterPresenceStore(RedisPresenceStore):
    """
    Presence on a Redis Cluster, for the Redis Cluster backend.

    The same keys and scripts: they all share one hash tag, so they live in
    one slot, on one master (presence does not spread over the shards).
    """

    def _lender(self, options: Mapping[str, Any]) -> Any:
        from .redis_cluster import RedisClusterBackend

        return RedisClusterBackend(options, _ignore)

    def _borrow(self) -> Any:
        return self._backend._cluster
