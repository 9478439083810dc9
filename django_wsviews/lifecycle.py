"""
How a connection runs: the one place that decides its tasks, timers and order.

:class:`Lifecycle` serves one :class:`~django_wsviews.views.WebSocketView`
from the end of the handshake to ``disconnect()``::

    async with Lifecycle(view) as life:  # every cleanup runs on the way out
        if await life.admit():  # the user's slot (429), the session
            await life.connect()  # connect(); refuse a handshake left pending
            await life.serve()  # the message loop, until closed

Concurrency, all of it:

- The connection's own task runs the message loop
  (:mod:`django_wsviews.message_loop`) and each receive hook, start to end
  (so a timeout in a hook cancels the hook). While a hook waits, the loop
  reads ahead, so a client that leaves is noticed at once and the hook
  cancelled.
- Hooks never overlap: ``connect()``, the receive hooks, ``receive_group()``
  and the policy hooks pass one :class:`~django_wsviews.hooks.HookGate`, in
  the order they asked. A view may let group messages through concurrently
  (``receive_group_concurrently = True``).
- Other work is a task of :attr:`Lifecycle.tasks`: group delivery, the
  session watch, a read ahead. All are cancelled in one
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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import sessions
from .auth import aload_user
from .connection import State
from .delivery import GroupDelivery
from .hooks import HookGate, call_guarded, report_exception
from .limits import Limits, release_user_slot, take_user_slot
from .log import get_logger
from .membership import Membership
from .message_loop import MessageLoop
from .request import WebSocketRequest
from .signals import RejectReason

if TYPE_CHECKING:
    from .views import WebSocketView

__all__ = ["Lifecycle"]

logger = get_logger("django_wsviews")


# The limits of a connection not yet admitted: none.
_UNLIMITED = Limits()


class Lifecycle:
    """Serve one connection: admission, ``connect()``, messages, teardown."""

    __slots__ = (
        "_cleanups",
        "_connected",
        "_session",
        "gate",
        "groups",
        "limits",
        "tasks",
        "view",
    )

    def __init__(self, view: WebSocketView) -> None:
        self.view = view
        self.gate = HookGate()
        #: The view's limits, read once on admission (``get_limits()``).
        self.limits = _UNLIMITED
        #: Every task of this connection; cancelled together on the way out.
        self.tasks: set[asyncio.Future[Any]] | None = None  # made by the first spawn
        #: The connection's side of its groups (made by the first join).
        self.groups = GroupDelivery(view, self.gate, self.spawn, self.on_exit)
        # What to give back on the way out, last taken first (an exit stack
        # of plain callables: a few calls cheaper per connection than
        # contextlib.AsyncExitStack, which this is the shape of).
        self._cleanups: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._connected = False
        self._session = sessions.SessionCheck(
            view, self.gate, sessions.session_key(view.request)
        )

    def on_exit(self, cleanup: Callable[..., Any], *args: Any) -> None:
        """Call ``cleanup(*args)`` on the way out; what it returns, if not None, is awaited."""
        self._cleanups.append((cleanup, args))

    async def __aenter__(self) -> Lifecycle:
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
        """
        Mark the connection closed, cancel its tasks, run every cleanup, then ``disconnect()``.

        The cleanups run the last registered first; ``disconnect()`` runs
        after all of them, every resource given back.
        """
        self.view._state = State.CLOSED
        if self.tasks:
            for task in self.tasks:
                task.cancel()
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
        if self._connected:
            try:
                # A plain int: an IntEnum prints as its name on Python 3.10.
                await call_guarded(
                    self.view, self.view.disconnect, int(self.view._close_code)
                )
            except BaseException as exc:
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

        The view's limits (read once, from ``get_limits()``), the user's
        slot (refused with 429 past ``max_connections_per_user``) and, for a
        view that re-checks its session, who the session was logged in as.
        An error refuses the handshake through the failure policy (500).
        """
        try:
            limits = self.limits = await self.view._resolve_limits()
            self.groups.max_groups = limits.max_groups_per_connection
            if not await self._take_user_slot():
                await self.view._reject(429, reason=RejectReason.TOO_MANY_CONNECTIONS)
                return False
            if limits.session_recheck_interval is not None:
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

    # Tasks ---------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``coro`` as a task of this connection, in the connection's context."""
        if not asyncio.iscoroutine(coro):
            # A server's own future (granian's receive()) would get our
            # callbacks, and granian keeps some of its futures, with them,
            # past the connection: a task of ours waits on it instead.
            coro = _awaited(coro)
        task = self.view._context.run(asyncio.ensure_future, coro)
        tasks = self.tasks
        if tasks is None:
            tasks = self.tasks = set()
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

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

    # The message loop ----------------------------------------------------------

    def serve(self) -> Awaitable[None]:
        """
        Return the message loop to await: it runs until the connection is closed.

        (The loop's own coroutine, not one awaiting it: one frame fewer
        held per idle connection.)
        """
        request = self.view.request
        if isinstance(request, WebSocketRequest):
            request.compact()
        loop = MessageLoop(self.view, self.gate, self.limits, self._session, self.spawn)
        self.on_exit(loop.stop)
        return loop.run()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
