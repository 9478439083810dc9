"""
Calling a view's hooks: typed callables, sync or async, one at a time.

:func:`call_hook` runs any hook, a method of the view or a function of your
own: an ``async def`` on the event loop, a plain ``def`` in a worker thread
of the connection (where the ORM and other blocking code belong), with the
database connections tidied afterwards as Django does after a request.
:func:`call_guarded` adds the view's failure policy. :class:`HookGate` keeps
a connection's hooks from overlapping: the message loop, group delivery and
the session watch each pass through it, first come, first served.

This module decides *how* a hook runs; :mod:`django_wsviews.lifecycle`
decides *when*. It also holds the one seam of the failure policy for tests,
:data:`exception_observer`.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.signals import got_request_exception

from .db import connection_thread, run_in_thread
from .exceptions import ConnectionClosed
from .log import get_logger
from .status import CloseCode

if TYPE_CHECKING:
    from .connection import State

__all__ = [
    "HookGate",
    "call_guarded",
    "call_hook",
    "exception_observer",
    "fail_by_default",
    "is_async",
    "observe_exception",
    "report_exception",
]

logger = get_logger("django_wsviews")

P = ParamSpec("P")

#: Called with each exception that reaches the default failure policy
#: (``WebSocketView.handle_exception()``), or that ``handle_exception()``
#: itself raised. The test client sets it for its connections, to raise the
#: view's exception in the test; the default, None, changes nothing.
exception_observer: contextvars.ContextVar[Callable[[Exception], None] | None] = (
    contextvars.ContextVar("django_wsviews_exception_observer", default=None)
)


def observe_exception(exc: Exception) -> None:
    """Hand ``exc`` to the :data:`exception_observer` in effect, if there is one."""
    observer = exception_observer.get()
    if observer is not None:
        observer(exc)


@functools.lru_cache(maxsize=1024)
def _is_coroutine_function(function: Callable[..., Any]) -> bool:
    return bool(iscoroutinefunction(function))


def is_async(hook: Callable[..., Any]) -> bool:
    """
    Return whether ``hook`` is an ``async def`` (else it runs in a worker thread).

    Decided once per function, not per call: a bound method is looked up by
    the function it wraps.
    """
    return _is_coroutine_function(getattr(hook, "__func__", hook))


async def call_hook(
    hook: Callable[P, Awaitable[None] | None], /, *args: P.args, **kwargs: P.kwargs
) -> None:
    """
    Run ``hook(*args, **kwargs)`` as a hook: awaited, or in a worker thread.

    A plain ``def`` runs in the connection's worker thread, with stale
    database connections closed before and after it (as around a request);
    inside it, the view's actions (``send()``, ``close()``, ``join()``) work
    without ``await``. An ``async def`` is awaited here; if it used the
    connection's thread (the async ORM, ``sync_to_async``), that thread's
    connections are tidied the same way when it returns. Exceptions
    propagate: see :func:`call_guarded` for the view's failure policy.
    """
    if not is_async(hook):
        await run_in_thread(functools.partial(hook, *args, **kwargs))
        return
    await hook(*args, **kwargs)  # type: ignore[misc]
    # Inline, not a call: a hook that used no thread costs nothing.
    thread = connection_thread.get()
    if thread is not None and thread.dirty:
        await thread.tidy()


class HookOwner(Protocol):
    """What the failure policy needs of a view."""

    @property
    def state(self) -> State: ...

    request: Any

    async def handle_exception(self, exc: Exception) -> None: ...

    def reject(self, status: int = ...) -> Awaitable[None]: ...

    def close(self, code: int = ..., reason: str = ...) -> Awaitable[None]: ...


async def call_guarded(
    view: HookOwner,
    hook: Callable[P, Awaitable[None] | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """
    Run ``hook`` with :func:`call_hook`; hand an exception to ``handle_exception()``.

    A closed connection (:class:`ConnectionClosed`) ends the hook quietly.
    """
    try:
        await call_hook(hook, *args, **kwargs)
    except ConnectionClosed:
        logger.debug(
            "Connection closed during %s() on %s",
            getattr(hook, "__name__", hook),
            view.request.path,
        )
    except Exception as exc:
        await report_exception(view, exc)


async def fail_by_default(view: HookOwner, exc: Exception) -> None:
    """
    The default ``handle_exception()``: log, signal, then refuse or close.

    Logs ``exc`` with its traceback on the ``django_wsviews`` logger, sends
    Django's ``got_request_exception``, then refuses the handshake with 500
    (before accept) or closes with 1011 (after).
    """
    from .connection import State

    observe_exception(exc)
    status = 500 if view.state is State.CONNECTING else CloseCode.INTERNAL_ERROR
    logger.error(
        "Error in WebSocket view %s at %s",
        type(view).__qualname__,
        view.request.path,
        exc_info=exc,
        extra={"status_code": status, "request": view.request},
    )
    await sync_to_async(got_request_exception.send)(
        sender=type(view), request=view.request
    )
    if view.state is State.CONNECTING:
        await view.reject(500)
    elif view.state is State.OPEN:
        await view.close(CloseCode.INTERNAL_ERROR)


async def report_exception(view: HookOwner, exc: Exception) -> None:
    """
    Pass ``exc`` to the view's ``handle_exception()``.

    Should that fail too, log it and refuse the handshake with 500 (before
    accept) or close with 1011 (after): an error never leaves a connection
    half-served.
    """
    from .connection import State

    try:
        await call_hook(view.handle_exception, exc)
    except ConnectionClosed:
        pass
    except Exception as failure:
        observe_exception(failure)
        logger.exception("Error in %s.handle_exception()", type(view).__qualname__)
        if view.state is State.CONNECTING:
            await view.reject(500)
        else:
            await view.close(CloseCode.INTERNAL_ERROR)


class HookGate:
    """
    One hook at a time for a connection, in the order they asked.

    ``busy`` and ``waiting`` are read inline on the message loop's fast
    path (no call when nobody waits): take the gate with
    ``if gate.busy or gate.waiting: await gate.acquire() else: gate.busy = True``
    and give it back with ``gate.release()``.
    """

    __slots__ = ("busy", "waiting")

    def __init__(self) -> None:
        self.busy = False
        # Made by the first hook that waits: most connections never have one.
        self.waiting: collections.deque[asyncio.Future[None]] | None = None

    async def acquire(self) -> None:
        """Wait for the gate, after those already waiting, and take it."""
        if not self.busy and not self.waiting:
            self.busy = True
            return
        turn = asyncio.get_running_loop().create_future()
        if self.waiting is None:
            self.waiting = collections.deque()
        self.waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the gate, then cancelled: pass it on
            else:
                turn.cancel()
            raise

    def release(self) -> None:
        """Give the gate to the next hook waiting for it, or open it."""
        waiting = self.waiting
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the gate stays busy, now theirs
                return
        self.busy = False

    async def run(
        self,
        view: HookOwner,
        hook: Callable[P, Awaitable[None] | None],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> None:
        """Run ``hook`` through the gate, with the failure policy."""
        if self.busy or self.waiting:
            await self.acquire()
        else:
            self.busy = True  # acquire(), inlined for the free gate
        try:
            await call_guarded(view, hook, *args, **kwargs)
        finally:
            if self.waiting:
                self.release()
            else:
                self.busy = False
