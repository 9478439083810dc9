"""
A connection's message loop: read, check the limits, run the receive hook.

:class:`MessageLoop` is the part of a connection's
:class:`~django_wsviews.lifecycle.Lifecycle` that runs from the accept to
the close. It decides everything once per connection, nothing per message:
the hook (and whether it runs in a thread), the size and rate limits, the
idle timer, the session re-check.

A receive hook runs on the connection's own task, from start to end, so what
it awaits sees that task (an ``asyncio.timeout()`` in the hook cancels the
hook, as anywhere else). While a hook is suspended, the loop reads up to
:data:`READ_AHEAD` messages ahead, by callbacks, so a client that leaves is
noticed at once and the hook cancelled.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
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
def _resume(
    coro: Any, yielded: Any, context: contextvars.Context
) -> Generator[Any, None, Any]:
    """
    Drive ``coro``, already started and suspended on ``yielded``, to its end.

    The loop starts a hook with ``coro.send(None)`` (most hooks finish
    there, costing no more); one that suspended is finished through this, on
    the same task, each step run in ``context``. It forwards exactly what
    ``await`` would: every send and throw from the event loop goes to
    ``coro``.
    """
    while True:
        try:
            yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation and the like go to the hook
            try:
                yielded = context.run(coro.throw, exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = context.run(coro.send, None)
            except StopIteration as stop:
                return stop.value


class MessageLoop:
    """
    Read one connection's messages and run its receive hook on each, in order.

    ``spawn`` runs a task of the connection (cancelled with the others on
    the way out); :meth:`stop` is the loop's own cleanup.
    """

    __slots__ = (
        "_hook_running",
        "_idle_timer",
        "_left",
        "_pending",
        "_read_error",
        "_reader",
        "_task",
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
        # While a suspended hook runs: the task it runs on, whether the
        # client left meanwhile (a cancel of ours), and a read's error.
        self._hook_running = False
        self._task: asyncio.Task[Any] | None = None
        self._left = False
        self._read_error: BaseException | None = None
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
        recheck = limits.session_recheck_interval
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
            # The hook runs on this task: started here, and finished by
            # _finish() if it suspends.
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
        Finish a hook that suspended, on this task, reading ahead meanwhile.

        The hook stays on the connection's task, so what it awaits sees that
        task (``asyncio.timeout()`` cancels the hook, not the connection).
        Reads are callbacks: each message read queues in ``_pending`` (at
        most READ_AHEAD) and starts the next read. A disconnect cancels the
        hook (this task, told apart from any other cancellation) and drops
        the queued messages.
        """
        if self._pending is None:
            self._pending = collections.deque()
        task = self._task = asyncio.current_task()
        self._hook_running = True
        self._read_ahead()
        try:
            # The rest of the hook runs in a copy of the context, as a task
            # of its own would: what it sets (asgiref copies a worker
            # thread's context variables back, among them its executor of
            # the moment) stays with this call, not the connection.
            await _resume(coro, yielded, contextvars.copy_context())
        except asyncio.CancelledError:
            if not self._left:
                raise  # not ours: the server or the lifecycle is ending it
        finally:
            self._hook_running = False
            self._task = None
            if self._left:
                self._left = False
                uncancel = getattr(task, "uncancel", None)  # Python 3.11+
                if uncancel is not None:
                    uncancel()
            error, self._read_error = self._read_error, None
            if error is not None:
                raise error
        thread = connection_thread.get()
        if thread is not None and thread.dirty:  # it used the ORM, say
            await thread.tidy()

    def _read_ahead(self) -> None:
        """Start a read, unless one is under way or READ_AHEAD messages wait."""
        pending = self._pending
        if self._reader is None and pending is not None and len(pending) < READ_AHEAD:
            reader = self._reader = self.spawn(self.view._receive())
            reader.add_done_callback(self._read_done)

    def _read_done(self, reader: asyncio.Future[Any]) -> None:
        """Queue what a read ahead got; on a disconnect, cancel the running hook."""
        if reader is not self._reader:
            return  # taken over by the loop, which awaits it itself
        self._reader = None
        if reader.cancelled():
            return
        pending = self._pending
        assert pending is not None
        error = reader.exception()
        if error is not None:
            self._read_error = error
            message: Any = {
                "type": "websocket.disconnect",
                "code": CloseCode.ABNORMAL_CLOSURE,
            }
        else:
            message = reader.result()
        if message["type"] == "websocket.disconnect":
            if pending:
                logger.debug("Dropping %d unhandled messages", len(pending))
            pending.clear()
            pending.append(message)
            if self._hook_running and self._task is not None:
                self._left = True
                self._task.cancel()
            return
        pending.append(message)
        if self._hook_running:
            self._read_ahead()

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
