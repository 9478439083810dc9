"""
The presence of one process: its store, its heartbeat, its sweeps, its events.

There is one :class:`Tracker` per event loop that has present connections
(a server process has one), made by the first join. It keeps the process's
own entries, writes them to the store that goes with the group backend
(:func:`store_class`), and broadcasts a ``wsviews.presence_diff`` group
message whenever the store says a key arrived in a group or left it.

With a store shared between processes (Redis, PostgreSQL), a task of the
tracker beats every ``WSVIEWS_PRESENCE_TIMEOUT / 6`` seconds: it renews the
process's registration for half the timeout, and sweeps the processes
whose registration has lapsed, sending the leave events of their
connections. So a process killed without cleaning up is gone from every
list within ``1/2 + 1/6`` of the timeout (20 s by default). A process whose
own registration lapsed (an event loop blocked for longer than that) finds
out at its next beat and joins its connections again.

This module is the lifecycle's and :mod:`django_wsviews.presence`'s; it has
no public API.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import conf
from .backends import BackendConfig, get_backend_config
from .backends.presence_store import PresenceStore
from .groups import abroadcast
from .log import get_logger

__all__ = ["DIFF_EVENT", "STATE_EVENT", "Tracker", "current_tracker", "get_tracker"]

logger = get_logger("django_wsviews.presence")

DIFF_EVENT = "wsviews.presence_diff"
STATE_EVENT = "wsviews.presence_state"

#: The presence store of each group backend that has one, by dotted path.
STORES = {
    "django_wsviews.backends.memory.MemoryBackend": (
        "django_wsviews.backends.presence_memory.MemoryPresenceStore"
    ),
    "django_wsviews.backends.redis.RedisBackend": (
        "django_wsviews.backends.presence_redis.RedisPresenceStore"
    ),
    "django_wsviews.backends.postgres.PostgresBackend": (
        "django_wsviews.backends.presence_postgres.PostgresPresenceStore"
    ),
    "django_wsviews.backends.redis_cluster.RedisClusterBackend": (
        "django_wsviews.backends.presence_redis.RedisClusterPresenceStore"
    ),
}


def store_class(config: BackendConfig) -> type[PresenceStore]:
    """
    Return the presence store that goes with the group backend of ``config``.

    A backend class names its own with a ``presence_store`` attribute (a
    dotted path); the library's backends, and their subclasses, are known.
    Raise ImproperlyConfigured for a backend without one.
    """
    path = getattr(config.backend_class, "presence_store", None)
    if path is None:
        for klass in config.backend_class.__mro__:
            path = STORES.get(f"{klass.__module__}.{klass.__qualname__}")
            if path is not None:
                break
    if path is None:
        raise ImproperlyConfigured(
            f"The group backend {config.backend_class.__name__} has no presence "
            "store: use the in-memory, Redis or PostgreSQL backend for presence, "
            "or give the backend class a presence_store attribute (a dotted path "
            "to a django_wsviews.backends.presence_store.PresenceStore)."
        )
    klass = import_string(path)
    if not (isinstance(klass, type) and issubclass(klass, PresenceStore)):
        raise ImproperlyConfigured(f"{path!r} is not a PresenceStore subclass.")
    return klass


def make_store(config: BackendConfig, process_id: str, timeout: float) -> PresenceStore:
    """Return a store for ``config``'s backend, whose heartbeats last half ``timeout``."""
    return store_class(config)(config.options, process_id, timeout / 2)


def member_json(connections: Mapping[str, Any]) -> dict[str, Any]:
    """Return one key's entry in an event: ``{"connections": {id: meta}}``."""
    return {"connections": dict(connections)}


class Tracker:
    """The present connections of one event loop, and the task that keeps them alive."""

    def __init__(self, config: BackendConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        #: Seconds between two beats: a sixth of the timeout.
        self.interval = timeout / 6
        self.process_id = uuid.uuid4().hex
        self.store = make_store(config, self.process_id, timeout)
        self.shared = self.store.shared
        self.closed = False
        #: (group, connection) -> (key, meta as JSON text), this process's entries.
        self.local: dict[tuple[str, str], tuple[str, str]] = {}
        self._task: asyncio.Future[None] | None = None
        self._registered: asyncio.Future[None] | None = None

    async def join(self, group: str, connection: str, key: str, meta: str) -> None:
        """Enter ``connection`` in ``group``; announce its key if it is the first."""
        if self.closed:
            raise RuntimeError("Presence is shutting down.")
        await self._register()
        self.local[(group, connection)] = (key, meta)
        if await self.store.join(group, connection, key, meta):
            await announce(group, joins={key: {connection: json.loads(meta)}})

    async def leave(self, group: str, connection: str) -> None:
        """Remove ``connection`` from ``group``; announce its key's leave if it was the last."""
        entry = self.local.pop((group, connection), None)
        if entry is None:
            return
        key, meta = entry
        if await self.store.leave(group, connection, key):
            await announce(group, leaves={key: {connection: json.loads(meta)}})

    async def _register(self) -> None:
        """Register the process (first heartbeat) and start the beat, once."""
        if self._registered is None:
            self._registered = asyncio.ensure_future(self._first_beat())
        await asyncio.shield(self._registered)

    async def _first_beat(self) -> None:
        try:
            await self.store.heartbeat()
        except BaseException:
            self._registered = None  # the next join tries again
            raise
        if self.shared and self._task is None:
            # A fresh context: the task outlives whichever connection made it.
            self._task = contextvars.Context().run(asyncio.ensure_future, self._run())

    async def beat(self) -> None:
        """Renew the registration (joining again if it lapsed), then sweep the dead."""
        if await self.store.heartbeat() and self.local:
            logger.warning(
                "This process's presence registration had lapsed (blocked for "
                "over %.1f s?); entering its %d connections again.",
                self.store.ttl,
                len(self.local),
            )
            for (group, connection), (key, meta) in list(self.local.items()):
                if await self.store.join(group, connection, key, meta):
                    await announce(group, joins={key: {connection: json.loads(meta)}})
        for departure in await self.store.sweep():
            await announce(
                departure.group, leaves={departure.key: departure.connections}
            )

    async def _run(self) -> None:
        try:
            while not self.closed:
                await asyncio.sleep(self.interval)
                try:
                    await self.beat()
                except Exception as exc:
                    logger.warning("Presence heartbeat failed: %s", exc)
        finally:
            await self._unregister()

    async def close(self) -> None:
        """Leave what is left, unregister the process and close the store."""
        self.closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=10)
        else:
            await self._unregister()

    async def _unregister(self) -> None:
        self.closed = True
        try:
            if self.shared and self._registered is not None:
                for departure in await self.store.unregister():
                    await announce(
                        departure.group, leaves={departure.key: departure.connections}
                    )
        except Exception as exc:
            logger.warning("Could not remove this process's presence: %s", exc)
        finally:
            self.local.clear()
            await self.store.close()


async def announce(
    group: str,
    *,
    joins: Mapping[str, Mapping[str, Any]] | None = None,
    leaves: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Broadcast a ``wsviews.presence_diff`` to ``group``; log (not raise) a failure."""
    event = {
        "event": DIFF_EVENT,
        "group": group,
        "joins": {key: member_json(c) for key, c in (joins or {}).items()},
        "leaves": {key: member_json(c) for key, c in (leaves or {}).items()},
    }
    try:
        await abroadcast(group, json=event, history=False)  # never replayed
    except Exception as exc:  # BroadcastError, already logged by groups
        logger.debug("Presence diff to %r not sent: %s", group, exc)


_trackers: dict[asyncio.AbstractEventLoop, Tracker] = {}
# Trackers replaced after a settings change, kept until they have closed.
_closing: set[asyncio.Future[None]] = set()


def get_tracker() -> Tracker:
    """Return the running loop's tracker, made for the current backend and timeout."""
    loop = asyncio.get_running_loop()
    config = get_backend_config()
    timeout = conf.settings.WSVIEWS_PRESENCE_TIMEOUT
    tracker = _trackers.get(loop)
    if (
        tracker is None
        or tracker.closed
        or tracker.config is not config
        or tracker.timeout != timeout
    ):
        for old in [other for other in _trackers if other.is_closed()]:
            del _trackers[old]
        if tracker is not None and not tracker.closed:  # the settings changed
            tracker.closed = True
            closing = asyncio.ensure_future(tracker.close())
            _closing.add(closing)
            closing.add_done_callback(_closing.discard)
        tracker = _trackers[loop] = Tracker(config, timeout)
    return tracker


def current_tracker() -> Tracker | None:
    """Return the running loop's tracker, if it has one, without making one."""
    tracker = _trackers.get(asyncio.get_running_loop())
    return None if tracker is None or tracker.closed else tracker


async def shutdown() -> None:
    """Close the running loop's tracker (lifespan shutdown, after the connections)."""
    tracker = _trackers.pop(asyncio.get_running_loop(), None)
    if tracker is not None:
        await tracker.close()
