"""
An in-process WebSocket client for tests, in the spirit of Django's ``Client``.

It drives the ASGI application directly, with no server and no socket, through
the real :class:`~django_wsviews.asgi.WebSocketMiddleware`, middleware chain
and resolver, so URL arguments, sessions and checks behave as in production::

    client = WebSocketClient()
    async with client.connect("/ws/chat/lobby/") as ws:
        await ws.send("hello")
        assert await ws.receive() == "hello"

Every wait has a timeout (``timeout``, 5 seconds by default), so a view that
never answers fails the test instead of hanging it. The client raises the
exceptions a view sees: :class:`~django_wsviews.exceptions.ConnectionClosed`
once the server has closed, with its ``code``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Generator, Iterable, Mapping
from http.cookies import SimpleCookie
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from ..db import hygiene
from ..exceptions import ConnectionClosed, HandshakeRejected, HandshakeTimeout
from ..status import CloseCode

__all__ = ["WebSocketClient", "WebSocketTestConnection"]

DEFAULT_TIMEOUT = 5.0

# Characters left as they are when percent-encoding a path or query string.
_SAFE = "/=&;%+?:@!$'()*,~"

#: What uvicorn and hypercorn advertise; pass ``extensions={}`` to get a
#: daphne-like server without the denial-response extension.
DEFAULT_EXTENSIONS: dict[str, dict[str, Any]] = {"websocket.http.response": {}}


class ClientDisconnected(OSError):
    """Raised to the application when it sends after the client has left."""


class WebSocketClient:
    """
    A test client that opens WebSocket connections to an ASGI application.

    ``application`` defaults to ``WebSocketMiddleware(ASGIHandler())``, what
    :func:`~django_wsviews.asgi.get_asgi_application` serves. ``headers`` are
    sent with every handshake; cookies set by :meth:`force_login` too.
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
        self.cookies: SimpleCookie = SimpleCookie()

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in, as Django's ``Client.force_login`` does (sync code)."""
        from django.test import Client

        client = Client()
        client.force_login(user, backend)
        self.cookies.update(client.cookies)

    async def aforce_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in from async code."""
        await sync_to_async(self._force_login_in_thread)(user, backend)

    def _force_login_in_thread(self, user: Any, backend: str | None) -> None:
        self.force_login(user, backend)
        if threading.current_thread() is not threading.main_thread():
            # A worker thread of asgiref's, not the test's own: close the
            # connection force_login() opened there rather than leak it.
            connections.close_all()

    def logout(self) -> None:
        """Forget the session cookie."""
        self.cookies = SimpleCookie()

    def connect(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        subprotocols: Iterable[str] = (),
        timeout: float | None = None,
    ) -> _Connecting:
        """
        Open a connection to ``path`` (which may carry a query string).

        Await the result, or use it in ``async with``. Raise
        :class:`~django_wsviews.exceptions.HandshakeRejected` with the status
        when the application refuses, and
        :class:`~django_wsviews.exceptions.HandshakeTimeout` when it does not
        answer within ``timeout`` seconds.
        """
        connection = WebSocketTestConnection(
            self.application,
            self._scope(path, headers, subprotocols),
            self.timeout if timeout is None else timeout,
        )
        return _Connecting(connection)

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
            pairs.append(
                (
                    "cookie",
                    "; ".join(f"{k}={m.coded_value}" for k, m in self.cookies.items()),
                )
            )
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


class _Connecting:
    """What :meth:`WebSocketClient.connect` returns: awaitable, or an async context."""

    def __init__(self, connection: WebSocketTestConnection) -> None:
        self.connection = connection

    def __await__(self) -> Generator[Any, None, WebSocketTestConnection]:
        return self.connection._handshake().__await__()

    async def __aenter__(self) -> WebSocketTestConnection:
        return await self.connection._handshake()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.connection.close()


class WebSocketTestConnection:
    """One open connection of the test client."""

    def __init__(self, application: Any, scope: dict[str, Any], timeout: float) -> None:
        self.scope = scope
        self.timeout = timeout
        #: The subprotocol the application accepted, or None.
        self.subprotocol: str | None = None
        #: The headers sent with ``websocket.accept``, as ``(name, value)`` strings.
        self.headers: list[tuple[str, str]] = []
        #: The close code, once the connection is closed.
        self.close_code: int | None = None
        self.close_reason = ""
        self._application = application
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._client_closed = False
        self._task: asyncio.Task[None] | None = None

    # Plumbing for the application's side ------------------------------------

    async def _run(self) -> None:
        hygiene.set(False)  # never close the test's own database connection
        await self._application(self.scope, self._to_app.get, self._app_send)

    async def _app_send(self, message: dict[str, Any]) -> None:
        if self._client_closed:
            raise ClientDisconnected("The test client has disconnected.")
        await self._from_app.put(message)

    async def _next(self, timeout: float | None) -> dict[str, Any]:
        """Return the application's next message, or raise what it raised."""
        assert self._task is not None
        getter = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait(
            {getter, self._task},
            timeout=self.timeout if timeout is None else timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if getter in done:
            return getter.result()
        getter.cancel()
        if self._task in done:
            self._task.result()  # raises what the application raised
            return {"type": "_exit"}
        raise HandshakeTimeout(
            f"No message from the application within {self.timeout if timeout is None else timeout} s."
        )

    # The test's side ----------------------------------------------------------

    async def _handshake(self) -> WebSocketTestConnection:
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "websocket.connect"})
        try:
            message = await self._next(None)
        except HandshakeTimeout:
            await self._cancel()
            raise
        kind = message["type"]
        if kind == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
            ]
            return self
        await self._finish()
        if kind == "websocket.close":
            raise HandshakeRejected(403)
        if kind == "websocket.http.response.start":
            headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message["headers"]
            ]
            body = b""
            while True:
                part = await self._next(None)
                body += part.get("body", b"")
                if part["type"] != "websocket.http.response.body" or not part.get(
                    "more_body"
                ):
                    break
            raise HandshakeRejected(message["status"], headers, body)
        raise HandshakeRejected(500) from None

    async def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) frame to the application."""
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason)
        if isinstance(message, str):
            await self._to_app.put({"type": "websocket.receive", "text": message})
        elif isinstance(message, bytes):
            await self._to_app.put({"type": "websocket.receive", "bytes": message})
        else:
            raise TypeError(f"send() takes str or bytes, not {type(message).__name__}.")

    async def send_json(self, content: Any) -> None:
        """Send ``content`` as JSON in a text frame."""
        await self.send(json.dumps(content))

    async def receive(self, timeout: float | None = None) -> str | bytes:
        """
        Return the next message the application sent.

        Raise :class:`ConnectionClosed` (with the code) once the application
        has closed, and :class:`HandshakeTimeout` after ``timeout`` seconds.
        """
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason)
        message = await self._next(timeout)
        if message["type"] == "websocket.send":
            text = message.get("text")
            return text if text is not None else message.get("bytes") or b""
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", CloseCode.NORMAL_CLOSURE)
            self.close_reason = message.get("reason") or ""
        else:
            self.close_code = CloseCode.ABNORMAL_CLOSURE
        await self._disconnect(self.close_code)
        raise ConnectionClosed(self.close_code, self.close_reason)

    async def receive_json(self, timeout: float | None = None) -> Any:
        """Return the next message, decoded from JSON."""
        message = await self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError("Expected a text frame with JSON, got a binary frame.")
        return json.loads(message)

    async def wait_closed(self, timeout: float | None = None) -> int:
        """
        Wait for the application to close, skipping messages; return the code.

        Raise :class:`HandshakeTimeout` if it does not close in time.
        """
        while True:
            try:
                await self.receive(timeout)
            except ConnectionClosed as exc:
                return exc.code if exc.code is not None else CloseCode.ABNORMAL_CLOSURE

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE) -> None:
        """Close from the client's side and wait for the application to finish."""
        if self.close_code is None:
            self.close_code = code
        await self._disconnect(code)

    async def _disconnect(self, code: int) -> None:
        if not self._client_closed:
            self._client_closed = True
            await self._to_app.put({"type": "websocket.disconnect", "code": code})
        await self._finish()

    async def _finish(self) -> None:
        if self._task is None or self._task.cancelled():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
        except asyncio.TimeoutError:
            await self._cancel()
            raise HandshakeTimeout(
                f"The application did not finish within {self.timeout} s of the disconnect."
            ) from None

    async def _cancel(self) -> None:
        """Cancel the application and wait for it, so that nothing outlives the test."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})
