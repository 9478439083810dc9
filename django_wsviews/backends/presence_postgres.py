"""
The PostgreSQL presence store: two unlogged tables, with the project's database.

``<PREFIX>_presence`` holds one row per (group, connection): its key, the
process that holds it and its metadata (``jsonb``). ``<PREFIX>_presence_procs``
holds one row per process with the time its last heartbeat lapses (the
server's ``now()`` plus the process's time to live: the machines' clocks do
not matter). Both are ``UNLOGGED``: no
write-ahead log for entries that mean nothing after a restart (a crash
empties them, and every live process joins its connections again at its
next heartbeat). They are made on first use.

A join or a leave is one transaction that takes a transaction-scoped
advisory lock on (group, key) before it writes and counts the key's rows,
so two processes joining tabs of one user cannot both see themselves
first. A sweep deletes the rows of dead processes from the process table:
of several survivors sweeping at once, only the one whose ``DELETE``
returns a row removes that process's entries (the others wait on the row
lock, then find nothing), under the same advisory locks.

Connection settings are those of the group backend
(:func:`~django_wsviews.backends.postgres.connection_params`): the
``DATABASE`` alias and ``CONNECTION_KWARGS`` of ``WSVIEWS_BACKEND``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .postgres import _PREFIX, _import_psycopg, connection_params
from .presence_store import Departure, PresenceStore, departures

__all__ = ["PostgresPresenceStore"]

_SETUP = """
CREATE UNLOGGED TABLE IF NOT EXISTS {entries} (
    grp text NOT NULL,
    conn text NOT NULL,
    key text NOT NULL,
    process text NOT NULL,
    meta jsonb NOT NULL,
    PRIMARY KEY (grp, conn)
);
CREATE INDEX IF NOT EXISTS {entries}_key ON {entries} (grp, key);
CREATE INDEX IF NOT EXISTS {entries}_process ON {entries} (process);
CREATE UNLOGGED TABLE IF NOT EXISTS {procs} (
    process text PRIMARY KEY,
    expires timestamptz NOT NULL
);
"""

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


class PostgresPresenceStore(PresenceStore):
    """Presence in PostgreSQL, shared by every process that uses the database."""

    def __init__(self, options: Mapping[str, Any], process_id: str, ttl: float) -> None:
        super().__init__(options, process_id, ttl)
        self._psycopg = _import_psycopg()
        self._params = connection_params(options)
        prefix = options.get("PREFIX", "wsviews")
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise ImproperlyConfigured(
                f"WSVIEWS_BACKEND['OPTIONS']['PREFIX'] is {prefix!r}: use 1 to 30 "
                "lower-case letters, digits and underscores, starting with a letter."
            )
        self._prefix = prefix
        self._entries = f"{prefix}_presence"
        self._procs = f"{prefix}_presence_procs"
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> Any:
        """Return the store's connection, opened (and the tables made) on first use."""
        connection = self._connection
        if connection is not None and not connection.closed:
            return connection
        connection = await self._psycopg.AsyncConnection.connect(
            **self._params, autocommit=True
        )
        try:
            async with connection.transaction():
                # One process at a time: CREATE ... IF NOT EXISTS races otherwise.
                await connection.execute(_LOCK, (f"{self._prefix}:presence-setup",))
                await connection.execute(
                    _SETUP.format(entries=self._entries, procs=self._procs)
                )
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return connection

    async def _run(self, work: Any) -> Any:
        """Run ``work(connection)`` in a transaction; drop the connection if it fails."""
        async with self._lock:
            connection = await self._connect()
            try:
                async with connection.transaction():
                    return await work(connection)
            except (self._psycopg.OperationalError, OSError):
                self._connection = None
                await connection.close()
                raise

    def _lock_key(self, group: str, key: str) -> str:
        return f"{self._prefix}\n{group}\n{key}"

    async def heartbeat(self) -> bool:
        """Upsert this process's row, lapsing ``ttl`` from now; True if it was inserted."""

        async def work(connection: Any) -> bool:
            cursor = await connection.execute(
                f"INSERT INTO {self._procs} (process, expires) "
                "VALUES (%s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (process) DO UPDATE SET expires = EXCLUDED.expires "
                "RETURNING (xmax = 0)",
                (self.process_id, self.ttl),
            )
            row = await cursor.fetchone()
            return bool(row[0])

        result: bool = await self._run(work)
        return result

    async def join(self, group: str, connection: str, key: str, meta: str) -> bool:
        """Insert the row under the (group, key) lock; True if it is the key's only row."""

        async def work(db: Any) -> bool:
            await db.execute(_LOCK, (self._lock_key(group, key),))
            cursor = await db.execute(
                f"INSERT INTO {self._entries} (grp, conn, key, process, meta) "
                "VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING "
                "RETURNING 1",
                (group, connection, key, self.process_id, meta),
            )
            if await cursor.fetchone() is None:
                return False
            cursor = await db.execute(
                f"SELECT count(*) FROM {self._entries} WHERE grp = %s AND key = %s",
                (group, key),
            )
            row = await cursor.fetchone()
            return bool(row[0] == 1)

        result: bool = await self._run(work)
        return result

    async def leave(self, group: str, connection: str, key: str) -> bool:
        """Delete the row under the (group, key) lock; True if the key has none left."""

        async def work(db: Any) -> bool:
            await db.execute(_LOCK, (self._lock_key(group, key),))
            cursor = await db.execute(
                f"DELETE FROM {self._entries} WHERE grp = %s AND conn = %s RETURNING 1",
                (group, connection),
            )
            if await cursor.fetchone() is None:
                return False
            cursor = await db.execute(
                f"SELECT EXISTS (SELECT 1 FROM {self._entries} "
                "WHERE grp = %s AND key = %s)",
                (group, key),
            )
            row = await cursor.fetchone()
            return not row[0]

        result: bool = await self._run(work)
        return result

    async def members(self, group: str) -> dict[str, dict[str, Any]]:
        """Select the group's rows, but those of processes whose heartbeat has lapsed."""

        async def work(db: Any) -> list[Any]:
            cursor = await db.execute(
                f"SELECT key, conn, meta FROM {self._entries} WHERE grp = %s "
                f"AND NOT EXISTS (SELECT 1 FROM {self._procs} WHERE "
                f"{self._procs}.process = {self._entries}.process "
                "AND expires < now())",
                (group,),
            )
            rows: list[Any] = await cursor.fetchall()
            return rows

        members: dict[str, dict[str, Any]] = {}
        for key, connection, meta in await self._run(work):
            members.setdefault(key, {})[connection] = meta
        return members

    async def sweep(self) -> list[Departure]:
        """Delete the processes whose last heartbeat has lapsed, and their entries."""

        async def work(db: Any) -> list[Departure]:
            cursor = await db.execute(
                f"DELETE FROM {self._procs} WHERE expires < now() AND process <> %s "
                "RETURNING process",
                (self.process_id,),
            )
            dead = [row[0] for row in await cursor.fetchall()]
            return await self._remove(db, dead) if dead else []

        result: list[Departure] = await self._run(work)
        return result

    async def unregister(self) -> list[Departure]:
        """Delete this process's row and its entries."""

        async def work(db: Any) -> list[Departure]:
            await db.execute(
                f"DELETE FROM {self._procs} WHERE process = %s", (self.process_id,)
            )
            return await self._remove(db, [self.process_id])

        result: list[Departure] = await self._run(work)
        return result

    async def _remove(self, db: Any, processes: list[str]) -> list[Departure]:
        """Delete the entries of ``processes``; return the keys left with none."""
        cursor = await db.execute(
            f"SELECT DISTINCT grp, key FROM {self._entries} "
            "WHERE process = ANY(%s) ORDER BY grp, key",
            (processes,),
        )
        pairs = await cursor.fetchall()
        for group, key in pairs:  # in order: no deadlock between sweepers
            await db.execute(_LOCK, (self._lock_key(group, key),))
        cursor = await db.execute(
            f"DELETE FROM {self._entries} WHERE process = ANY(%s) "
            "RETURNING grp, key, conn, meta",
            (processes,),
        )
        removed = [tuple(row) for row in await cursor.fetchall()]
        if not removed:
            return []
        cursor = await db.execute(
            f"SELECT DISTINCT grp, key FROM {self._entries} "
            "WHERE (grp, key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([group for group, _ in pairs], [key for _, key in pairs]),
        )
        present = {(group, key) for group, key in await cursor.fetchall()}
        gone = {(group, key) for group, key, _, _ in removed} - present
        return departures(removed, gone)

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing: nothing more to do
                await asyncio.wait_for(connection.close(), 5)
