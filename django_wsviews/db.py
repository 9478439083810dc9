"""
Database connection hygiene for WebSocket connections.

Django closes stale connections around each request; a WebSocket connection
is long-lived, so django-wsviews does the same around each plain-``def`` hook
call and closes every connection its worker thread opened when the socket
ends. The test client turns this off (as Django's test client does), since
closing the connection would break a test's transaction.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections as django_close_old_connections
from django.db import connections

__all__ = [
    "close_connections",
    "close_old_connections",
    "hygiene",
    "run_in_thread",
    "run_sync",
    "run_with_hygiene",
]

_T = TypeVar("_T")

#: Whether connections are closed; the test client sets it to False.
hygiene: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "django_wsviews_db_hygiene", default=True
)


def close_old_connections() -> None:
    """Close database connections that are unusable or past ``CONN_MAX_AGE``."""
    if hygiene.get():
        django_close_old_connections()


def close_connections() -> None:
    """
    Close every database connection of the calling thread.

    Called only in a connection's own worker thread as the connection ends,
    never in a test's thread, so it holds under the test client too.
    """
    connections.close_all()


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
