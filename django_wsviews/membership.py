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
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from . import conf
from .envelope import GroupMessage
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
    its tasks run (so a sync hook runs in the connection's thread).
    """

    def __init__(
        self,
        *,
        deliver: Callable[[GroupMessage], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        is_closed: Callable[[], bool],
        label: str,
        context: contextvars.Context,
    ) -> None:
        self.groups: set[str] = set()
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

    async def join(self, group: str) -> None:
        """Join ``group``; return once its messages reach this connection."""
        if group in self.groups:
            return
        if self._hub is None:
            self._hub = get_hub()
        self.groups.add(group)
        await self._hub.add(group, self)

    def leave(self, group: str) -> None:
        """Leave ``group``; do nothing if not a member."""
        if group in self.groups and self._hub is not None:
            self.groups.discard(group)
            self._hub.discard(group, self)

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
