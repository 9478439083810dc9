"""
One connection's groups, and its bounded queue of outgoing group messages.

A connection that never joins a group has no membership: no queue, no task.
The first ``join()`` makes one; from accept on, a task of the connection
takes messages off the queue, in order, and runs the view's
``receive_group()`` hook for each.

The hub puts messages in the queue without waiting. When the queue is full
(``WSVIEWS_SEND_QUEUE_SIZE`` messages waiting: the client reads slower than
the group talks, or the view's own hooks are too slow for it),
``WSVIEWS_SEND_QUEUE_OVERFLOW`` decides:

- ``"close"`` (the default): close the connection with 1013 (try again
  later) and log a warning on ``django_wsviews.groups``; the client may
  reconnect and catch up.
- ``"drop_oldest"``: drop the oldest waiting message for the new one.
- ``"drop_newest"``: drop the new message.

Dropping logs a warning on a connection's first drop, then at DEBUG.

A connection that resumes a group with history (see
:mod:`django_wsviews.history`) is given its :class:`~django_wsviews.history.Resume`
before accept: the task first sends the reset, or runs ``receive_group()``
for each replayed message, then the queue, in which live messages of the
group that the replay already covered are dropped.

A connection may be in at most ``max_groups`` groups (the view's
``get_limits()``): a join that would take it past them
raises :class:`~django_wsviews.exceptions.TooManyGroups` and joins nothing.
Joining and leaving cost the same however many groups the connection, or
the process, is in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from . import conf, metrics
from .envelope import GroupMessage
from .exceptions import TooManyGroups
from .hub import Hub, get_hub
from .log import get_logger
from .signals import ClosedBy
from .status import CloseCode

if TYPE_CHECKING:
    from .history import Resume

__all__ = ["GroupTarget", "Membership"]

logger = get_logger("django_wsviews.groups")


class GroupTarget(Protocol):
    """The connection a membership serves (the lifecycle implements it)."""

    @property
    def label(self) -> str:
        """Name the connection in log lines (its path)."""
        ...

    def is_closed(self) -> bool:
        """Return whether the connection has ended."""
        ...

    def is_busy(self) -> bool:
        """Return whether a hook of the connection is running (deliveries wait)."""
        ...

    async def deliver_group(self, message: GroupMessage) -> None:
        """Run the view's receive_group() on ``message``."""
        ...

    async def send_reset(self) -> None:
        """Tell the client its history no longer reaches back (``wsviews.reset``)."""
        ...

    def close_soon(self, code: int, reason: str, closed_by: ClosedBy) -> None:
        """Close the connection without waiting."""
        ...

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``coro`` as a task of the connection."""
        ...


class Membership:
    """
    The groups of one connection.

    ``target`` is the connection (see :class:`GroupTarget`); ``max_groups``
    is the most groups it may be in at once (None: no limit).
    """

    def __init__(self, target: GroupTarget, *, max_groups: int | None) -> None:
        self.groups: set[str] = set()
        self.max_groups = max_groups
        self._target = target
        self._policy = conf.settings.WSVIEWS_SEND_QUEUE_OVERFLOW
        self._queue: asyncio.Queue[GroupMessage] = asyncio.Queue(
            conf.settings.WSVIEWS_SEND_QUEUE_SIZE
        )
        self._hub: Hub | None = None
        self._task: asyncio.Future[Any] | None = None
        self._shut = False
        self._dropped = 0
        self._resume: Resume | None = None

    async def join(self, groups: Iterable[str]) -> None:
        """
        Join ``groups``; return once their messages reach this connection.

        The groups this connection is already in are skipped (and not
        counted twice); the others are subscribed together. Raise
        TooManyGroups, joining none, if the connection would be in more
        than ``max_groups``.
        """
        new = [group for group in dict.fromkeys(groups) if group not in self.groups]
        if not new:
            return
        count = len(self.groups) + len(new)
        if self.max_groups is not None and count > self.max_groups:
            raise TooManyGroups(
                f"WebSocket {self._target.label} cannot join {len(new)} more group(s): "
                f"it would be in {count}, over its limit of {self.max_groups}. "
                "Leave groups first, or raise the view's "
                "limits.max_groups_per_connection (WSVIEWS_MAX_GROUPS_PER_CONNECTION).",
                limit=self.max_groups,
                count=count,
            )
        if self._hub is None:
            self._hub = get_hub()
        self.groups.update(new)
        await self._hub.add_all(new, self)

    def leave(self, groups: Iterable[str]) -> None:
        """Leave ``groups``; skip those this connection is not in."""
        hub = self._hub
        if hub is None:
            return
        for group in groups:
            if group in self.groups:
                self.groups.discard(group)
                hub.discard(group, self)

    def resume_with(self, resume: Resume) -> None:
        """
        Deliver ``resume`` (a reset, or replayed messages) first, once started.

        Live messages of its group up to the last one replayed, queued
        meanwhile or still to come, are dropped as duplicates.
        """
        self._resume = resume

    def start(self) -> None:
        """Start delivering (after accept); messages queued before are delivered first."""
        if self._task is None and not self._shut:
            self._task = self._target.spawn(self._drain())

    def leave_all(self) -> None:
        """Leave every group and stop delivering: the connection has ended."""
        self._shut = True
        if self._hub is not None:
            for group in self.groups:
                self._hub.discard(group, self)
        self.groups.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # Called by the hub; never blocks ------------------------------------------

    def deliver(self, message: GroupMessage) -> None:
        """Queue ``message``, or apply the overflow policy if the queue is full."""
        if self._shut:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._overflow(message)

    def close_from_group(self, code: int, reason: str) -> None:
        """Close the connection, dropping the messages still waiting."""
        if not self._shut and not self._target.is_closed():
            logger.info(
                "Closing WebSocket %s with %d, as asked through its group.",
                self._target.label,
                code,
            )
            self._shut_down(code, reason, ClosedBy.VIEW)

    def _overflow(self, message: GroupMessage) -> None:
        # Who is slow: the view (a hook is running, so deliveries wait) or
        # the client (it reads slower than the group talks).
        culprit = (
            "the view's hooks are too slow for its group messages (they wait "
            "for the hook running now; see receive_group_concurrently)"
            if self._target.is_busy()
            else "the client reads too slowly"
        )
        if self._policy == "close":
            logger.warning(
                "Closing WebSocket %s with 1013: %d group messages are waiting "
                "(WSVIEWS_SEND_QUEUE_SIZE); %s.",
                self._target.label,
                self._queue.qsize(),
                culprit,
            )
            metrics.group_message_dropped()
            self._shut_down(
                CloseCode.TRY_AGAIN_LATER, "Too slow to keep up.", ClosedBy.SERVER
            )
            return
        if self._policy == "drop_oldest":
            self._queue.get_nowait()
            self._queue.put_nowait(message)
        self._dropped += 1
        metrics.group_message_dropped()
        logger.log(
            logging.WARNING if self._dropped == 1 else logging.DEBUG,
            "Dropping a group message for WebSocket %s (%s): %d group messages "
            "are waiting (WSVIEWS_SEND_QUEUE_SIZE); %s.",
            self._target.label,
            self._policy,
            self._queue.qsize(),
            culprit,
        )

    def _shut_down(self, code: int, reason: str, closed_by: ClosedBy) -> None:
        self._shut = True
        if self._task is not None:
            self._task.cancel()  # it may be stuck sending to this very client
            self._task = None
        self._target.close_soon(code, reason, closed_by)

    async def _drain(self) -> None:
        queue = self._queue
        target = self._target
        resume, self._resume = self._resume, None
        if resume is not None:
            if resume.reset:
                await target.send_reset()
            for message in resume.messages:
                if target.is_closed():
                    return
                await target.deliver_group(message)
                metrics.group_message_delivered()
            if resume.through is None:
                resume = None
        while not target.is_closed():
            message = await queue.get()
            if resume is not None and message.group == resume.group:
                if resume.is_duplicate(message):
                    continue
                if message.seq is not None:  # not a live-only message
                    resume = None  # past the seam: no more duplicates can come
            await target.deliver_group(message)
            metrics.group_message_delivered()
