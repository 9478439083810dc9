"""
The PostgreSQL group backend: LISTEN/NOTIFY, with the project's own database.

No extra server: each process holds one connection that LISTENs on a
channel per group (``<PREFIX>_<hash of the group>``), once whatever its
number of local members, and a second one that NOTIFYs. Connection settings
are those of ``DATABASES[<DATABASE>]`` (psycopg 3; ``pip install
django-wsviews[postgres]``). A connection pooler in transaction mode
(PgBouncer) cannot LISTEN: point ``CONNECTION_KWARGS`` at PostgreSQL itself.

``NOTIFY`` payloads are text under 8000 bytes. Every message is sent as
base64 (binary-safe), split into as many ``NOTIFY`` as needed in one
transaction, so PostgreSQL delivers the parts together and in order; the
listeners join them up.

Options:

``DATABASE``
    The ``DATABASES`` alias whose settings to use (``"default"``).
``CONNECTION_KWARGS``
    libpq parameters that override those, e.g. ``{"host": "db-primary"}``.
``PREFIX``
    Channel prefix: lower-case letters, digits and ``_`` (``"wsviews"``).
``HEALTH_CHECK_INTERVAL``
    Seconds without a notification before the listening connection is
    checked with ``SELECT 1`` (15).
``RECONNECT_MAX_DELAY``
    Cap of the backoff between reconnection attempts, in seconds (10).
``SUBSCRIBE_TIMEOUT``
    How long a join waits for its ``LISTEN`` to be in place (5).

Failure policy: when a connection breaks, open WebSockets stay up; the
backend logs a warning, reconnects with backoff and LISTENs to every group
again. ``publish()`` raises
:class:`~django_wsviews.exceptions.BroadcastError` while PostgreSQL is
unreachable. A message is NOTIFYed at most once, never retried; a NOTIFY
connection that the server closed meanwhile is replaced before use, so once
PostgreSQL is back, broadcasts go through.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..log import get_logger
from .base import ListeningBackend, MessageCallback

__all__ = ["PostgresBackend"]

logger = get_logger("django_wsviews.backends.postgres")

#: Base64 characters per NOTIFY, leaving room for the part header under 8000 bytes.
CHUNK = 7900
#: Messages being put together at once; older ones are dropped past it.
MAX_PARTIAL = 64

_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,29}\Z")
# Parameters Django passes to psycopg that are not libpq's.
_NOT_LIBPQ = ("cursor_factory", "context", "prepare_threshold", "server_side_binding")


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg.sql
    except ImportError as exc:
        raise ImportError(
            "The PostgreSQL group backend needs psycopg 3: "
            "pip install 'django-wsviews[postgres]'."
        ) from exc
    return psycopg


def connection_params(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the libpq parameters of the ``DATABASE`` alias, with ``CONNECTION_KWARGS``."""
    from django.db import connections
    from django.utils.connection import ConnectionDoesNotExist

    alias = options.get("DATABASE", "default")
    try:
        wrapper = connections[alias]
    except ConnectionDoesNotExist as exc:
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND['OPTIONS']['DATABASE'] is {alias!r}, which is not in "
            "DATABASES: name a PostgreSQL database alias."
        ) from exc
    if wrapper.vendor != "postgresql":
        raise ImproperlyConfigured(
            f"The PostgreSQL group backend needs a PostgreSQL database, and "
            f"DATABASES[{alias!r}] is {wrapper.vendor}: set "
            "WSVIEWS_BACKEND['OPTIONS']['DATABASE'] to a PostgreSQL alias."
        )
    params = dict(wrapper.get_connection_params())
    for key in _NOT_LIBPQ:
        params.pop(key, None)
    extra = options.get("CONNECTION_KWARGS", {})
    if not isinstance(extra, Mapping):
        raise ImproperlyConfigured(
            "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] must be a dict of "
            f"libpq parameters, not {type(extra).__name__}."
        )
    params.update(extra)
    params.setdefault("connect_timeout", 5)
    # On a network cut, a write fails after 10 s without acknowledgement
    # (as Redis's socket_timeout), not after the kernel's minutes of
    # retransmissions. Linux only; libpq ignores it elsewhere.
    params.setdefault("tcp_user_timeout", 10_000)
    params.setdefault("application_name", "django-wsviews")
    return params


class PostgresBackend(ListeningBackend[str]):
    """Publish with NOTIFY and subscribe with LISTEN."""

    option_names = ListeningBackend.option_names | {
        "DATABASE",
        "CONNECTION_KWARGS",
        "PREFIX",
    }
    listener_name = "LISTEN"
    resubscribed_text = "listening to %d groups again"
    _log = logger

    def __init__(self, options: Mapping[str, Any], on_message: MessageCallback) -> None:
        super().__init__(options, on_message)
        self._psycopg = _import_psycopg()
        self._params = connection_params(options)
        prefix = options.get("PREFIX", "wsviews")
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            raise ImproperlyConfigured(
                f"WSVIEWS_BACKEND['OPTIONS']['PREFIX'] is {prefix!r}: use 1 to 30 "
                "lower-case letters, digits and underscores, starting with a letter."
            )
        self._prefix = prefix
        self._dirty: set[str] = set()  # wanted or unwanted since the last _apply()
        self._changed = asyncio.Event()
        self._publisher: Any = None
        self._publish_lock = asyncio.Lock()
        self._partial: collections.OrderedDict[str, list[str]] = (
            collections.OrderedDict()
        )

    def _where(self) -> str:
        host = self._params.get("host") or "localhost"
        port = self._params.get("port") or 5432
        return f"PostgreSQL at {host}:{port} (database {self._params.get('dbname')!r})"

    def _channel(self, group: str) -> str:
        digest = hashlib.blake2b(group.encode(), digest_size=16).hexdigest()
        return f"{self._prefix}_{digest}"

    # The NOTIFY connection ----------------------------------------------------------

    async def publish(self, group: str, payload: bytes) -> None:
        """
        NOTIFY ``payload`` in as many parts as needed, once; raise BroadcastError if unreachable.

        The NOTIFY connection is checked before use (see
        :meth:`_publishing_connection`), so the first broadcast after an
        outage goes through. A connection that fails once the NOTIFY is sent
        fails the broadcast: PostgreSQL may have delivered it, so it is not
        sent again.
        """
        channel = self._channel(group)
        text = base64.b64encode(payload).decode("ascii")
        parts = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
        message_id = secrets.token_hex(8)
        notices = [
            (channel, f"{message_id}:{index}:{len(parts)}:{part}")
            for index, part in enumerate(parts)
        ]
        async with self._publish_lock:
            try:
                connection = await self._publishing_connection()
                if len(notices) == 1:
                    await connection.execute("SELECT pg_notify(%s, %s)", notices[0])
                else:
                    async with connection.transaction(), connection.cursor() as cursor:
                        await cursor.executemany("SELECT pg_notify(%s, %s)", notices)
            except (self._psycopg.Error, OSError) as exc:
                await self._release()
                raise self._unreachable(group, exc) from exc

    async def _publishing_connection(self) -> Any:
        """
        Return the NOTIFY connection; replace it first if the server closed it.

        No round trip: libpq reads what has arrived on the socket without
        waiting. A server that was killed has closed the socket, which the
        first read finds; one that shut down or terminated the session sent
        an error first, and the second read finds the end. Without this
        check the first NOTIFY after PostgreSQL restarts would fail on the
        dead connection, and it is not retried (at most once).
        """
        connection = self._publisher
        if connection is not None:
            try:
                connection.pgconn.consume_input()
                connection.pgconn.consume_input()
            except self._psycopg.OperationalError:
                await self._release()
                connection = None
        if connection is None or connection.closed:
            connection = self._publisher = await self._psycopg.AsyncConnection.connect(
                **self._params, autocommit=True
            )
        return connection

    async def _release(self) -> None:
        connection, self._publisher = self._publisher, None
        if connection is not None:
            await self._quietly(connection.close())

    # The LISTEN connection ----------------------------------------------------------

    async def _open(self) -> Any:
        return await self._psycopg.AsyncConnection.connect(
            **self._params, autocommit=True
        )

    async def _resubscribe(self, connection: Any) -> None:
        self._dirty |= self._channels  # a new connection listens to nothing
        await self._apply(connection)

    async def _close_connection(self, connection: Any) -> None:
        self._partial.clear()
        await connection.close()

    async def _request_subscribe(self, channels: set[str]) -> None:
        self._dirty |= channels
        self._changed.set()

    async def _request_unsubscribe(self, channels: set[str]) -> None:
        self._dirty |= channels
        self._changed.set()

    async def _receive(self, connection: Any) -> None:
        while True:
            reader = asyncio.ensure_future(self._read(connection))
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                done, _ = await asyncio.wait(
                    {reader, changed},
                    timeout=self._health,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                reader.cancel()
                changed.cancel()
                await asyncio.wait({reader, changed})
            error = None if reader.cancelled() else reader.exception()
            if error is not None:
                raise error
            if changed in done:
                await self._apply(connection)
            elif not done:  # quiet for a while: is the connection alive?
                await asyncio.wait_for(connection.execute("SELECT 1"), self._health)

    async def _apply(self, connection: Any) -> None:
        """
        LISTEN and UNLISTEN until the connection listens to the wanted channels.

        Only the channels changed since the last call are looked at, so a
        join costs the same however many groups the process listens to.
        """
        sql = self._psycopg.sql
        while True:
            self._changed.clear()
            dirty, self._dirty = self._dirty, set()
            listen = sorted(
                channel
                for channel in dirty
                if channel in self._channels and channel not in self._active
            )
            unlisten = sorted(
                channel
                for channel in dirty
                if channel not in self._channels and channel in self._active
            )
            statements = [
                sql.SQL("LISTEN {}").format(sql.Identifier(channel))
                for channel in listen
            ] + [
                sql.SQL("UNLISTEN {}").format(sql.Identifier(channel))
                for channel in unlisten
            ]
            if statements:
                await connection.execute(sql.SQL("; ").join(statements))
            self._active.update(listen)
            self._active.difference_update(unlisten)
            self._signal.notify()
            if not self._changed.is_set():
                return

    async def _read(self, connection: Any) -> None:
        async for notify in connection.notifies():
            self._received(notify.payload)
            await asyncio.sleep(0)  # let the members' delivery tasks run

    def _received(self, notice: str) -> None:
        try:
            message_id, index_text, count_text, part = notice.split(":", 3)
            index, count = int(index_text), int(count_text)
        except ValueError:
            logger.warning(
                "Dropping a NOTIFY that is not a django-wsviews message part."
            )
            return
        if count == 1:
            self._deliver(part)
            return
        parts = self._partial.get(message_id)
        if parts is None:
            if index != 0:
                return  # the start was missed (LISTEN came mid-message)
            parts = self._partial[message_id] = []
            while len(self._partial) > MAX_PARTIAL:
                self._partial.popitem(last=False)
        if index != len(parts):
            logger.warning("Dropping a group message with a missing part.")
            del self._partial[message_id]
            return
        parts.append(part)
        if len(parts) == count:
            del self._partial[message_id]
            self._deliver("".join(parts))

    def _deliver(self, text: str) -> None:
        try:
            payload = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            logger.warning("Dropping a NOTIFY whose payload is not base64.")
            return
        try:
            self.on_message(payload)
        except Exception:
            logger.exception("Error handing a group message to the hub")
