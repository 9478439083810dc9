"""
One WebSocket connection's side of the ASGI protocol.

:class:`WebSocketConnection` holds a connection's state (an explicit
:class:`State`) and sends its ASGI messages: ``accept()``, ``reject()``,
``send()`` and ``close()``, whose errors name the state that forbids them.
Each action is awaitable from async code and callable, without ``await``,
from a plain ``def`` hook running in a worker thread.
:class:`~django_wsviews.views.WebSocketView` builds on it with the hooks,
routing and policies of a view. State changes here and in the lifecycle
(:mod:`django_wsviews.lifecycle`), which reads the client's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import sys
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import SyncToAsync, async_to_sync
from django.views.decorators.debug import sensitive_variables

from . import metrics
from .exceptions import ConnectionClosed, InvalidState
from .log import get_logger
from .responses import deny
from .signals import ClosedBy, RejectReason
from .status import CloseCode, check_close, close_code_for_restricted_server

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

__all__ = ["State", "WebSocketConnection"]

logger = get_logger("django_wsviews")

# send() gives the event loop a turn once every this many sends made without
# a new message in between: a hook that sends in a loop yields, one that
# answers each message with a frame or two never pays for it.
YIELD_EVERY = 64


class State(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"  # websocket.connect received, no answer yet
    OPEN = "open"  # websocket.accept sent
    CLOSED = "closed"  # closed by either side, or the handshake refused


class _Done:
    """An awaitable that is already complete, returned by sends made from sync code."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover  (makes this a generator)


_DONE = _Done()


class WebSocketConnection:
    """The ASGI state and actions of one WebSocket connection."""

    scope: Any
    request: Any
    # Set by _attach(); until then no action can run (see _check_hook_thread()).
    _loop_thread: int | None = None

    def _attach(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Bind the connection to its ASGI scope and callables, before any action."""
        self.scope = scope
        self._receive = receive
        self._send = send
        self._state = State.CONNECTING
        self._close_code: int = CloseCode.ABNORMAL_CLOSURE
        self._loop_thread = threading.get_ident()
        self._loop = asyncio.get_running_loop()
        self._sends = 0
        # Whether sends count as activity (the lifecycle's idle timer reads it).
        self._track_activity = False
        self._last_activity = 0.0
        # Servers that advertise the denial-response extension (uvicorn,
        # hypercorn) send any close code and empty frames; daphne advertises no
        # extension and, through autobahn, refuses both.
        self._restricted_server = not (scope.get("extensions") or {})
        self._accept_headers: list[tuple[bytes, bytes]] = []
        #: Counted inline as messages pass; see django_wsviews.metrics.
        self._stats = metrics.ConnectionStats()

    # Extension points of accept() for the view --------------------------------

    def select_subprotocol(self) -> str | None:
        """
        Return the subprotocol to accept when ``accept()`` is given none.

        It must be one the client offered, or None (a browser fails the
        handshake when the answer is not one it offered).
        """
        return None

    #: Called just before and just after ``websocket.accept`` is sent; set by
    #: the lifecycle (the groups of accept are joined before, and delivered
    #: to after).
    _on_accepting: Callable[[], Awaitable[None]] | None = None
    _on_accepted: Callable[[], None] | None = None

    # State ------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Return the connection's :class:`State`."""
        return self._state

    def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
    ) -> Awaitable[None]:
        """
        Accept the handshake.

        ``subprotocol`` defaults to :meth:`select_subprotocol`; it must be one
        the client offered (:class:`ValueError` otherwise, with the value left
        out of the message: an offered subprotocol may carry a token).
        ``headers`` are extra response headers (dropped by servers without
        accept-header support, such as daphne). Raise :class:`InvalidState`
        unless the handshake is pending.
        """
        return self._run(self._accept(subprotocol, headers))

    # An offered subprotocol may carry a token (tokens.TokenAuthMixin): keep it
    # out of error reports (honoured for coroutines from Django 5.0).
    @sensitive_variables("subprotocol", "message")
    async def _accept(
        self,
        subprotocol: str | None,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None,
    ) -> None:
        if self._state is not State.CONNECTING:
            raise InvalidState(
                f"accept() called on a connection that is {self._state.value}."
            )
        given = subprotocol is not None
        if not given:
            subprotocol = self.select_subprotocol()
        if subprotocol is not None and subprotocol not in (
            self.scope.get("subprotocols") or ()
        ):
            source = (
                "accept() got a subprotocol"
                if given
                else f"{type(self).__qualname__}.select_subprotocol() returned one"
            )
            raise ValueError(
                f"{source} the client did not offer; accept one of "
                "self.scope['subprotocols'], or None."
            )
        message: dict[str, Any] = {
            "type": "websocket.accept",
            "subprotocol": subprotocol,
        }
        extra = self._accept_headers
        if headers:
            extra = extra + [(_to_bytes(k), _to_bytes(v)) for k, v in headers]
        if extra:
            message["headers"] = extra
            self._accept_headers = []  # sent once; nothing to keep for the connection's life
        if self._on_accepting is not None:
            await self._on_accepting()
        self._state = State.OPEN
        await self._send_event(message)
        if self._on_accepted is not None:
            self._on_accepted()
        await metrics.connection_opened(self, self._stats)

    def reject(
        self,
        status: int = 403,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
        body: bytes = b"",
    ) -> Awaitable[None]:
        """
        Refuse the handshake with an HTTP ``status``.

        Where the server supports the denial-response extension (uvicorn,
        hypercorn) the client gets that status, ``headers`` and ``body``;
        elsewhere the handshake is closed before accept and the server
        answers 403. Raise :class:`InvalidState` after accept (use
        :meth:`close`); do nothing if the connection is already closed.
        """
        return self._run(self._reject(status, headers, body))

    async def _reject(
        self,
        status: int,
        headers: Iterable[tuple[str | bytes, str | bytes]] | None = None,
        body: bytes = b"",
        reason: RejectReason | None = None,
    ) -> None:
        if self._state is State.OPEN:
            raise InvalidState("reject() called after accept(); use close() instead.")
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        # OSError: the client left before the answer; refused either way.
        with contextlib.suppress(OSError):
            await deny(
                self.scope,
                self._send,
                status,
                [(_to_bytes(k), _to_bytes(v)) for k, v in headers or ()],
                body,
            )
        if reason is None:
            reason = RejectReason.ERROR if status >= 500 else RejectReason.VIEW
        await metrics.handshake_rejected(
            type(self),
            self.scope["path"],
            status,
            reason,
            getattr(self, "request", None),
        )

    def send(self, message: str | bytes) -> Awaitable[None]:
        """
        Send a text frame (``str``) or a binary frame (``bytes``).

        Await it in async code; from a plain ``def`` hook call it without
        ``await`` (it returns once the server has the frame). Empty messages
        are valid frames. Raise :class:`ConnectionClosed` once the connection
        is closed, :class:`InvalidState` before accept and :class:`TypeError`
        for anything but ``str`` or bytes-like data.
        """
        if threading.get_ident() != self._loop_thread:
            self._check_hook_thread("send()")
            async_to_sync(self._send_message)(message)
            return _DONE
        return self._send_message(message)

    async def _send_message(self, message: str | bytes) -> None:
        if self._state is not State.OPEN:
            raise self._not_open("send()")
        if type(message) is str:
            event: dict[str, Any] = {"type": "websocket.send", "text": message}
        elif isinstance(message, (bytes, bytearray, memoryview)):
            event = {"type": "websocket.send", "bytes": bytes(message)}
            message = event["bytes"]
        else:
            raise TypeError(
                f"send() takes str or bytes, not {type(message).__name__}; "
                "use send_json() to send JSON."
            )
        if self._track_activity:
            self._last_activity = self._loop.time()
        if not message and self._restricted_server:
            logger.warning(
                "Not sending an empty frame on %s: this server (daphne) cannot send one.",
                self.scope["path"],
            )
            return
        # _send_event(), inlined: this is the per-message path.
        try:
            await self._send(event)  # type: ignore[arg-type]
        except Exception as exc:
            if not isinstance(exc, _client_gone_errors()):
                raise
            self._client_gone()
            raise ConnectionClosed(self._close_code) from exc
        stats = self._stats
        stats.messages_out += 1
        stats.bytes_out += len(message)
        self._sends += 1
        if not self._sends % YIELD_EVERY:
            # Servers' sends rarely suspend, so a hook that sends in a loop
            # would never give the event loop a turn: other connections would
            # starve and a vanished client would go unnoticed. One turn every
            # so many sends lets both happen.
            await asyncio.sleep(0)

    def close(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> Awaitable[None]:
        """
        Close the connection with ``code`` and ``reason``.

        Before accept this refuses the handshake (the server answers 403).
        Closing a closed connection does nothing. Raise :class:`ValueError` for
        a code a server may not send or a reason over 123 bytes.
        """
        return self._run(self._close(code, reason))

    async def _close(
        self, code: int, reason: str = "", closed_by: ClosedBy = ClosedBy.VIEW
    ) -> None:
        check_close(code, reason)
        if self._state is State.CLOSED:
            return
        refusing = self._state is State.CONNECTING
        self._state = State.CLOSED
        self._close_code = code
        if self._stats.closed_by is None:
            self._stats.closed_by = closed_by
        if self._restricted_server:
            code = close_code_for_restricted_server(code)
        event: dict[str, Any] = {"type": "websocket.close", "code": int(code)}
        if reason:
            event["reason"] = reason
        # ConnectionClosed: the client went first; closed either way.
        with contextlib.suppress(ConnectionClosed):
            await self._send_event(event)
        if refusing:  # before accept, a close refuses the handshake (403)
            await metrics.handshake_rejected(
                type(self), self.scope["path"], 403, RejectReason.VIEW, self.request
            )

    def close_soon(
        self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = ""
    ) -> None:
        """
        Close the connection from any thread, without waiting.

        For signal receivers and other sync code that is not a hook of this
        connection. Does nothing if the connection is already closed. Raise
        :class:`ValueError`, in the caller's thread, for a code a server may
        not send or a reason over 123 bytes.
        """
        check_close(code, reason)
        self._close_soon(code, reason, ClosedBy.VIEW)

    def _close_soon(self, code: int, reason: str, closed_by: ClosedBy) -> None:
        def close() -> None:
            if self._state is not State.CLOSED:
                self._closing = asyncio.ensure_future(
                    self._close(code, reason, closed_by)
                )

        self._loop.call_soon_threadsafe(close)

    def _run(self, coro: Awaitable[None]) -> Awaitable[None]:
        """Return ``coro`` to await, or run it now when called from a sync hook."""
        if threading.get_ident() != self._loop_thread:
            try:
                self._check_hook_thread("This action")
            except InvalidState:
                coro.close()  # type: ignore[attr-defined]
                raise
            async_to_sync(_await)(coro)
            return _DONE
        return coro

    def _check_hook_thread(self, what: str) -> None:
        """
        Raise :class:`InvalidState` unless called from a sync hook of this event loop.

        A plain thread, a Celery task or another process's loop cannot drive
        this connection: the server's ``send`` belongs to its event loop.
        """
        if self._loop_thread is None:
            raise InvalidState(
                f"{what} was called on a view that is not serving a connection: "
                "the server makes one view per connection (see as_view())."
            )
        if getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not self._loop:
            raise InvalidState(
                f"{what} was called from a thread that is not running a hook of "
                "this connection. From other threads, use close_soon() to close "
                "it, or broadcast() / send_to_user() to reach it through a group."
            )

    def _not_open(self, what: str) -> Exception:
        if self._state is State.CONNECTING:
            return InvalidState(f"{what} called before accept().")
        return ConnectionClosed(self._close_code)

    async def _send_event(self, event: dict[str, Any]) -> None:
        try:
            await self._send(event)  # type: ignore[arg-type]
        except Exception as exc:
            if not isinstance(exc, _client_gone_errors()):
                raise
            self._client_gone()
            raise ConnectionClosed(self._close_code) from exc

    def _client_gone(self) -> None:
        """Mark the connection closed by the client, found gone while sending."""
        self._state = State.CLOSED
        if self._stats.closed_by is None:
            self._stats.closed_by = ClosedBy.CLIENT


def _client_gone_errors() -> tuple[type[BaseException], ...]:
    """
    Return the exceptions a server's send() raises once the client is gone.

    ASGI asks for an OSError subclass (uvicorn, hypercorn); daphne raises
    autobahn's Disconnected instead. Only consulted when a send fails.
    """
    autobahn = sys.modules.get("autobahn.exception")
    disconnected = getattr(autobahn, "Disconnected", None)
    return (OSError,) if disconnected is None else (OSError, disconnected)


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable
