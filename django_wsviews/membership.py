"""
One connection's groups, and its bounded queue of outgoing group messages.

A connection that never joins a group has no membership: no queue, no task.
The first ``join()`` makes one; from accept on, a task of the connection
takes messages off the queue, in order, and runs the view's
``receive_group()`` hook for each.

The hub puts messages in the queue without waiting. When the queue is full
(``WSVIEWS_SEND_QUEUE_SIZE`` messages waiting: the client reads slower than
the group talks), ``WSVIEWS_SEND_QUEUE_OVERFLOW`` decides:

- ``"close"`` (the default): close the connection with 1013 (try again
  later) and log a warning on ``django_wsviews.groups``; the client may
  reconnect and catch up.
- ``"drop_oldest"``: drop the oldest waiting message for the new one.
- ``"drop_newest"``: drop the new message.

Dropping logs a warning on a connection's first drop, then at DEBUG.

A connection may be in at most ``max_groups`` groups (the view's
``get_max_groups_per_connection()``): a join that would take it past them
raises :class:`~django_wsviews.exceptions.TooManyGroups` and joins nothing.
Joining and leaving cost the same however many groups the connection, or
the process, is in.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterable

from . import conf
from .envelope import GroupMessage
from .exceptions import TooManyGroups
from .hub import Hub, get_hub
from .log import get_logger
from .status import CloseCode

__all__ = ["Membership"]

logger = get_logger("django_wsviews.groups")

#: Close tasks in flight, kept referenced until done.
_closing: set[asyncio.Task[None]] = set()


class Membership:
    """
    The groups of one connection.

    ``deliver`` runs the view's hook on one message; ``close`` closes the
    connection; ``is_closed`` tells whether it has ended; ``label`` names it
    in logs (the path); ``context`` is the connection's context, in which
    its tasks run (so a sync hook runs in the connection's thread);
    ``max_groups`` is the most groups it may be in at once (None: no limit).
    """

    def __init__(
        self,
        *,
        deliver: Callable[[GroupMessage], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        is_closed: Callable[[], bool],
        label: str,
        context: contextvars.Context,
        max_groups: int | None,
    ) -> None:
        self.groups: set[str] = set()
        self.max_groups = max_groups
        self._deliver = deliver
        self._close = close
        self._is_closed = is_closed
        self._label = label
        self._context = context
        self._policy = conf.settings.WSVIEWS_SEND_QUEUE_OVERFLOW
        self._queue: asyncio.Queue[GroupMessage] = asyncio.Queue(
            conf.settings.WSVIEWS_SEND_QUEUE_SIZE
        )
        self._hub: Hub | None = None
        self._task: asyncio.Task[None] | None = None
        self._shut = False
        self._dropped = 0

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
                f"WebSocket {self._label} cannot join {len(new)} more group(s): "
                f"it would be in {count}, over its limit of {self.max_groups}. "
                "Leave groups first, or raise the view's "
                "max_groups_per_connection (WSVIEWS_MAX_GROUPS_PER_CONNECTION).",
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

    def start(self) -> None:
        """Start delivering (after accept); messages queued before are delivered first."""
        if self._task is None and not self._shut:
            self._task = self._context.run(asyncio.ensure_future, self._drain())

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
        if not self._shut and not self._is_closed():
            logger.info(
                "Closing WebSocket %s with %d, as asked through its group.",
                self._label,
                code,
            )
            self._shut_down(code, reason)

    def _overflow(self, message: GroupMessage) -> None:
        if self._policy == "close":
            logger.warning(
                "Closing WebSocket %s with 1013: %d group messages are waiting "
                "(WSVIEWS_SEND_QUEUE_SIZE); the client reads too slowly.",
                self._label,
                self._queue.qsize(),
            )
            self._shut_down(CloseCode.TRY_AGAIN_LATER, "Too slow to keep up.")
            return
        if self._policy == "drop_oldest":
            self._queue.get_nowait()
            self._queue.put_nowait(message)
        self._dropped += 1
        logger.log(
            logging.WARNING if self._dropped == 1 else logging.DEBUG,
            "Dropping a group message for WebSocket %s (%s): %d group messages "
            "are waiting (WSVIEWS_SEND_QUEUE_SIZE).",
            self._label,
            self._policy,
            self._queue.qsize(),
        )

    def _shut_down(self, code: int, reason: str) -> None:
        self._shut = True
        if self._task is not None:
            self._task.cancel()  # it may be stuck sending to this very client
            self._task = None
        task = self._context.run(
            asyncio.ensure_future, self._close_connection(code, reason)
        )
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close_connection(self, code: int, reason: str) -> None:
        try:
            await self._close(code, reason)
        except Exception:
            logger.exception("Error closing WebSocket %s", self._label)

    async def _drain(self) -> None:
        queue = self._queue
        while not self._is_closed():
            message = await queue.get()
            await self._deliver(message)
