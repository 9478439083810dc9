"""
How a connection runs: the one place that decides its tasks, timers and order.

:class:`Lifecycle` serves one :class:`~django_wsviews.views.WebSocketView`
from the end of the handshake to ``disconnect()``::

    async with Lifecycle(view) as life:  # every cleanup runs on the way out
        if await life.admit():  # the user's slot (429), the session
            await life.connect()  # connect(); refuse a handshake left pending
            await life.serve()  # the message loop, until closed

Concurrency, all of it:

- The connection's own task runs the message loop. A receive hook runs on
  it inline until the hook first suspends; only then does the hook get a
  task of its own, while the loop reads up to ``READ_AHEAD`` messages ahead,
  so a client that leaves is noticed at once and the hook cancelled.
- Hooks never overlap: ``connect()``, the receive hooks, ``receive_group()``
  and the policy hooks pass one :class:`~django_wsviews.hooks.HookGate`, in
  the order they asked. A view may let group messages through concurrently
  (``receive_group_concurrently = True``).
- Other work is a task of :attr:`Lifecycle.tasks`: group delivery, the
  session watch, a suspended hook, a pending read. All are cancelled in one
  place, on the way out. The idle timer is a loop timer, cancelled there too.
- A plain ``def`` hook runs in a worker thread (see :mod:`django_wsviews.hooks`);
  nothing else of the connection does.

On the way out, in this order: the connection is marked closed, the tasks
and the timer cancelled, the groups left, the user's slot released, the
session forgotten, then ``disconnect()`` runs, exactly once for every
connection whose ``connect()`` ran.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import types
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

from . import sessions
from .auth import aload_user
from .connection import State
from .db import connection_thread, run_in_thread
from .delivery import GroupDelivery
from .exceptions import ConnectionClosed
from .hooks import HookGate, call_guarded, is_async, report_exception
from .limits import (
    Limits,
    TokenBucket,
    message_size_exceeds,
    parse_rate,
    release_user_slot,
    take_user_slot,
)
from .log import get_logger
from .membership import Membership
from .signals import ClosedBy, RejectReason
from .status import CloseCode

if TYPE_CHECKING:
    from .views import WebSocketView

__all__ = ["READ_AHEAD", "Lifecycle"]

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


class Lifecycle:
    """Serve one connection: admission, ``connect()``, messages, teardown."""

    def __init__(self, view: WebSocketView) -> None:
        self.view = view
        self.gate = HookGate()
        #: The view's limits, read once on admission (``get_limits()``).
        self.limits = Limits()
        #: Every task of this connection; cancelled together on the way out.
        self.tasks: set[asyncio.Future[Any]] = set()
        #: The connection's side of its groups (made by the first join).
        self.groups = GroupDelivery(view, self.gate, self.spawn, self.on_exit)
        # What to give back on the way out, last taken first (an exit stack
        # of plain callables: a few calls cheaper per connection than
        # contextlib.AsyncExitStack, which this is the shape of).
        self._cleanups: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._connected = False
        self._reader: asyncio.Future[Any] | None = None
        self._pending: collections.deque[Any] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._session = sessions.SessionCheck(
            view, self.gate, sessions.session_key(view.request)
        )

    def on_exit(self, cleanup: Callable[..., Any], *args: Any) -> None:
        """Call ``cleanup(*args)`` on the way out; what it returns, if not None, is awaited."""
        self._cleanups.append((cleanup, args))

    async def __aenter__(self) -> Lifecycle:
        # Registered first, so it runs last: after every resource is given back.
        self.on_exit(self._disconnect)
        self.on_exit(self._cancel_tasks)
        view = self.view
        view._lifecycle = self
        view._on_accepting = self.groups.join_initial
        view._on_accepted = self.groups.start
        key = self._session.key
        if key is not None:
            sessions.track(view, key)
            self.on_exit(sessions.untrack, view, key)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Mark the connection closed, then run every cleanup, the last registered first."""
        self.view._state = State.CLOSED
        cleanups = self._cleanups
        error: BaseException | None = None
        while cleanups:
            cleanup, args = cleanups.pop()
            try:
                result = cleanup(*args)
                if result is not None:  # an async cleanup's coroutine
                    await result
            except BaseException as exc:  # every cleanup runs; the first error wins
                if error is None:
                    error = exc
        # Leave no cycle between the view and its runtime: both are freed as
        # soon as the server lets go of the view, not at the next collection.
        view = self.view
        view._lifecycle = None
        view._on_accepting = view._on_accepted = None
        self.groups.close()
        if error is not None:
            raise error

    # Admission and connect() -------------------------------------------------

    async def admit(self) -> bool:
        """
        Take what the connection needs before ``connect()``; False if refused.

        The view's limits (read once, from ``get_limits()``), the user's slot
        (refused with 429 past ``max_connections_per_user``) and, for a view that re-checks its session, who the session was
        logged in as. An error refuses the handshake through the failure
        policy (500).
        """
        try:
            limits = self.limits = await self.view._resolve_limits()
            self.groups.max_groups = limits.max_groups_per_connection
            if not await self._take_user_slot():
                await self.view._reject(429, reason=RejectReason.TOO_MANY_CONNECTIONS)
                return False
            if self.view.session_recheck_interval is not None:
                await self._session.baseline()
        except Exception as exc:
            await report_exception(self.view, exc)
            return False
        return True

    async def connect(self) -> None:
        """Run ``connect()``; refuse the handshake with 403 if it neither accepted nor rejected."""
        view = self.view
        self._connected = True
        gate = self.gate
        gate.busy = True  # the first hook of the connection: nothing waits yet
        try:
            await call_guarded(view, view.connect)
        finally:
            if gate.waiting:
                gate.release()
            else:
                gate.busy = False
        if view._state is State.CONNECTING:
            logger.warning(
                "%s.connect() returned without accept() or reject(); "
                "refusing the handshake.",
                type(view).__qualname__,
            )
            await view.reject(403)

    async def _disconnect(self) -> None:
        if self._connected:
            # A plain int: an IntEnum prints as its name on Python 3.10.
            await call_guarded(
                self.view, self.view.disconnect, int(self.view._close_code)
            )

    # Tasks ---------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``coro`` as a task of this connection, in the connection's context."""
        task = self.view._context.run(asyncio.ensure_future, coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _cancel_tasks(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for task in self.tasks:
            task.cancel()
        self._reader = None

    # The user's slot and the session ---------------------------------------------

    async def _take_user_slot(self) -> bool:
        view = self.view
        limit = self.limits.max_connections_per_user
        if limit is None:
            return True
        user = await aload_user(view.request)
        if user is None or not user.is_authenticated:
            return True
        key = str(user.pk)
        if not take_user_slot(key, limit):
            logger.warning(
                "User %s already has %d open WebSockets; refusing %s.",
                key,
                limit,
                view.request.path,
            )
            return False
        self.on_exit(release_user_slot, key)
        return True

    # Groups ----------------------------------------------------------------------

    def get_membership(self) -> Membership:
        """Return the connection's groups, made (and its cleanup registered) on first use."""
        return self.groups.get_membership()

    @property
    def membership(self) -> Membership | None:
        """The connection's groups, or None before its first join."""
        return self.groups.membership

    # The message loop ---------------------------------------------------------------

    async def serve(self) -> None:
        """
        Read messages and run the receive hook on each, in order, until closed.

        Everything is decided once per connection, nothing per message: the
        hook (and whether it runs in a thread), the size and rate limits, the
        idle timer, the session re-check.
        """
        view = self.view
        if view._state is not State.OPEN:
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
        rate = parse_rate(limits.rate)
        loop_time = view._loop.time
        bucket = None if rate is None else TokenBucket(rate, loop_time())
        idle_timeout = limits.idle_timeout
        if idle_timeout is not None:
            self._start_idle_timer(idle_timeout)
        recheck = view.session_recheck_interval
        recheck_every_message = recheck == 0
        if recheck:
            self.spawn(self._session.watch(recheck))
        checked = bucket is not None or recheck_every_message
        stats = view._stats
        while view._state is State.OPEN:
            if self._pending:
                message = self._pending.popleft()
            elif self._reader is not None:
                reader, self._reader = self._reader, None
                message = await reader
            else:
                message = await receive()
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
                if recheck_every_message and not await self._session.still_valid():
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
