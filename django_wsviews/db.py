"""
Database connection hygiene for WebSocket connections.

Django closes stale connections as each request starts and ends; a
WebSocket connection is long-lived, so django-wsviews treats each hook call
as a request: stale connections (unusable, or past ``CONN_MAX_AGE``) are
closed before and after it, in the thread that holds them, and every
connection the socket's worker thread opened is closed when the socket ends.

A plain-``def`` hook runs in that worker thread, inside
:func:`run_with_hygiene`. An ``async def`` hook reaches the thread through
``sync_to_async()`` and the async ORM: the thread, a
:class:`ConnectionThread`, notes that it was used, closes stale connections
before the first call, and the view has it close them again once the hook
returns. A hook that never uses the thread costs nothing.

The test client turns all this off (as Django's test client does), since
closing the connection would break a test's transaction.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections as django_close_old_connections
from django.db import connections

__all__ = [
    "ConnectionThread",
    "close_connections",
    "close_old_connections",
    "connection_thread",
    "database_hygiene",
    "hygiene",
    "run_in_thread",
    "run_sync",
    "run_with_hygiene",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")

#: Whether connections are closed; the test client sets it to False.
hygiene: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "django_wsviews_db_hygiene", default=True
)

#: The current WebSocket connection's worker thread, if it keeps hygiene.
connection_thread: contextvars.ContextVar[ConnectionThread | None] = (
    contextvars.ContextVar("django_wsviews_connection_thread", default=None)
)

# In a ConnectionThread's worker thread: ``.executor``, that ConnectionThread.
_worker = threading.local()


class ConnectionThread(Executor):
    """
    The worker thread of one WebSocket connection, keeping its database connections tidy.

    asgiref sends the connection's thread-sensitive calls here: plain hooks,
    ``sync_to_async()`` calls and the async ORM's queries. The first call
    after the connections were last tidied closes the stale ones first, as a
    request does as it starts; :meth:`tidy` closes them, as a request does
    as it ends. :attr:`dirty` says whether :meth:`tidy` has anything to do.
    The thread is made on first use: a connection that never needs it costs
    one small object.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        #: Whether a call ran since the connections were last tidied.
        self.dirty = False

    @property
    def used(self) -> bool:
        """Whether a call was ever sent to the thread."""
        return self._pool is not None

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        """Run ``fn(*args, **kwargs)`` in the thread, stale connections closed first."""
        return self._thread().submit(self._run, partial(fn, *args, **kwargs))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the thread once the calls sent to it have run (asgiref calls this)."""
        if self._pool is not None:
            self._pool.shutdown(wait, cancel_futures=cancel_futures)

    async def tidy(self) -> None:
        """Close the thread's stale database connections, as a request's end does."""
        await asyncio.wrap_future(self._thread().submit(_tidy))

    async def close_all(self) -> None:
        """Close every database connection of the thread, as the socket ends."""
        await asyncio.wrap_future(self._thread().submit(close_connections))

    def _thread(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="django_wsviews",
                initializer=self._started,
            )
        return self._pool

    def _started(self) -> None:
        _worker.executor = self

    def _run(self, call: Callable[[], _T]) -> _T:
        if not self.dirty:
            django_close_old_connections()
            self.dirty = True
        return call()


def _tidy() -> None:
    """Close the calling thread's stale connections; note a ConnectionThread tidy."""
    django_close_old_connections()
    executor: ConnectionThread | None = getattr(_worker, "executor", None)
    if executor is not None:
        executor.dirty = False


def close_old_connections() -> None:
    """Close database connections that are unusable or past ``CONN_MAX_AGE``."""
    if hygiene.get():
        _tidy()


def close_connections() -> None:
    """
    Close every database connection of the calling thread.

    Called only in a connection's own worker thread as the connection ends,
    never in a test's thread, so it holds under the test client too.
    """
    connections.close_all()


@asynccontextmanager
async def database_hygiene(context: ThreadSensitiveContext) -> AsyncIterator[None]:
    """
    Keep database hygiene for the WebSocket connection of ``context``, entered.

    Give the connection a :class:`ConnectionThread` as its worker thread,
    unless hygiene is off or ``context`` is not the one in effect (an outer
    one is); on exit, close every database connection of its worker thread,
    whichever that is. A thread never used is dropped unstarted.
    """
    executors = SyncToAsync.context_to_thread_executor
    thread: ConnectionThread | None = None
    if hygiene.get() and SyncToAsync.thread_sensitive_context.get(None) is context:
        thread = executors[context] = ConnectionThread()
    token = connection_thread.set(thread)
    try:
        yield
    finally:
        connection_thread.reset(token)
        if thread is None:
            if context in executors:  # hygiene is off: the test client's thread
                await sync_to_async(close_connections)()
        elif thread.used:
            await thread.close_all()
        else:
            del executors[context]  # never started: asgiref has no thread to end


def run_with_hygiene(func: Callable[..., _T], *args: Any) -> _T:
    """Call ``func(*args)`` as Django would a view: stale connections closed around it."""
    close_old_connections()
    try:
        return func(*args)
    finally:
        close_old_connections()


#: Await ``run_in_thread(func, *args)`` to run a plain function in the current
#: connection's worker thread, with :func:`run_with_hygiene`.
run_in_thread = sync_to_async(run_with_hygiene, thread_sensitive=True)


_run_pooled = sync_to_async(run_with_hygiene, thread_sensitive=False)


async def run_sync(func: Callable[..., _T], *args: Any) -> _T:
    """
    Run one short plain-function call that belongs to no hook (sync code).

    For the handshake's middleware chain, access checks and session checks:
    in a server, on a thread of the event loop's pool, so that no thread is
    started (and none kept) per connection. Under the test client, in
    Django's thread-sensitive mode instead, so that a test's transaction is
    visible, as for Django's own test client.
    """
    if hygiene.get():
        return await _run_pooled(func, *args)
    return await run_in_thread(func, *args)
