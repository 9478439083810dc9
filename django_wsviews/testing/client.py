"""
The in-process WebSocket test client, in the spirit of Django's ``Client``.

It drives the ASGI application directly, with no server and no socket, through
the real :class:`~django_wsviews.asgi.WebSocketMiddleware`, middleware chain
and resolver, so URL arguments, sessions and checks behave as in production::

    client = WebSocketClient()
    async with client.connect("/ws/chat/lobby/") as ws:
        await ws.send("hello")
        assert await ws.receive() == "hello"

This module makes the handshake (the path or route name, the headers, the
session cookie); :mod:`django_wsviews.testing.connection` is the connection
that :meth:`WebSocketClient.connect` opens: sending, receiving, timeouts,
and the view's exceptions raised in the test.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from http.cookies import SimpleCookie
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlencode

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from ..status import CloseCode
from .connection import WebSocketTestConnection

__all__ = ["DEFAULT_EXTENSIONS", "DEFAULT_TIMEOUT", "WebSocketClient"]

#: How long the client waits for anything, in seconds, unless told otherwise.
DEFAULT_TIMEOUT = 5.0

# Characters left as they are when percent-encoding a path or query string.
_SAFE = "/=&;%+?:@!$'()*,~"

#: What uvicorn and hypercorn advertise; pass ``extensions={}`` to get a
#: daphne-like server without the denial-response extension.
DEFAULT_EXTENSIONS: dict[str, dict[str, Any]] = {"websocket.http.response": {}}


class _Connecting:
    """What :meth:`WebSocketClient.connect` returns: awaitable, or an async context."""

    def __init__(
        self,
        connection: WebSocketTestConnection,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.connection = connection
        self._before = before

    async def _open(self) -> WebSocketTestConnection:
        if self._before is not None:
            await self._before()
        return await self.connection._handshake()

    def __await__(self) -> Generator[Any, None, WebSocketTestConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> WebSocketTestConnection:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A view's exception still waiting is raised, unless the block is
        # already failing: that failure is the one to see.
        await self.connection._close(CloseCode.NORMAL_CLOSURE, exc is None)


class WebSocketClient:
    """
    A test client that opens WebSocket connections to an ASGI application.

    ``application`` defaults to ``WebSocketMiddleware(ASGIHandler())``, what
    :func:`~django_wsviews.asgi.get_asgi_application` serves. ``headers`` are
    sent with every handshake; cookies set by :meth:`force_login` too.
    ``timeout`` bounds every wait. With ``raise_view_exceptions`` (the
    default), an exception that escapes a view's hook is raised in the test;
    pass False to see what a client would instead (500, or a 1011 close).
    """

    def __init__(
        self,
        application: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        scheme: str = "ws",
        host: str = "testserver",
        extensions: Mapping[str, Any] | None = None,
        raise_view_exceptions: bool = True,
    ) -> None:
        if application is None:
            from ..asgi import WebSocketMiddleware

            application = WebSocketMiddleware(ASGIHandler())
        self.application = application
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.scheme = scheme
        self.host = host
        self.extensions = DEFAULT_EXTENSIONS if extensions is None else dict(extensions)
        self.raise_view_exceptions = raise_view_exceptions
        self.cookies: SimpleCookie = SimpleCookie()

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in, as Django's ``Client.force_login`` does (sync code)."""
        self.cookies.update(_login_cookies(user, backend))

    async def aforce_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in from async code."""
        self.cookies.update(await sync_to_async(_login_cookies)(user, backend))

    def logout(self) -> None:
        """Forget the session cookie."""
        self.cookies = SimpleCookie()

    def connect(
        self,
        path: str,
        *,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        subprotocols: Iterable[str] = (),
        user: Any = None,
        timeout: float | None = None,
        last_seq: str | None = None,
    ) -> _Connecting:
        """
        Open a connection to ``path``; await the result, or use it in ``async with``.

        ``path`` starts with ``/`` and may carry a query string; otherwise it
        is the name of a WebSocket route (``"chat:room"``), reversed with
        :func:`~django_wsviews.ws_reverse` and ``args`` or ``kwargs``.
        ``query`` (a mapping; a list value repeats the key) is added to the
        query string. With ``user``, this handshake is made logged in as that
        user (a session of its own, as :meth:`force_login` makes); the
        client's other connections are not. ``last_seq`` resumes after
        that seq, as the JavaScript client does on reconnecting: it is sent
        as the ``wsviews_last`` query parameter.

        Raise :exc:`~django_wsviews.exceptions.HandshakeRejected`, with the
        status, when the application refuses the handshake;
        :exc:`~django_wsviews.exceptions.HandshakeTimeout` when it does not
        answer within ``timeout`` seconds (the client's by default); and the
        view's own exception when one escaped ``connect()`` (see
        ``raise_view_exceptions``).
        """
        path = _resolve(path, args, kwargs)
        if last_seq is not None:
            query = {**(query or {}), "wsviews_last": last_seq}
        if query:
            separator = "&" if "?" in path else "?"
            path = f"{path}{separator}{urlencode(query, doseq=True)}"
        if headers is not None and not isinstance(headers, Mapping):
            headers = list(headers)
        before = None
        if user is not None:
            given = [*self.headers, *_header_names(headers)]
            if any(name.lower() == "cookie" for name in given):
                raise TypeError(
                    "connect() takes user= or a Cookie header, not both: "
                    "user= sends a session cookie of its own."
                )
        scope = self._scope(path, headers, subprotocols)
        if user is not None:
            before = _LogIn(self, scope, user)
        connection = WebSocketTestConnection(
            self.application,
            scope,
            self.timeout if timeout is None else timeout,
            raise_view_exceptions=self.raise_view_exceptions,
        )
        return _Connecting(connection, before)

    def _scope(
        self,
        path: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        subprotocols: Iterable[str],
    ) -> dict[str, Any]:
        path, _, query = path.partition("?")
        pairs = list(self.headers.items())
        pairs.extend(headers.items() if isinstance(headers, Mapping) else headers or ())
        names = {name.lower() for name, _ in pairs}
        if "host" not in names:
            pairs.insert(0, ("host", self.host))
        if self.cookies and "cookie" not in names:
            pairs.append(("cookie", _cookie_header(self.cookies)))
        subprotocols = list(subprotocols)
        if subprotocols:
            pairs.append(("sec-websocket-protocol", ", ".join(subprotocols)))
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": (self.host, 443 if self.scheme == "wss" else 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": unquote(path),
            # As a browser sends them: UTF-8, percent-encoded.
            "raw_path": quote(path, safe=_SAFE).encode("ascii"),
            "query_string": quote(query, safe=_SAFE).encode("ascii"),
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs
            ],
            "subprotocols": subprotocols,
            "extensions": dict(self.extensions),
        }


def _resolve(
    path: str, args: Iterable[Any] | None, kwargs: Mapping[str, Any] | None
) -> str:
    """Return ``path``, or the path of the route it names."""
    if path.startswith("/"):
        if args or kwargs:
            raise TypeError(
                f"args and kwargs are for a route name, and {path!r} is a path: "
                "pass the route's name instead, or the path alone."
            )
        return path
    if "/" in path:
        raise ValueError(
            f"{path!r} is neither a path (which starts with '/') nor a route name "
            "(which has no '/')."
        )
    from ..routing import ws_reverse

    return ws_reverse(
        path, args=list(args or ()), kwargs=dict(kwargs) if kwargs else None
    )


def _header_names(
    headers: Mapping[str, str] | list[tuple[str, str]] | None,
) -> list[str]:
    if isinstance(headers, Mapping):
        return list(headers)
    return [name for name, _ in headers or ()]


def _cookie_header(cookies: SimpleCookie) -> str:
    return "; ".join(f"{k}={m.coded_value}" for k, m in cookies.items())


def _login_cookies(user: Any, backend: str | None = None) -> SimpleCookie:
    """Return the cookies of a new session with ``user`` logged in (sync code)."""
    from django.test import Client

    client = Client()
    client.force_login(user, backend)
    if threading.current_thread() is not threading.main_thread():
        # A worker thread of asgiref's, not the test's own: close the
        # connection force_login() opened there rather than leak it.
        connections.close_all()
    return client.cookies


class _LogIn:
    """Before a handshake: log ``user`` in, and send that session's cookie."""

    def __init__(
        self, client: WebSocketClient, scope: dict[str, Any], user: Any
    ) -> None:
        self.client = client
        self.scope = scope
        self.user = user

    async def __call__(self) -> None:
        cookies = SimpleCookie()
        cookies.update(self.client.cookies)
        cookies.update(await sync_to_async(_login_cookies)(self.user))
        headers = [pair for pair in self.scope["headers"] if pair[0] != b"cookie"]
        headers.append((b"cookie", _cookie_header(cookies).encode("latin-1")))
        self.scope["headers"] = headers
