"""
A connection's message loop: read, check the limits, run the receive hook.

:class:`MessageLoop` is the part of a connection's
:class:`~django_wsviews.lifecycle.Lifecycle` that runs from the accept to
the close. It decides everything once per connection, nothing per message:
the hook (and whether it runs in a thread), the size and rate limits, the
idle timer, the session re-check.

A receive hook runs inline, on the connection's own task, until it first
suspends; only then does it get a task of its own, while the loop reads up
to :data:`READ_AHEAD` messages ahead, so a client that leaves is noticed at
once and the hook cancelled.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import types
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, cast

from .connection import State
from .db import connection_thread, run_in_thread
from .exceptions import ConnectionClosed
from .hooks import HookGate, is_async, report_exception
from .limits import Limits, TokenBucket, message_size_exceeds, parse_rate
from .log import get_logger
from .signals import ClosedBy
from .status import CloseCode

if TYPE_CHECKING:
    from .sessions import SessionCheck
    from .views import WebSocketView

__all__ = ["READ_AHEAD", "MessageLoop"]

logger = get_logger("django_wsviews")

# A connection reads at most this many messages ahead while a hook is
# suspended (to notice a disconnect); past it, the server's own buffer and
# backpressure apply.
READ_AHEAD = 32


@types.coroutine
def _resume(coro: Any, yielded: Any) -> Generator[Any, None, Any]:
    """
    Drive ``coro``, already started and suspended on ``yielded``, to its end.

    This lets a hook run inline on the connection's own task until it first
    suspends; only then is a task made for the rest of it. It forwards
    exactly what ``await`` would: every send and throw from the event loop
    goes to ``coro``.
    """
    while True:
        try:
            yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation and the like go to the hook
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(None)
            except StopIteration as stop:
                return stop.value


class MessageLoop:
    """
    Read one connection's messages and run its receive hook on each, in order.

    ``spawn`` runs a task of the connection (cancelled with the others on
    the way out); :meth:`stop` is the loop's own cleanup.
    """

    __slots__ = (
        "_idle_timer",
        "_pending",
        "_reader",
        "gate",
        "limits",
        "session",
        "spawn",
        "view",
    )

    def __init__(
        self,
        view: WebSocketView,
        gate: HookGate,
        limits: Limits,
        session: SessionCheck,
        spawn: Callable[[Awaitable[Any]], asyncio.Future[Any]],
    ) -> None:
        self.view = view
        self.gate = gate
        self.limits = limits
        self.session = session
        self.spawn = spawn
        self._reader: asyncio.Future[Any] | None = None
        self._pending: collections.deque[Any] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        """Cancel the idle timer and forget a read under way (its task is the lifecycle's)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._reader = None

    async def run(self) -> None:
        """Read messages and run the receive hook on each, in order, until closed."""
        view = self.view
        if view._state is not State.OPEN:  # refused, or closed by connect()
            return
        receive = view._receive
        path = view.request.path
        gate = self.gate
        if is_async(view.receive):
            receive_hook: Any = view.receive
        else:
            receive_hook = functools.partial(run_in_thread, view.receive)
        limits = self.limits
        size_limit = limits.max_message_size
        quick_size_limit = -1 if size_limit is None else size_limit // 4
        rate = limits.rate
        loop_time = view._loop.time
        bucket = None if rate is None else TokenBucket(parse_rate(rate), loop_time())
        if limits.idle_timeout is not None:
            self._start_idle_timer(limits.idle_timeout)
        recheck = view.session_recheck_interval
        recheck_every_message = recheck == 0
        if recheck:
            self.spawn(self.session.watch(recheck))
        checked = bucket is not None or recheck_every_message
        stats = view._stats
        message: Any
        while view._state is State.OPEN:
            if self._reader is None and not self._pending:
                message = await receive()
            elif self._pending:
                message = self._pending.popleft()
            else:  # a read started while a hook ran
                reader, self._reader = self._reader, None
                message = await cast("asyncio.Future[Any]", reader)
            if message["type"] != "websocket.receive":
                if message["type"] == "websocket.disconnect":
                    if view._state is State.OPEN:
                        view._close_code = message.get("code", CloseCode.NO_STATUS_RCVD)
                        stats.closed_by = ClosedBy.CLIENT
                    view._state = State.CLOSED
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
                if data is None:
                    data = ""  # a server that sends neither key: an empty frame
            stats.messages_in += 1
            stats.bytes_in += len(data)
            if view._track_activity:
                view._last_activity = loop_time()
            # Only a message over a quarter of the limit can be over it (text
            # is at most 4 bytes a character): only those are measured.
            if 0 <= quick_size_limit < len(data) and message_size_exceeds(
                data, size_limit or 0
            ):
                logger.warning(
                    "Message over %d bytes on WebSocket %s; closing.", size_limit, path
                )
                await view._close(
                    CloseCode.MESSAGE_TOO_BIG, "Message too big.", ClosedBy.SERVER
                )
                continue
            if checked:
                if bucket is not None and not bucket.take(loop_time()):
                    await gate.run(view, view.handle_rate_limit_exceeded, data)
                    continue
                if recheck_every_message and not await self.session.still_valid():
                    continue
            # The gate, taken inline when free: hooks never overlap.
            if gate.busy or gate.waiting:
                await gate.acquire()
            else:
                gate.busy = True
            # The hook runs inline, on this task, until it first suspends;
            # only then does it get a task of its own (see _finish()).
            view._sends = 0
            try:
                coro = receive_hook(data)
                try:
                    yielded = coro.send(None)
                except StopIteration:
                    # Hold nothing of this message while waiting for the next.
                    coro = message = data = None
                    continue
                await self._finish(coro, yielded)
            except ConnectionClosed:
                logger.debug("Connection closed during receive() on %s", path)
            except Exception as exc:
                await report_exception(view, exc)
            finally:
                if gate.waiting:
                    gate.release()
                else:
                    gate.busy = False

    async def _finish(self, coro: Any, yielded: Any) -> None:
        """
        Finish a hook that suspended, in a task, reading ahead meanwhile.

        Messages read ahead queue in ``_pending`` (at most READ_AHEAD). A
        disconnect cancels the hook and drops the queued messages.
        """
        hook = self.spawn(_resume(coro, yielded))
        if self._pending is None:
            self._pending = collections.deque()
        pending = self._pending
        reader = self._reader
        self._reader = None
        try:
            while not hook.done():
                if reader is None and len(pending) < READ_AHEAD:
                    reader = self.spawn(self.view._receive())
                waiting = {hook} if reader is None else {hook, reader}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if reader is not None and reader.done():
                    message = reader.result()
                    reader = None
                    if message["type"] == "websocket.disconnect":
                        if pending:
                            logger.debug("Dropping %d unhandled messages", len(pending))
                        pending.clear()
                        pending.append(message)
                        hook.cancel()
                        await asyncio.wait({hook})
                        return
                    pending.append(message)
        except asyncio.CancelledError:
            hook.cancel()
            if reader is not None:
                reader.cancel()
                reader = None
            raise
        finally:
            # A read still under way yields the next message in order.
            self._reader = reader
        hook.result()
        thread = connection_thread.get()
        if thread is not None and thread.dirty:  # it used the ORM, say
            await thread.tidy()

    def _start_idle_timer(self, timeout: float) -> None:
        view = self.view
        loop = view._loop
        view._track_activity = True
        view._last_activity = loop.time()

        def check() -> None:
            idle_for = loop.time() - view._last_activity
            if idle_for < timeout:
                self._idle_timer = loop.call_at(view._last_activity + timeout, check)
                return
            self._idle_timer = None
            if view._state is State.OPEN:
                logger.info(
                    "Closing WebSocket %s, idle for %.1f s.",
                    view.request.path,
                    idle_for,
                )
                view._close_soon(CloseCode.GOING_AWAY, "Idle.", ClosedBy.SERVER)

        self._idle_timer = loop.call_at(view._last_activity + timeout, check)
