"""
The per-process registry of group members, and the local fan-out.

There is one hub per event loop; a server process has one. It holds the
members of each group that live in this process, subscribes each group at
the backend once, when its first local member joins, and unsubscribes it
when the last one leaves: a group with a thousand members in a process costs
one subscription there.

Joining and leaving cost the same however many groups the process has: the
reconciliation loop works from the set of groups changed since its last
turn, never from every group. It subscribes every group asked for in the
same turn of the event loop, or while a subscription is in flight, with
one call to the backend (one ``SUBSCRIBE`` for Redis).

A message from the backend is decoded once and handed to every local member
by a non-blocking put into the member's bounded queue
(:class:`~django_wsviews.membership.Membership`); the fan-out never awaits a
socket, so one slow client cannot delay the others.

The hub lives as long as its event loop: lifespan shutdown closes it, and
otherwise its task closes the backend when the loop cancels its tasks on the
way out (``asyncio.run()``, asgiref's ``async_to_sync``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Collection
from typing import Protocol

from .backends import BackendConfig, get_backend_config
from .envelope import CloseRequest, GroupMessage, decode
from .log import get_logger

__all__ = ["Hub", "Member", "current_hub", "get_hub", "serving"]

logger = get_logger("django_wsviews.groups")

#: Seconds closing waits for the backend's tasks before giving up on them.
CLOSE_TIMEOUT = 5.0


class Member(Protocol):
    """What the hub hands messages to: one connection's membership."""

    def deliver(self, message: GroupMessage) -> None:
        """Queue ``message`` for the connection, without blocking."""

    def close_from_group(self, code: int, reason: str) -> None:
        """Close the connection soon, without blocking."""


class Hub:
    """The local members of every group, for one event loop."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.backend = config.create(self._on_message)
        self.closed = False
        self._members: dict[str, set[Member]] = {}
        self._subscribed: set[str] = set()  # groups the backend has taken
        self._waiters: dict[str, asyncio.Future[None]] = {}
        # Groups whose subscription may need to change; _run() works from these.
        self._pending: set[str] = set()
        self._changed = asyncio.Event()
        self._started: asyncio.Future[None] | None = None
        self._backend_closed = False
        # A fresh context: the hub outlives whichever connection made it.
        self._task = contextvars.Context().run(asyncio.ensure_future, self._run())

    def members(self, group: str) -> frozenset[Member]:
        """Return the local members of ``group``."""
        return frozenset(self._members.get(group, ()))

    async def start(self) -> None:
        """Connect the backend, once; raise what a misconfigured backend raises."""
        global _serving
        _serving = True
        if self._started is None:
            self._started = asyncio.ensure_future(self.backend.connect())
        await asyncio.shield(self._started)

    async def add(self, group: str, member: Member) -> None:
        """
        Make ``member`` a local member of ``group``.

        Return once the backend delivers the group's messages to this
        process (at once when another local member already joined it).
        Raise RuntimeError once the hub is closed (the server is stopping).
        """
        await self.add_all((group,), member)

    async def add_all(self, groups: Collection[str], member: Member) -> None:
        """
        Make ``member`` a local member of every group of ``groups``.

        Like :meth:`add`, with one subscription for all the groups that need
        one. Nothing to do for an empty collection.
        """
        if self.closed:
            raise RuntimeError("Cannot join a group: the server is shutting down.")
        waiting: list[asyncio.Future[None]] = []
        for group in groups:
            members = self._members.get(group)
            if members is None:
                members = self._members[group] = set()
            members.add(member)
            if group in self._subscribed:
                continue
            waiter = self._waiters.get(group)
            if waiter is None:
                waiter = self._waiters[group] = (
                    asyncio.get_running_loop().create_future()
                )
                self._pending.add(group)
                self._changed.set()
            waiting.append(waiter)
        for waiter in waiting:  # resolved together, as a rule: one real wait
            await asyncio.shield(waiter)

    def discard(self, group: str, member: Member) -> None:
        """Remove ``member`` from ``group``; the last one out unsubscribes it, soon."""
        members = self._members.get(group)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self._members[group]
            self._pending.add(group)
            self._changed.set()

    async def publish(self, group: str, payload: bytes) -> None:
        """Publish ``payload`` to ``group`` in every process; raise BroadcastError if it cannot."""
        await self.backend.publish(group, payload)

    async def close(self) -> None:
        """Close the backend; the hub takes no more members."""
        self.closed = True
        self._changed.set()  # ends the loop, should a backend swallow the cancellation
        self._task.cancel()
        _, pending = await asyncio.wait({self._task}, timeout=CLOSE_TIMEOUT)
        if pending:
            logger.warning("The group hub did not stop within %s s.", CLOSE_TIMEOUT)
        await self._close_backend()  # if the task was cancelled before it began

    def _on_message(self, payload: bytes) -> None:
        try:
            message = decode(payload)
        except ValueError as exc:
            logger.warning("Dropping a malformed group message: %s", exc)
            return
        members = self._members.get(message.group)
        if not members:
            return
        if isinstance(message, CloseRequest):
            for member in tuple(members):
                member.close_from_group(message.code, message.reason)
        else:
            for member in tuple(members):
                member.deliver(message)

    async def _run(self) -> None:
        """Keep the backend's subscriptions in step with the local members."""
        try:
            while not self.closed:
                await self._changed.wait()
                self._changed.clear()
                await self._sync_subscriptions()
        finally:
            await self._close_backend()

    async def _close_backend(self) -> None:
        if not self._backend_closed:
            self._backend_closed = True
            try:
                await self.backend.close()
            except Exception:
                logger.exception("Error closing the group backend")

    async def _sync_subscriptions(self) -> None:
        """Subscribe and unsubscribe the groups changed since the last call."""
        pending, self._pending = self._pending, set()
        gone: list[str] = []
        new: list[str] = []
        for group in pending:
            if group in self._members:
                if group not in self._subscribed:
                    new.append(group)
            else:
                if group in self._subscribed:
                    gone.append(group)
                waiter = self._waiters.pop(group, None)
                if waiter is not None:
                    waiter.set_result(None)  # every joiner left
        try:
            if gone:
                self._subscribed.difference_update(gone)
                await self.backend.unsubscribe(gone)
            if new:
                await self.start()
                await self.backend.subscribe(new)
                self._subscribed.update(new)
        except Exception as exc:
            logger.exception("Error changing the group backend's subscriptions")
            self._pending.update(new)  # tried again with the next change
            for group in new:
                waiter = self._waiters.pop(group, None)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()  # retrieved: the joiners, if any, re-raise it
            return
        for group in new:
            waiter = self._waiters.pop(group, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}

# Whether a hub of this process has started: at lifespan startup, or when a
# connection joined a group (without lifespan).
_serving = False


def serving() -> bool:
    """
    Return whether this process serves WebSocket connections.

    True once a hub has started: at lifespan startup, or when a connection
    first joined a group. False in a shell or a management command.
    """
    return _serving


def get_hub() -> Hub:
    """Return the running event loop's hub, made with the current backend setting."""
    loop = asyncio.get_running_loop()
    config = get_backend_config()
    hub = _hubs.get(loop)
    if hub is None or hub.closed or hub.config is not config:
        for old in [other for other in _hubs if other.is_closed()]:
            del _hubs[old]
        hub = _hubs[loop] = Hub(config)
    return hub


def current_hub() -> Hub | None:
    """Return the running event loop's hub if it has one, without making one."""
    return _hubs.get(asyncio.get_running_loop())
