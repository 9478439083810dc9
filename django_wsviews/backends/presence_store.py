"""
The interface of presence stores: who is present in which group, per process.

A store keeps one entry per (group, connection): the connection's key
(``"user:<pk>"`` or ``"conn:<connection id>"``), its metadata (JSON text) and
the process that holds it. Its one promise is atomicity: :meth:`join` says
whether the connection is its key's first in the group, :meth:`leave` whether
it was the last, and :meth:`sweep` removes the entries of dead processes and
says which keys that left, each exactly once, however many processes call it
at the same time. Presence events (:mod:`django_wsviews.presence`) are sent
from those answers, so one user in three tabs, in two processes, joins and
leaves once.

A process proves it is alive with :meth:`heartbeat`; one that has not for
``ttl`` seconds is dead, and the next :meth:`sweep` of any process removes its
entries. Stores take their server's options from the group backend's
``OPTIONS`` and read no settings.

Failure policy: every method raises the driver's error (an ``OSError`` or
the driver's own) when the server is unreachable; the caller logs it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Departure", "PresenceStore", "departures"]


@dataclass(frozen=True)
class Departure:
    """A key that has no connection left in ``group``, and the connections it had."""

    group: str
    key: str
    #: The removed connections' metadata, by connection id.
    connections: Mapping[str, Any]


class PresenceStore(abc.ABC):
    """
    Where the presence entries of every process live.

    ``options`` is ``WSVIEWS_BACKEND['OPTIONS']``; ``process_id`` names this
    process (random, made once per event loop); ``ttl`` is how long, in
    seconds, a heartbeat keeps the process alive. Making one does no I/O.
    """

    #: Whether other processes share the entries: then the process beats,
    #: and sweeps the dead. False for the in-memory store.
    shared: ClassVar[bool] = True

    def __init__(self, options: Mapping[str, Any], process_id: str, ttl: float) -> None:
        self.options = options
        self.process_id = process_id
        self.ttl = ttl

    async def heartbeat(self) -> bool:
        """
        Say that this process is alive for ``ttl`` seconds more.

        Return True if the process was not registered: the first call, or
        after a sweep by another process found it dead (its entries are
        then gone, and the caller joins its connections again).
        """
        return False

    @abc.abstractmethod
    async def join(self, group: str, connection: str, key: str, meta: str) -> bool:
        """
        Add ``connection`` (of ``key``, with ``meta``, JSON text) to ``group``.

        Return True if it is the key's first connection in the group. Adding
        a connection already there does nothing and returns False.
        """

    @abc.abstractmethod
    async def leave(self, group: str, connection: str, key: str) -> bool:
        """
        Remove ``connection`` from ``group``.

        Return True if it was the key's last connection there. Removing a
        connection that is not there (swept meanwhile) returns False.
        """

    @abc.abstractmethod
    async def members(self, group: str) -> dict[str, dict[str, Any]]:
        """Return the connections present in ``group``: ``{key: {connection: meta}}``."""

    async def sweep(self) -> list[Departure]:
        """
        Remove the entries of processes dead for ``ttl`` seconds.

        Return the keys that lost their last connection in a group, each
        exactly once across every process that sweeps.
        """
        return []

    async def unregister(self) -> list[Departure]:
        """
        Remove this process and whatever entries it still has (a clean shutdown).

        Return the departures that makes, as :meth:`sweep` does.
        """
        return []

    async def close(self) -> None:  # noqa: B027  (optional to override)
        """Release the server connections; return in bounded time."""


def departures(
    removed: list[tuple[str, str, str, Any]], gone: set[tuple[str, str]]
) -> list[Departure]:
    """
    Group ``removed`` entries (group, key, connection, meta) into departures.

    Only the (group, key) pairs in ``gone`` (no connection left) depart.
    """
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for group, key, connection, meta in removed:
        if (group, key) in gone:
            by_key.setdefault((group, key), {})[connection] = meta
    return [
        Departure(group, key, connections)
        for (group, key), connections in sorted(by_key.items())
    ]
