"""
The history of the PostgreSQL backend: two unlogged tables, written by the statement that NOTIFYs.

``<PREFIX>_history_epoch`` holds each group's epoch and last offset;
``<PREFIX>_history`` the kept messages, by group and offset. The store
creates both (``CREATE UNLOGGED TABLE IF NOT EXISTS``) on first use, so no
migration is needed; the database user needs the right to create tables
in the connection's schema, once.

They are unlogged: faster to write, and PostgreSQL empties them after a
crash (and a standby does not have them). That is history lost, which the
epoch exists to say: the first broadcast afterwards makes a new epoch, and
clients resuming from the old one get a reset. Truncating the epoch table
does the same (the new epoch's offsets start after the highest one left,
whose messages it deletes); truncating only the messages gives a reset too
(the history no longer reaches back).

A broadcast is one statement in autocommit, so one round trip and one
transaction: it bumps the group's row in the epoch table (``INSERT ... ON
CONFLICT DO UPDATE ... RETURNING``), puts the seq in the message, inserts
it, deletes what is past the limits, and ``pg_notify()``\\ s it in the
backend's format. The row lock taken by the update is held until commit,
so broadcasts to one group commit one after the other in offset order, and
PostgreSQL delivers notifications in commit order: every listener sees a
group's offsets in order. (No advisory lock is needed: the row lock is the
per-group lock.) A read is one ``SELECT`` of the epoch row joined with the
messages after an offset, from one snapshot.

Both use the backend's NOTIFY connection, under its lock.
"""

from __future__ import annotations

import secrets
from typing import Any

from .history_base import (
    HistoryLimits,
    HistoryRead,
    HistoryStore,
    Seq,
    header_rest,
    new_epoch,
)
from .postgres import CHUNK, PostgresBackend

__all__ = ["PostgresHistory"]

_TABLES = """
SELECT pg_advisory_xact_lock(hashtext({lock}));
CREATE UNLOGGED TABLE IF NOT EXISTS {epochs} (
    grp text PRIMARY KEY,
    epoch text NOT NULL,
    last bigint NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS {messages} (
    grp text NOT NULL,
    "offset" bigint NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload bytea NOT NULL,
    PRIMARY KEY (grp, "offset")
);
"""

# The NOTIFY parts follow PostgresBackend.publish(): "<id>:<index>:<count>:<part>",
# parts of CHUNK base64 characters.
_PUBLISH = """
WITH m AS (
    INSERT INTO {epochs} AS e (grp, epoch, last)
    SELECT %(group)s, %(epoch)s, coalesce(max("offset"), 0) + 1
    FROM {messages} WHERE grp = %(group)s
    ON CONFLICT (grp) DO UPDATE SET last = e.last + 1
    RETURNING e.epoch, e.last, e.xmax = 0 AS fresh
), p AS (
    SELECT m.epoch, m.last, m.fresh,
        convert_to('{{"q":"' || m.epoch || ':' || m.last || '",', 'UTF8')
            || %(rest)s::bytea AS payload
    FROM m
), added AS (
    INSERT INTO {messages} (grp, "offset", payload)
    SELECT %(group)s, p.last, p.payload FROM p
), trimmed AS (
    DELETE FROM {messages}
    WHERE grp = %(group)s AND (
        (SELECT fresh FROM p)
        OR "offset" <= (SELECT last FROM p) - %(max_messages)s
        OR at < clock_timestamp() - make_interval(secs => %(max_age)s)
    )
), b AS (
    SELECT translate(encode(p.payload, 'base64'), E'\\n', '') AS text FROM p
), parts AS (
    SELECT i, substr(b.text, i * %(chunk)s + 1, %(chunk)s) AS part,
        greatest(1, ceil(length(b.text) / %(chunk)s::numeric))::int AS n
    FROM b, generate_series(
        0, greatest(1, ceil(length(b.text) / %(chunk)s::numeric))::int - 1
    ) AS i
)
SELECT (SELECT epoch FROM p), (SELECT last FROM p),
    pg_notify(%(channel)s, %(id)s || ':' || i || ':' || n || ':' || part)
FROM parts
"""

_READ = """
SELECT e.epoch, e.last, h."offset", h.payload
FROM {epochs} e
LEFT JOIN {messages} h ON h.grp = e.grp AND h."offset" > %(after)s
    AND (%(max_age)s::float8 IS NULL
        OR h.at >= clock_timestamp() - make_interval(secs => %(max_age)s))
WHERE e.grp = %(group)s
ORDER BY h."offset"
"""


class PostgresHistory(HistoryStore[PostgresBackend]):
    """Keep each group's latest messages in PostgreSQL."""

    def __init__(self, backend: PostgresBackend) -> None:
        super().__init__(backend)
        sql = backend._psycopg.sql
        names = {
            "epochs": sql.Identifier(f"{backend._prefix}_history_epoch"),
            "messages": sql.Identifier(f"{backend._prefix}_history"),
        }
        self._tables = sql.SQL(_TABLES).format(
            lock=sql.Literal(f"{backend._prefix}_history"), **names
        )
        self._publish = sql.SQL(_PUBLISH).format(**names)
        self._read = sql.SQL(_READ).format(**names)
        self._ready = False

    async def _connection(self) -> Any:
        connection = await self.backend._publishing_connection()
        if not self._ready:
            async with connection.transaction():
                await connection.execute(self._tables)
            self._ready = True
        return connection

    async def publish(self, group: str, payload: bytes, limits: HistoryLimits) -> Seq:
        """Run the publishing statement: one round trip; raise BroadcastError if unreachable."""
        backend = self.backend
        params = {
            "group": group,
            "epoch": new_epoch(),
            "rest": header_rest(payload),
            "max_messages": limits.max_messages,
            "max_age": limits.max_age,
            "chunk": CHUNK,
            "channel": backend._channel(group),
            "id": secrets.token_hex(8),
        }
        async with backend._publish_lock:
            try:
                connection = await self._connection()
                cursor = await connection.execute(self._publish, params)
                epoch, last, _ = await cursor.fetchone()
            except (backend._psycopg.Error, OSError) as exc:
                await backend._release()
                self._ready = False
                raise backend._unreachable(group, exc) from exc
        return Seq(epoch, int(last))

    async def read(self, group: str, after: int, limits: HistoryLimits) -> HistoryRead:
        """Run the reading statement: one round trip; raise BroadcastError if unreachable."""
        backend = self.backend
        params = {"group": group, "after": after, "max_age": limits.max_age}
        async with backend._publish_lock:
            try:
                connection = await self._connection()
                cursor = await connection.execute(self._read, params)
                rows = await cursor.fetchall()
            except (backend._psycopg.Error, OSError) as exc:
                await backend._release()
                self._ready = False
                raise backend._unreachable(group, exc) from exc
        if not rows:
            return HistoryRead(None, 0, [])
        entries = [(int(row[2]), bytes(row[3])) for row in rows if row[2] is not None]
        return HistoryRead(rows[0][0], int(rows[0][1]), entries)
