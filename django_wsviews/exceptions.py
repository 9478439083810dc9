"""
Exceptions raised by django-wsviews.

This module imports nothing from Django. The hierarchy::

    WebSocketError
    ├── ConnectionClosed        the connection is closed; sending is no longer possible
    ├── InvalidState            an operation that the connection's state forbids
    │                           (send before accept, accept twice, ...)
    ├── HandshakeRejected       the test client's handshake was refused (with a status)
    ├── HandshakeTimeout        the test client waited in vain (handshake, message,
    │                           close); also a TimeoutError
    ├── BroadcastError          the group backend could not take a broadcast
    │                           (its server is unreachable)
    └── TooManyGroups           a join would put the connection in more groups
                                than its limit

``WebSocketError`` derives from :class:`Exception`, so a ``try``/``except
Exception`` in a hook also catches them.
"""

from __future__ import annotations

__all__ = [
    "BroadcastError",
    "ConnectionClosed",
    "HandshakeRejected",
    "HandshakeTimeout",
    "InvalidState",
    "TooManyGroups",
    "WebSocketError",
]


class WebSocketError(Exception):
    """Base class of every exception django-wsviews raises."""


class ConnectionClosed(WebSocketError):
    """
    The connection is closed, by either side; nothing more can be sent.

    ``code`` is the close code when known (the client's code, or the one the
    server sent), else ``None``.

    When this exception escapes a hook, the connection simply ends: it is not
    logged as an error and no further close frame is sent.
    """

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(
            f"WebSocket connection is closed (code {code})"
            if code is not None
            else "WebSocket connection is closed"
        )


class InvalidState(WebSocketError):
    """An operation that the connection's current state does not allow."""


class HandshakeTimeout(WebSocketError, TimeoutError):
    """
    The application did not answer in time (raised by the test client).

    Raised when a handshake, a message or a close does not come within the
    client's timeout. Also a :exc:`TimeoutError`, so ``except TimeoutError``
    and ``pytest.raises(TimeoutError)`` catch it.
    """


class HandshakeRejected(WebSocketError):
    """
    The application refused the handshake (raised by the test client).

    ``status`` is the HTTP status the client got (403 where the application
    closed before accepting), ``headers`` and ``body`` the rest of the answer.
    """

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.headers = headers or []
        self.body = body
        super().__init__(f"WebSocket handshake refused with HTTP {status}")


class BroadcastError(WebSocketError):
    """
    A broadcast could not be handed to the group backend.

    Raised by :func:`~django_wsviews.groups.broadcast` and its relatives when
    the backend's server (Redis, PostgreSQL) is unreachable. Nothing was
    sent; open connections stay up and the backend reconnects on its own, so
    a later broadcast may succeed.
    """


class TooManyGroups(WebSocketError):
    """
    A join would put the connection in more groups than it may be in.

    Raised by :meth:`~django_wsviews.WebSocketView.join` (which then joins
    none of the groups it was given) and, when ``get_group_names()`` and the
    user's group exceed the limit, by ``accept()`` (the handshake is refused
    with 500). ``limit`` is the view's ``limits.max_groups_per_connection``;
    ``count`` the number of groups the connection would have been in.
    """

    def __init__(self, message: str, *, limit: int, count: int) -> None:
        self.limit = limit
        self.count = count
        super().__init__(message)
