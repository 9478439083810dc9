"""
Database connection hygiene, and the worker threads of hook calls.

Django closes stale connections as each request starts and ends; a
WebSocket connection is long-lived, so django-wsviews treats each hook call
as a request: stale connections (unusable, or past ``CONN_MAX_AGE``) are
closed before and after it, in the thread that holds them.

A plain-``def`` hook runs in a worker thread, inside
:func:`run_with_hygiene`. An ``async def`` hook reaches one through
``sync_to_async()`` and the async ORM. Either way, the connection's calls go
to its :class:`ConnectionThread`, which owns no thread: it leases one from
the process's pool, :data:`workers`, for one hook call, so that everything
the call does runs in that thread, its database connection included; and
gives it back once the call's connections are tidied. So a socket holds a
thread only while a hook call runs; an idle one holds none, whatever its
hooks did, and a hook that never uses a thread costs nothing.

The pool keeps at most :attr:`WorkerPool.max_idle` idle threads and ends the
others, their database connections closed. With ``CONN_MAX_AGE`` above 0, a
persistent database connection stays with its pool thread, as with the
threads of a WSGI server, and serves whichever socket leases that thread
next: count the pool's threads against the database's ``max_connections``.

The test client turns all this off (as Django's test client does), since
closing the connection would break a test's transaction: thread-sensitive
calls then go where asgiref sends them, the test's own thread included.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.db import close_old_connections as django_close_old_connections
from django.db import connections

__all__ = [
    "ConnectionThread",
    "WorkerPool",
    "close_connections",
    "close_old_connections",
    "connection_context",
    "connection_thread",
    "hygiene",
    "run_in_thread",
    "run_sync",
    "run_with_hygiene",
    "workers",
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

# In a worker thread, while it runs a ConnectionThread's call: ``.lessee``,
# that ConnectionThread.
_worker = threading.local()


class WorkerPool:
    """
    The process's idle worker threads, each a single-thread executor.

    :meth:`lease` hands out the worker given back last (its thread, and any
    persistent database connection of it, are warm) or starts a new one:
    busy workers are not limited, since a hook that blocks must not hold up
    the others. :meth:`give_back` keeps at most :attr:`max_idle` idle
    workers and ends the others, their database connections closed first.
    Safe from any thread.
    """

    def __init__(self, max_idle: int | None = None) -> None:
        #: Idle workers kept at most: by default, as many threads as
        #: ``ThreadPoolExecutor`` starts at most (CPUs + 4, at most 32).
        self.max_idle = (
            min(32, (os.cpu_count() or 1) + 4) if max_idle is None else max_idle
        )
        #: The idle workers, the one given back last at the end.
        self.idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()

    def lease(self) -> ThreadPoolExecutor:
        """Return an idle worker, or a new one; it is the caller's until given back."""
        with self._lock:
            if self.idle:
                return self.idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="django_wsviews")

    def give_back(self, worker: ThreadPoolExecutor) -> None:
        """Keep ``worker`` idle, or end it once its queued calls have run if enough are."""
        with self._lock:
            if len(self.idle) < self.max_idle:
                self.idle.append(worker)
                return
        _stop(worker)

    def clear(self) -> None:
        """End every idle worker, closing its database connections first."""
        with self._lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            _stop(worker)

    def _forget(self) -> None:
        # In a child process after fork(): the workers' threads are not there.
        self.idle = []
        self._lock = threading.Lock()


def _stop(worker: ThreadPoolExecutor) -> None:
    """End ``worker``'s thread, its database connections closed, without waiting."""
    with contextlib.suppress(RuntimeError):  # the interpreter is shutting down
        worker.submit(close_connections)
    worker.shutdown(wait=False)


#: The worker threads that connections lease for their hook calls.
workers = WorkerPool()

if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=workers._forget)


class ConnectionThread(Executor):
    """
    Where a WebSocket connection's thread-sensitive calls run, one hook call at a time.

    asgiref sends the connection's thread-sensitive calls here: plain hooks,
    ``sync_to_async()`` calls and the async ORM's queries. The first one
    leases a worker thread from the pool; the calls after it go to the same
    thread until the lease ends, that is once the thread is tidy and no call
    of the connection is pending: after :meth:`tidy`, or after a plain hook
    (whose :func:`run_with_hygiene` tidied it). The first call after the
    connections were last tidied closes the stale ones first, as a request
    does as it starts; :meth:`tidy` closes them, as a request does as it
    ends. :attr:`dirty` says whether :meth:`tidy` has anything to do. A
    connection that never makes a call costs one small object.
    """

    def __init__(self, pool: WorkerPool | None = None) -> None:
        self._pool = workers if pool is None else pool
        self._worker: ThreadPoolExecutor | None = None
        self._pending = 0  # calls sent to the worker and not done
        self._lock = threading.Lock()
        #: Whether a call ran since the connections were last tidied.
        self.dirty = False
        #: Whether a call was ever sent here.
        self.used = False

    @property
    def leased(self) -> bool:
        """Whether the connection holds a worker thread now."""
        return self._worker is not None

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        """Run ``fn(*args, **kwargs)`` in the leased thread, stale connections closed first."""
        with self._lock:
            worker = self._worker
            if worker is None:
                worker = self._worker = self._pool.lease()
            self._pending += 1
        self.used = True
        try:
            future = worker.submit(self._run, partial(fn, *args, **kwargs))
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Do nothing: a lease ends when the thread is tidy, with nothing to end here."""

    async def tidy(self) -> None:
        """
        Close the thread's stale database connections, as a request's end does.

        The lease ends once that is done and no other call is pending. Runs
        to the end even if the caller is cancelled meanwhile, so that the
        thread is given back all the same.
        """
        future = asyncio.wrap_future(self.submit(_tidy))
        await asyncio.shield(future)

    def _run(self, call: Callable[[], _T]) -> _T:
        lessee = getattr(_worker, "lessee", None)
        _worker.lessee = self
        try:
            if not self.dirty:
                django_close_old_connections()
                self.dirty = True
            return call()
        finally:
            _worker.lessee = lessee

    def _done(self, future: Future[Any] | None) -> None:
        # Called in the worker's thread as a call ends, or in the event
        # loop's as a call is cancelled before it started.
        with self._lock:
            self._pending -= 1
            worker = self._worker
            if self._pending or self.dirty or worker is None:
                return
            self._worker = None
        self._pool.give_back(worker)


def _tidy() -> None:
    """Close the calling thread's stale connections; note a ConnectionThread tidy."""
    django_close_old_connections()
    lessee: ConnectionThread | None = getattr(_worker, "lessee", None)
    if lessee is not None:
        lessee.dirty = False


def close_old_connections() -> None:
    """Close database connections that are unusable or past ``CONN_MAX_AGE``."""
    if hygiene.get():
        _tidy()


def close_connections() -> None:
    """
    Close every database connection of the calling thread.

    Called only in a thread that ends, or that no test uses (never a test's
    own thread), so it holds under the test client too.
    """
    connections.close_all()


class _ConnectionContext:
    """The context manager :func:`connection_context` returns (a class: cheaper than a generator)."""

    __slots__ = ("_context", "_outer", "_thread", "_thread_token", "_token")

    def __init__(self) -> None:
        self._context: ThreadSensitiveContext | None = None
        self._thread: ConnectionThread | None = None
        self._outer: ThreadSensitiveContext | None = None

    async def __aenter__(self) -> None:
        if hygiene.get() and SyncToAsync.thread_sensitive_context.get(None) is None:
            # What ThreadSensitiveContext's own __aenter__ does, with the
            # connection's executor put in place at once: asgiref never makes
            # one of its own for this context, so there is none to end.
            context = self._context = ThreadSensitiveContext()
            self._token = SyncToAsync.thread_sensitive_context.set(context)
            thread = self._thread = ConnectionThread()
            SyncToAsync.context_to_thread_executor[context] = thread
        else:  # hygiene is off (the test client), or an outer context rules
            outer = self._outer = ThreadSensitiveContext()
            await outer.__aenter__()  # type: ignore[no-untyped-call]
        self._thread_token = connection_thread.set(self._thread)

    async def __aexit__(self, *exc_info: object) -> None:
        connection_thread.reset(self._thread_token)
        outer = self._outer
        if outer is not None:
            try:
                if outer in SyncToAsync.context_to_thread_executor:
                    # The thread asgiref gave this connection: close its
                    # database connections before asgiref ends it.
                    await sync_to_async(close_connections)()
            finally:
                await outer.__aexit__(*exc_info)  # type: ignore[no-untyped-call]
            return
        context = self._context
        assert context is not None  # entered, with hygiene
        del SyncToAsync.context_to_thread_executor[context]
        SyncToAsync.thread_sensitive_context.reset(self._token)
        thread = self._thread
        if thread is not None and thread.leased:
            await thread.tidy()


def connection_context() -> _ConnectionContext:
    """
    Enter the thread-sensitive context of one WebSocket connection, with database hygiene.

    Like Django's ``ThreadSensitiveContext`` around a request: the
    connection's thread-sensitive calls (plain hooks, ``sync_to_async()``,
    the async ORM) run on one thread of their own. With hygiene on (in a
    server), that is a :class:`ConnectionThread`, which leases a pooled
    thread only while a call runs; on exit, a thread still leased (a call
    made outside any hook, or a hook cancelled while it ran) is tidied and
    given back. With hygiene off (the test client), or inside an outer
    thread-sensitive context, asgiref's own executor is used, and the
    database connections of the thread it gave the connection, if any, are
    closed on exit.
    """
    return _ConnectionContext()


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
