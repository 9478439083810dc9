"""
One connection of the test client: send, receive, wait, close.

Every wait has a timeout: a view that never answers raises
:exc:`~django_wsviews.exceptions.HandshakeTimeout`, which is also a
:exc:`TimeoutError`, instead of hanging the test. The connection raises
what a view sees: :exc:`~django_wsviews.exceptions.ConnectionClosed`, with
its ``code``, once the server has closed.

An exception that escapes one of the view's hooks (and reaches the default
``handle_exception()``) is raised in the test where it next waits on the
connection: ``receive()``, ``wait_closed()``, ``assert_no_message()``, the
handshake, or the close at the end of ``async with``; with the view's
traceback, as Starlette's ``TestClient`` and Django's ``Client`` do. The
messages the view sent before it failed are received first. The view tells
the connection through :data:`django_wsviews.hooks.exception_observer`,
which the connection sets for the application it runs; a middleware's
exception comes through Django's ``got_request_exception`` signal. With
``raise_view_exceptions=False``, what a client sees instead: the handshake
refused with 500, or the connection closed with 1011.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from django.core.signals import got_request_exception

from ..db import hygiene
from ..exceptions import ConnectionClosed, HandshakeRejected, HandshakeTimeout
from ..hooks import exception_observer
from ..status import CloseCode

__all__ = ["ClientDisconnected", "Closed", "WebSocketTestConnection"]

#: How long :meth:`WebSocketTestConnection.assert_no_message` waits by default.
NO_MESSAGE_TIMEOUT = 0.1

# The type of the message that carries a view's exception to the test, in
# order with what the application sent.
_VIEW_EXCEPTION = "django_wsviews.testing.exception"

# How many of the messages that arrived assert_no_message() shows, and how much of each.
_SHOWN_MESSAGES = 5
_SHOWN_CHARACTERS = 200


class ClientDisconnected(OSError):
    """Raised to the application when it sends after the client has left."""


class Closed(int):
    """
    How a connection closed: the close code (this ``int``) and the ``reason``.

    What :meth:`WebSocketTestConnection.wait_closed` returns. It equals its
    code, so ``assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR``
    reads as it should; ``.code`` and ``.reason`` spell it out.
    """

    reason: str

    def __new__(cls, code: int, reason: str = "") -> Closed:
        """Return the close with ``code`` and ``reason``."""
        closed = super().__new__(cls, code)
        closed.reason = reason
        return closed

    @property
    def code(self) -> int:
        """The close code, as a plain ``int``."""
        return int(self)

    def __repr__(self) -> str:
        return f"Closed(code={int(self)}, reason={self.reason!r})"

    # Spelled out, as int's own, so that type checkers let it be compared
    # with a CloseCode (a strict mypy otherwise calls them "non-overlapping").
    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)

    __hash__ = int.__hash__


class WebSocketTestConnection:
    """One open connection of the test client."""

    def __init__(
        self,
        application: Any,
        scope: dict[str, Any],
        timeout: float,
        *,
        raise_view_exceptions: bool = True,
    ) -> None:
        self.scope = scope
        self.timeout = timeout
        #: Whether an exception escaping the view's hooks is raised in the test.
        self.raise_view_exceptions = raise_view_exceptions
        #: The subprotocol the application accepted, or None.
        self.subprotocol: str | None = None
        #: The headers sent with ``websocket.accept``, as ``(name, value)`` strings.
        self.headers: list[tuple[str, str]] = []
        #: The close code, once the connection is closed.
        self.close_code: int | None = None
        #: The close reason, once the connection is closed ("" if none).
        self.close_reason = ""
        self._application = application
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._client_closed = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observed: list[Exception] = []

    # Plumbing for the application's side ------------------------------------

    async def _run(self) -> None:
        hygiene.set(False)  # never close the test's own database connection
        if self.raise_view_exceptions:
            exception_observer.set(self._observe)
        await self._application(self.scope, self._to_app.get, self._app_send)

    async def _app_send(self, message: dict[str, Any]) -> None:
        if self._client_closed:
            raise ClientDisconnected("The test client has disconnected.")
        await self._from_app.put(message)

    def _observe(self, exc: Exception) -> None:
        """Queue ``exc``, which the view failed with, to be raised in the test."""
        if any(seen is exc for seen in self._observed):
            return  # reported twice: by the view, then by Django's signal
        self._observed.append(exc)
        message = {"type": _VIEW_EXCEPTION, "exception": exc}
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None or running is self._loop:
            self._from_app.put_nowait(message)
        else:  # from a worker thread
            self._loop.call_soon_threadsafe(self._from_app.put_nowait, message)

    async def _next(self, timeout: float | None) -> dict[str, Any]:
        """Return the application's next message, or raise what the view raised."""
        assert self._task is not None
        if self._from_app.empty():
            getter = asyncio.ensure_future(self._from_app.get())
            done, _ = await asyncio.wait(
                {getter, self._task},
                timeout=self.timeout if timeout is None else timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter not in done:
                getter.cancel()
                if self._task in done:
                    self._task.result()  # raises what the application raised
                    return {"type": "_exit"}
                raise HandshakeTimeout(
                    "No message from the application within "
                    f"{self.timeout if timeout is None else timeout} s."
                )
            message = getter.result()
        else:  # waiting already: taken even with a timeout of 0
            message = self._from_app.get_nowait()
        if message["type"] == _VIEW_EXCEPTION:
            raise message["exception"]
        return message

    # The test's side ----------------------------------------------------------

    async def _handshake(self) -> WebSocketTestConnection:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "websocket.connect"})
        try:
            message = await self._next(None)
        except HandshakeTimeout:
            await self._cancel()
            raise
        except Exception:
            await self._finish()  # the view's exception: let it refuse and end
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
        """
        Send a text (``str``) or binary (``bytes``) frame to the application.

        Raise :exc:`ConnectionClosed` once the connection is closed, and
        TypeError for anything but ``str`` or ``bytes``.
        """
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
        Return the next message the application sent: ``str`` or ``bytes``.

        Raise :exc:`ConnectionClosed` (with the code and reason) once the
        application has closed, :exc:`HandshakeTimeout` (a
        :exc:`TimeoutError`) after ``timeout`` seconds, and the view's own
        exception if one escaped a hook after the messages before it.
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

    async def receive_text(self, timeout: float | None = None) -> str:
        """Return the next message, a text frame; raise TypeError for a binary one."""
        message = await self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError(
                f"Expected a text frame, got a binary frame: {message!r:.80}"
            )
        return message

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """Return the next message, a binary frame; raise TypeError for a text one."""
        message = await self.receive(timeout)
        if not isinstance(message, bytes):
            raise TypeError(
                f"Expected a binary frame, got a text frame: {message!r:.80}"
            )
        return message

    async def receive_json(self, timeout: float | None = None) -> Any:
        """Return the next message, decoded from JSON; TypeError for a binary frame."""
        message = await self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError("Expected a text frame with JSON, got a binary frame.")
        return json.loads(message)

    async def assert_no_message(self, timeout: float = NO_MESSAGE_TIMEOUT) -> None:
        """
        Assert that the application sends nothing within ``timeout`` seconds.

        Return once the time is up with nothing received. Raise
        AssertionError showing what came instead: the messages (the first,
        and any others already waiting), or the close and its code. Raise
        :exc:`ConnectionClosed` if the connection was already closed, and the
        view's exception if one escaped a hook meanwhile.
        """
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason)
        try:
            first = await self.receive(timeout)
        except HandshakeTimeout:
            return
        except ConnectionClosed as exc:
            code = CloseCode.ABNORMAL_CLOSURE if exc.code is None else exc.code
            raise AssertionError(
                f"Expected no message within {timeout} s; the application "
                f"closed the connection instead, with {Closed(code, exc.reason)!r}."
            ) from None
        arrived = [first]
        while len(arrived) < _SHOWN_MESSAGES and not self._from_app.empty():
            message = self._from_app.get_nowait()
            if message["type"] != "websocket.send":
                break
            text = message.get("text")
            arrived.append(text if text is not None else message.get("bytes") or b"")
        shown = "\n".join(f"  {_shorten(message)}" for message in arrived)
        more = " (and more)" if len(arrived) == _SHOWN_MESSAGES else ""
        raise AssertionError(
            f"Expected no message within {timeout} s, got{more}:\n{shown}"
        )

    async def wait_closed(self, timeout: float | None = None) -> Closed:
        """
        Wait for the application to close, skipping messages; return how it closed.

        The result equals the close code and has ``.code`` and ``.reason``.
        Raise :exc:`HandshakeTimeout` if the close does not come within
        ``timeout`` seconds (the client's by default) in all, and the view's
        exception if one escaped a hook.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                await self.receive(max(0.0, deadline - loop.time()))
            except ConnectionClosed as exc:
                code = CloseCode.ABNORMAL_CLOSURE if exc.code is None else exc.code
                return Closed(code, exc.reason)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE) -> None:
        """
        Close from the client's side and wait for the application to finish.

        Raise a view's exception that no wait has raised yet (one from
        ``disconnect()``, say), and :exc:`HandshakeTimeout` if the
        application does not finish within the client's timeout.
        """
        await self._close(code, True)

    async def _close(self, code: int, raise_view_exceptions: bool) -> None:
        if self.close_code is None:
            self.close_code = code
        await self._disconnect(code)
        pending = self._pending_exception()
        if pending is not None and raise_view_exceptions:
            raise pending

    def _pending_exception(self) -> Exception | None:
        """Return the first view exception no wait has raised; forget the messages."""
        while not self._from_app.empty():
            message = self._from_app.get_nowait()
            if message["type"] == _VIEW_EXCEPTION:
                exception: Exception = message["exception"]
                return exception
        return None

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


def _shorten(message: str | bytes) -> str:
    shown = repr(message)
    if len(shown) > _SHOWN_CHARACTERS:
        return shown[: _SHOWN_CHARACTERS - 3] + "..."
    return shown


def _observe_request_exception(sender: Any, **kwargs: Any) -> None:
    """
    Pass an exception Django reports during a handshake to the test client.

    Django's handler sends ``got_request_exception`` inside the ``except``
    block of an exception that a middleware raised (the handshake is then
    refused with 500); as for Django's own test ``Client``, the exception is
    ``sys.exc_info()``. Outside the test client's connections, nothing
    happens.
    """
    observe = exception_observer.get()
    exc = sys.exc_info()[1]
    if observe is not None and isinstance(exc, Exception):
        observe(exc)


got_request_exception.connect(
    _observe_request_exception, dispatch_uid="django_wsviews.testing.client"
)
