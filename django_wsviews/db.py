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

from django.db import close_old_connections as django_close_old_connections
from django.db import connections

__all__ = ["close_connections", "close_old_connections", "hygiene"]

#: Whether connections are closed; the test client sets it to False.
hygiene: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "django_wsviews_db_hygiene", default=True
)


def close_old_connections() -> None:
    """Close database connections that are unusable or past ``CONN_MAX_AGE``."""
    if hygiene.get():
        django_close_old_connections()


def close_connections() -> None:
    """Close every database connection of the calling thread."""
    if hygiene.get():
        connections.close_all()
