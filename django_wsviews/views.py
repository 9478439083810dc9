"""
Class-based WebSocket views.

A :class:`WebSocketView` is to a WebSocket connection what a
:class:`django.views.View` is to a request: routed by the URLconf (in
``ws_urlpatterns``), built by ``as_view()``, one instance per connection. The
hooks are ``connect()``, ``receive(message)`` and ``disconnect(code)``.

Failure policy: an exception escaping a hook is passed to
:meth:`WebSocketView.handle_exception`, which by default logs it with its
traceback on the ``django_wsviews`` logger, sends Django's
``got_request_exception`` signal, then refuses the handshake with 500 (before
accept) or closes with 1011 (after). ``disconnect()`` runs exactly once for
every connection whose ``connect()`` was called, however the connection ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import json
import threading
import types
import uuid
from collections.abc import Awaitable, Callable, Generator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from asgiref.sync import (
    iscoroutinefunction,
    sync_to_async,
)
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import classonlymethod

from . import conf, jsontext, sessions
from .connection import State, WebSocketConnection
from .db import connection_thread, run_in_thread, run_sync
from .envelope import GroupMessage
from .exceptions import ConnectionClosed, TooManyGroups
from .groups import aload_user, user_group_for, validate_group_name
from .limits import (
    Rate,
    TokenBucket,
    message_size_exceeds,
    parse_rate,
    release_user_slot,
    take_user_slot,
)
from .log import get_logger
from .membership import Membership
from .origins import origin_allowed
from .request import WebSocketRequest
from .responses import upgrade_required
from .status import CloseCode

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

__all__ = ["JsonWebSocketView", "WebSocketView"]

logger = get_logger("django_wsviews")


HOOKS = (
    "connect",
    "receive",
    "disconnect",
    "handle_exception",
    "rate_limit_exceeded",
    "session_expired",
    "receive_group",
)

# A connection reads at most this many messages ahead while a hook is
# suspended (to notice a disconnect); past it, the server's own buffer and
# backpressure apply.
READ_AHEAD = 32


_UNKNOWN = object()


@types.coroutine
def _resume(coro: Any, yielded: Any) -> Generator[Any, None, Any]:
    """
    Drive ``coro``, already started and suspended on ``yielded``, to its end.

    This lets a hook run inline on the connection's own task until it first
    suspends; only then is a task made for the rest of it (see
    :meth:`WebSocketView._call`). It forwards exactly what ``await`` would:
    every send and throw from the event loop goes to ``coro``.
    """
    while True:
        try:
            yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation and the like go to the hook
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(None)
            except StopIteration as stop:
                return stop.value


class WebSocketView(WebSocketConnection):
    """
    A WebSocket endpoint, routed in ``ws_urlpatterns`` with :meth:`as_view`.

    Override the hooks; each may be ``async def`` or a plain ``def`` (a plain
    hook runs in a worker thread of its own connection, with database
    connections handled as for a request, and may call :meth:`send`,
    :meth:`close` and the rest without ``await``).
    """

    #: Subprotocols this view speaks. The client's list is taken in the
    #: client's order: the first one it offers that is listed here is accepted.
    subprotocols: ClassVar[Sequence[str]] = ()

    #: Whether a browser handshake's ``Origin`` is checked; ``None`` follows
    #: the ``WSVIEWS_CHECK_ORIGIN`` setting (on by default).
    check_origin: ClassVar[bool | None] = None

    #: Origins allowed for this view on top of ``WSVIEWS_ALLOWED_ORIGINS``,
    #: ``CSRF_TRUSTED_ORIGINS`` and the site's own.
    allowed_origins: ClassVar[Sequence[str]] = ()

    #: The largest message accepted, in bytes (text counted as UTF-8); a
    #: larger one closes the connection with 1009. ``None`` follows
    #: ``WSVIEWS_MAX_MESSAGE_SIZE`` (1 MiB by default).
    max_message_size: ClassVar[int | None] = None

    #: Messages allowed per connection, e.g. ``"20/s"`` or ``(100, 60)``, as a
    #: token bucket (bursts up to the count). Past it,
    #: :meth:`rate_limit_exceeded` runs. ``None`` follows ``WSVIEWS_RATE_LIMIT``
    #: (no limit by default).
    rate_limit: ClassVar[str | tuple[float, float] | None] = None

    #: Seconds with no message either way after which the connection is
    #: closed with 1001. ``None`` follows ``WSVIEWS_IDLE_TIMEOUT`` (off by
    #: default).
    idle_timeout: ClassVar[float | None] = None

    #: Open connections allowed per authenticated user, in this process, to
    #: this view and every other one with a limit; past it the handshake is
    #: refused with 429. ``None`` follows ``WSVIEWS_MAX_CONNECTIONS_PER_USER``
    #: (no limit by default).
    max_connections_per_user: ClassVar[int | None] = None

    #: Groups a connection may be in at once, those joined on accept
    #: included; past it, :meth:`join` raises
    #: :class:`~django_wsviews.exceptions.TooManyGroups`. ``None`` follows
    #: ``WSVIEWS_MAX_GROUPS_PER_CONNECTION`` (100 by default).
    max_groups_per_connection: ClassVar[int | None] = None

    #: Re-read the session this often (seconds; 0 means before every
    #: message) and call :meth:`session_expired` once it has ended or its
    #: user changed. ``None`` (the default) never re-reads it.
    session_recheck_interval: ClassVar[float | None] = None

    #: Groups every connection joins on accept; see get_group_names().
    group_names: ClassVar[Sequence[str]] = ()

    #: Whether a connection joins its user's group on accept, for
    #: ``send_to_user()`` and ``close_user_sockets()``: ``None`` (the default)
    #: if the user is authenticated and already loaded (never queries),
    #: ``True`` loading the user if needed, ``False`` never.
    user_group: ClassVar[bool | None] = None

    # Made by the first join(); None for a connection without groups.
    _membership: Membership | None = None
    _connection_id: str | None = None

    # Set by as_view(): which hooks are plain functions.
    _sync_hooks: ClassVar[frozenset[str]] = frozenset()

    request: WebSocketRequest
    scope: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        """Set the keyword arguments given to :meth:`as_view` on the instance."""
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._sync_hooks = frozenset(
            name
            for name in cls._hook_names()
            if not iscoroutinefunction(getattr(cls, name))
        )

    @classmethod
    def _hook_names(cls) -> tuple[str, ...]:
        return HOOKS

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., Any]:
        """
        Return the view callable to put in ``ws_urlpatterns``.

        Like :meth:`django.views.View.as_view`, only keyword arguments that are
        already attributes of the class are accepted, and the callable exposes
        ``view_class`` and ``view_initkwargs``. Called by Django's HTTP
        handler (the view was routed in ``urlpatterns``), it answers 426
        Upgrade Required.
        """
        for key in initkwargs:
            if not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}() received an invalid keyword {key!r}. "
                    "as_view only accepts arguments that are already attributes "
                    "of the class: add the attribute to the class first."
                )
            if key in HOOKS or key in ("accept", "reject", "send", "close"):
                raise TypeError(
                    f"The method name {key!r} is not accepted as a keyword "
                    f"argument to {cls.__name__}.as_view(): override the method "
                    "in a subclass instead."
                )

        async def view(
            request: HttpRequest, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            # Reached only through Django's HTTP handler: WebSocket connections
            # are served by django_wsviews.asgi, which instantiates view_class.
            return upgrade_required()

        view.view_class = cls  # type: ignore[attr-defined]
        view.view_initkwargs = initkwargs  # type: ignore[attr-defined]
        view.__doc__ = cls.__doc__
        view.__module__ = cls.__module__
        view.__qualname__ = f"{cls.__qualname__}.as_view.<locals>.view"
        # Decorators applied to dispatch() (e.g. login_not_required, through
        # method_decorator) show on the callable, as for Django's views.
        view.__dict__.update(cls.dispatch.__dict__)
        return view

    # Set-up ---------------------------------------------------------------

    def setup(
        self,
        request: WebSocketRequest,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Initialize the attributes shared by every hook."""
        self._attach(request.scope, receive, send)
        self.request = request
        self.args = args
        self.kwargs = kwargs
        # The connection's own context, for the tasks it starts later (group
        # delivery) even from inside a sync hook's async_to_sync().
        self._context = contextvars.copy_context()
        self._reader: asyncio.Future[Any] | None = None
        # Messages read ahead while a hook was suspended; made when first needed.
        self._pending: collections.deque[Any] | None = None
        self._session_user_id: Any = _UNKNOWN
        self._user_slot: str | None = None
        self._session_watch: asyncio.Task[None] | None = None

    # Hooks ------------------------------------------------------------------

    async def connect(self) -> None:
        """
        Handle a new connection; the default accepts it.

        Call :meth:`accept` or :meth:`reject`; returning without either refuses
        the handshake with 403.
        """
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        """Handle one message: ``str`` for a text frame, ``bytes`` for binary."""

    async def disconnect(self, code: int) -> None:
        """
        Clean up after the connection; ``code`` is the close code.

        Runs exactly once, however the connection ended: the client closing
        (its code, or 1005 if it gave none), the view closing (the view's
        code), a refused handshake (1006), or the server shutting down (1012).
        """

    async def handle_exception(self, exc: Exception) -> None:
        """
        Handle an exception that escaped a hook.

        The default logs it with its traceback on the ``django_wsviews``
        logger, sends ``got_request_exception``, then refuses the handshake
        with 500 (before accept) or closes with 1011 (after). Override to
        report the error to the client and keep the connection open.
        """
        status = 500 if self._state is State.CONNECTING else CloseCode.INTERNAL_ERROR
        logger.error(
            "Error in WebSocket view %s at %s",
            type(self).__qualname__,
            self.request.path,
            exc_info=exc,
            extra={"status_code": status, "request": self.request},
        )
        await sync_to_async(got_request_exception.send)(
            sender=type(self), request=self.request
        )
        if self._state is State.CONNECTING:
            await self.reject(500)
        elif self._state is State.OPEN:
            await self.close(CloseCode.INTERNAL_ERROR)

    # Handshake checks -------------------------------------------------------

    def get_allowed_origins(self) -> list[str]:
        """Return the origins allowed besides the site's own and CSRF's trusted ones."""
        return [*conf.settings.WSVIEWS_ALLOWED_ORIGINS, *self.allowed_origins]

    def origin_permitted(self) -> bool:
        """
        Return whether the handshake's ``Origin`` may open this socket.

        Runs before any other view code. See :mod:`django_wsviews.origins`
        for the rules; a handshake without ``Origin`` is allowed unless
        ``WSVIEWS_ALLOW_MISSING_ORIGIN`` is False.
        """
        check = (
            conf.settings.WSVIEWS_CHECK_ORIGIN
            if self.check_origin is None
            else self.check_origin
        )
        if not check:
            return True
        if "HTTP_ORIGIN" not in self.request.META:
            return conf.settings.WSVIEWS_ALLOW_MISSING_ORIGIN
        return origin_allowed(self.request, self.get_allowed_origins())

    # Limits -----------------------------------------------------------------

    def get_max_message_size(self) -> int | None:
        """Return the largest message accepted, in bytes, or None for no limit."""
        if self.max_message_size is not None:
            return self.max_message_size
        return conf.settings.WSVIEWS_MAX_MESSAGE_SIZE

    def get_rate_limit(self) -> Rate | None:
        """Return the message rate allowed as ``(messages, seconds)``, or None."""
        rate = (
            self.rate_limit
            if self.rate_limit is not None
            else conf.settings.WSVIEWS_RATE_LIMIT
        )
        return parse_rate(rate)

    def get_idle_timeout(self) -> float | None:
        """Return the idle timeout in seconds, or None for none."""
        if self.idle_timeout is not None:
            return self.idle_timeout
        return conf.settings.WSVIEWS_IDLE_TIMEOUT

    def get_max_connections_per_user(self) -> int | None:
        """Return the open connections allowed per user, or None for no limit."""
        if self.max_connections_per_user is not None:
            return self.max_connections_per_user
        return conf.settings.WSVIEWS_MAX_CONNECTIONS_PER_USER

    def get_max_groups_per_connection(self) -> int | None:
        """
        Return the most groups a connection may be in at once, or None for no limit.

        Read once per connection, at its first join (or accept, with groups
        to join).
        """
        if self.max_groups_per_connection is not None:
            return self.max_groups_per_connection
        return conf.settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION

    async def _take_user_slot(self) -> bool:
        """Count this connection against its user's limit; False once over it."""
        limit = self.get_max_connections_per_user()
        if limit is None:
            return True
        user = await aload_user(self.request)
        if user is None or not user.is_authenticated:
            return True
        key = str(user.pk)
        if not take_user_slot(key, limit):
            logger.warning(
                "User %s already has %d open WebSockets; refusing %s.",
                key,
                limit,
                self.request.path,
            )
            return False
        self._user_slot = key
        return True

    async def rate_limit_exceeded(self, message: str | bytes) -> None:
        """
        Handle a message over the rate limit; it is not passed to receive().

        The default logs a warning and closes with 1008 (policy violation).
        Override to drop the message quietly, or to warn the client.
        """
        logger.warning(
            "WebSocket %s exceeded its rate limit; closing.", self.request.path
        )
        await self.close(CloseCode.POLICY_VIOLATION, "Rate limit exceeded.")

    # The session -----------------------------------------------------------

    async def session_valid(self) -> bool:
        """
        Return whether the session the socket opened with is still logged in as the same user.

        Reads the session store in a worker thread. Always True for a socket
        opened without a session cookie, or anonymously.
        """
        key = sessions.session_key(self.request)
        if key is None:
            return True
        if self._session_user_id is _UNKNOWN:
            self._session_user_id = await run_sync(sessions.session_user_id, key)
        return bool(
            await run_sync(sessions.session_still_valid, key, self._session_user_id)
        )

    async def session_expired(self) -> None:
        """Handle a session that has ended; the default closes with 4401."""
        await self.close(CloseCode.UNAUTHORIZED, "Session ended.")

    # Actions ----------------------------------------------------------------

    def get_subprotocols(self) -> Sequence[str]:
        """Return the subprotocols this view speaks (``subprotocols`` by default)."""
        return self.subprotocols

    def select_subprotocol(self) -> str | None:
        """Return the first client-offered subprotocol the view speaks, or None."""
        supported = self.get_subprotocols()
        for offered in self.scope.get("subprotocols") or ():
            if offered in supported:
                return str(offered)
        return None

    # Groups -----------------------------------------------------------------

    def get_group_names(self) -> Sequence[str]:
        """
        Return the groups to join on accept (``group_names`` by default).

        Override to name them from the route, e.g.
        ``[f"room.{self.kwargs['room']}"]``. Runs on the event loop: no
        database queries here.
        """
        return self.group_names

    @property
    def connection_id(self) -> str:
        """Return a random id of this connection, e.g. for ``abroadcast(sender=...)``."""
        if self._connection_id is None:
            self._connection_id = uuid.uuid4().hex
        return self._connection_id

    @property
    def groups(self) -> frozenset[str]:
        """Return the groups this connection is a member of."""
        return frozenset(() if self._membership is None else self._membership.groups)

    def join(self, *groups: str) -> Awaitable[None]:
        """
        Join ``groups``: their messages reach receive_group() from now on.

        Return once they do (or at once if the backend is unreachable: it
        subscribes when it is back). The groups of one call are subscribed
        together, in one round trip to the backend: ``join(*names)`` beats
        a loop of joins. Joining a group twice does nothing (nor is it
        counted twice), and so does joining no group; joining before accept
        queues the messages until accept. Every group is left when the
        connection ends.

        Raise TooManyGroups, joining none of ``groups``, if the connection
        would be in more than get_max_groups_per_connection() groups;
        TypeError or ValueError for an invalid name; ConnectionClosed once
        the connection has ended.
        """
        for group in groups:
            name: object = group  # a list passed by mistake, for instance
            if isinstance(name, (list, tuple, set, frozenset)):
                raise TypeError(
                    f"join() takes group names, not a {type(name).__name__}: "
                    "unpack it, as in join(*names)."
                )
            validate_group_name(group)
        return self._run(self._join(groups))

    async def _join(self, groups: Sequence[str]) -> None:
        if self._state is State.CLOSED:
            raise ConnectionClosed(self._close_code)
        if not groups:
            return
        membership = self._group_membership()
        await membership.join(groups)
        if self._state is State.OPEN:
            membership.start()

    def leave(self, *groups: str) -> Awaitable[None]:
        """Leave ``groups``; skip those this connection is not in."""
        return self._run(self._leave(groups))

    async def _leave(self, groups: Sequence[str]) -> None:
        if self._membership is not None:
            self._membership.leave(groups)

    async def receive_group(self, message: GroupMessage) -> None:
        """
        Handle a message broadcast to a group this connection joined.

        The default sends ``message.data`` to the client unchanged (text as
        text, bytes as bytes). Override to filter, transform or drop, e.g.
        ``if message.sender == self.connection_id: return`` to skip your own
        broadcasts. Messages come one at a time, in order, from the
        connection's delivery task (concurrently with ``receive()``); an
        exception goes to handle_exception().

        Messages wait in a queue of at most ``WSVIEWS_SEND_QUEUE_SIZE`` (100).
        When it is full, the client being too slow, ``WSVIEWS_SEND_QUEUE_OVERFLOW``
        applies: by default the connection is closed with 1013 (try again
        later) and a warning logged; ``"drop_oldest"`` and ``"drop_newest"``
        drop messages instead. Other connections are never delayed.
        """
        await self.send(message.data)

    def _group_membership(self) -> Membership:
        if self._membership is None:
            self._membership = Membership(
                deliver=lambda message: self._guarded("receive_group", message),
                close=self.close,
                is_closed=lambda: self._state is State.CLOSED,
                label=self.request.path,
                context=self._context,
                max_groups=self.get_max_groups_per_connection(),
            )
        return self._membership

    async def _accepting(self) -> None:
        """
        Join get_group_names() and the user's group, before the accept is sent.

        So a client that has seen the handshake complete is a member; the
        group messages that come meanwhile wait in the queue. They are
        subscribed together, and count against
        get_max_groups_per_connection(): more groups than that is a
        programming error, and raises TooManyGroups (the handshake is
        refused with 500).
        """
        names = self.get_group_names()
        if isinstance(names, str):
            raise TypeError(
                f"{type(self).__qualname__}.get_group_names() returned the str "
                f"{names!r}; return a list of names, e.g. [{names!r}]."
            )
        joining = [validate_group_name(name) for name in names]
        user_group = await user_group_for(self.request, self.user_group)
        if user_group is not None:
            joining.append(user_group)
        if joining:
            membership = self._group_membership()
            try:
                await membership.join(joining)
            except TooManyGroups as exc:
                raise TooManyGroups(
                    f"{type(self).__qualname__} would be in {exc.count} groups on "
                    "accept (get_group_names(), the user's group, and any joined "
                    f"before), over its limit of {exc.limit}: return fewer names, or "
                    "raise max_groups_per_connection "
                    "(WSVIEWS_MAX_GROUPS_PER_CONNECTION).",
                    limit=exc.limit,
                    count=exc.count,
                ) from None

    def _accepted(self) -> None:
        """Start running receive_group(), now that the accept is sent."""
        if self._membership is not None:
            self._membership.start()

    def _leave_groups(self) -> None:
        """Leave every group: the connection has ended."""
        if self._membership is not None:
            self._membership.leave_all()

    # Plumbing ---------------------------------------------------------------

    async def _call(self, name: str, *args: Any) -> None:
        """
        Run hook ``name``, in a worker thread if it is a plain function.

        Either way, the database connections of the connection's thread are
        tidied as a request's are (see :mod:`django_wsviews.db`).
        """
        hook = getattr(self, name)
        if name in self._sync_hooks:
            await run_in_thread(hook, *args)
        else:
            await hook(*args)
            # Inline, not a call: a hook that used no thread costs nothing.
            thread = connection_thread.get()
            if thread is not None and thread.dirty:  # it used the ORM, say
                await thread.tidy()

    async def _guarded(self, name: str, *args: Any) -> None:
        """Run hook ``name``; pass an exception escaping it to handle_exception()."""
        try:
            await self._call(name, *args)
        except ConnectionClosed:
            logger.debug("Connection closed during %s() on %s", name, self.request.path)
        except Exception as exc:
            await self._exception(exc)

    async def _exception(self, exc: Exception) -> None:
        try:
            await self._call("handle_exception", exc)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("Error in %s.handle_exception()", type(self).__qualname__)
            if self._state is State.CONNECTING:
                await self.reject(500)
            else:
                await self.close(CloseCode.INTERNAL_ERROR)

    # The connection's life ------------------------------------------------

    async def dispatch(self) -> None:
        """
        Serve the connection from handshake to close.

        Messages are handled one at a time, in order. A hook runs inline
        until it first suspends; while it is suspended the connection keeps
        reading, so a client that leaves is noticed at once: the hook is
        cancelled, unhandled messages are dropped, and ``disconnect()`` runs.
        """
        self._loop_thread = threading.get_ident()
        key = sessions.session_key(self.request)
        if key is not None:
            sessions.track(self, key)
        connected = False
        try:
            try:
                if not await self._take_user_slot():
                    await self.reject(429)
                    return
                if self.session_recheck_interval is not None:
                    # The baseline: who the session was logged in as at connect.
                    await self.session_valid()
            except Exception as exc:
                await self._exception(exc)
                return
            connected = True
            await self._guarded("connect")
            if self._state is State.CONNECTING:
                logger.warning(
                    "%s.connect() returned without accept() or reject(); "
                    "refusing the handshake.",
                    type(self).__qualname__,
                )
                await self.reject(403)
            if self._state is State.OPEN:
                await self._serve()
        finally:
            self._state = State.CLOSED
            if key is not None:
                sessions.untrack(self, key)
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            if self._session_watch is not None:
                self._session_watch.cancel()
                self._session_watch = None
            if self._reader is not None:
                self._reader.cancel()
                self._reader = None
            self._leave_groups()
            if self._user_slot is not None:
                release_user_slot(self._user_slot)
                self._user_slot = None
            if connected:
                # A plain int: an IntEnum prints as its name on Python 3.10.
                await self._guarded("disconnect", int(self._close_code))

    async def _serve(self) -> None:
        """Read messages and run the message hook on each, in order, until closed."""
        receive = self._receive
        path = self.request.path
        # Everything decided once per connection, nothing per message.
        if "receive" in self._sync_hooks:
            receive_hook: Callable[[Any], Any] = partial(run_in_thread, self.receive)
        else:
            receive_hook = self.receive
        size_limit = self.get_max_message_size()
        quick_size_limit = -1 if size_limit is None else size_limit // 4
        rate = self.get_rate_limit()
        loop_time = self._loop.time
        bucket = None if rate is None else TokenBucket(rate, loop_time())
        idle_timeout = self.get_idle_timeout()
        if idle_timeout is not None:
            self._start_idle_timer(idle_timeout)
        recheck_every_message = self.session_recheck_interval == 0
        if self.session_recheck_interval:
            self._session_watch = asyncio.ensure_future(
                self._watch_session(self.session_recheck_interval)
            )
        checked = bucket is not None or recheck_every_message
        while self._state is State.OPEN:
            if self._pending:
                message = self._pending.popleft()
            elif self._reader is not None:
                reader, self._reader = self._reader, None
                message = await reader
            else:
                message = await receive()
            if message["type"] != "websocket.receive":
                if message["type"] == "websocket.disconnect":
                    if self._state is State.OPEN:
                        self._close_code = message.get("code", CloseCode.NO_STATUS_RCVD)
                    self._state = State.CLOSED
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
                if data is None:
                    data = ""  # a server that sends neither key: an empty frame
            if self._idle_timer is not None:
                self._last_activity = loop_time()
            # Only a message over a quarter of the limit can be over it (text
            # is at most 4 bytes a character): only those are measured.
            if 0 <= quick_size_limit < len(data) and message_size_exceeds(
                data, size_limit or 0
            ):
                logger.warning(
                    "Message over %d bytes on WebSocket %s; closing.", size_limit, path
                )
                await self.close(CloseCode.MESSAGE_TOO_BIG, "Message too big.")
                continue
            if checked:
                if bucket is not None and not bucket.take(loop_time()):
                    await self._guarded("rate_limit_exceeded", data)
                    continue
                if recheck_every_message and not await self._session_checked():
                    continue
            # The hook runs inline, on this task, until it first suspends;
            # only then does it get a task of its own (see _finish()).
            self._sends = 0
            try:
                coro = receive_hook(data)
                try:
                    yielded = coro.send(None)
                except StopIteration:
                    # Hold nothing of this message while waiting for the next.
                    coro = message = data = None
                    continue
                await self._finish(coro, yielded)
            except ConnectionClosed:
                logger.debug("Connection closed during receive() on %s", path)
            except Exception as exc:
                await self._exception(exc)

    async def _session_checked(self) -> bool:
        """Return whether the session is still valid; if not, run session_expired()."""
        try:
            if await self.session_valid():
                return True
        except Exception as exc:
            await self._exception(exc)
            return False
        await self._guarded("session_expired")
        return False

    async def _watch_session(self, interval: float) -> None:
        while self._state is State.OPEN:
            await asyncio.sleep(interval)
            if self._state is State.OPEN and not await self._session_checked():
                return

    def _start_idle_timer(self, timeout: float) -> None:
        self._last_activity = self._loop.time()
        loop = asyncio.get_running_loop()

        def check() -> None:
            idle_for = loop.time() - self._last_activity
            if idle_for < timeout:
                self._idle_timer = loop.call_at(self._last_activity + timeout, check)
                return
            self._idle_timer = None
            if self._state is State.OPEN:
                logger.info(
                    "Closing WebSocket %s, idle for %.1f s.",
                    self.request.path,
                    idle_for,
                )
                self._idle_close = asyncio.ensure_future(
                    self.close(CloseCode.GOING_AWAY, "Idle.")
                )

        self._idle_timer = loop.call_at(self._last_activity + timeout, check)

    async def _finish(self, coro: Any, yielded: Any) -> None:
        """
        Finish a hook that suspended, in a task, reading ahead meanwhile.

        Messages read ahead queue in ``_pending`` (at most READ_AHEAD). A
        disconnect cancels the hook and drops the queued messages.
        """
        hook = asyncio.ensure_future(_resume(coro, yielded))
        if self._pending is None:
            self._pending = collections.deque()
        pending = self._pending
        reader = self._reader
        self._reader = None
        try:
            while not hook.done():
                if reader is None and len(pending) < READ_AHEAD:
                    reader = asyncio.ensure_future(self._receive())
                waiting = {hook} if reader is None else {hook, reader}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if reader is not None and reader.done():
                    message = reader.result()
                    reader = None
                    if message["type"] == "websocket.disconnect":
                        if pending:
                            logger.debug("Dropping %d unhandled messages", len(pending))
                        pending.clear()
                        pending.append(message)
                        hook.cancel()
                        await asyncio.wait({hook})
                        return
                    pending.append(message)
        except asyncio.CancelledError:
            hook.cancel()
            if reader is not None:
                reader.cancel()
                reader = None
            raise
        finally:
            # A read still under way yields the next message in order.
            self._reader = reader
        hook.result()
        thread = connection_thread.get()
        if thread is not None and thread.dirty:  # as in _call()
            await thread.tidy()


class JsonWebSocketView(WebSocketView):
    """
    A :class:`WebSocketView` that speaks JSON in text frames.

    Override :meth:`receive_json`. A text frame that is not valid JSON closes
    the connection with 1007 (invalid payload data); a binary frame closes it
    with 1003 (unsupported data). Both are logged at WARNING; neither raises.
    """

    @classmethod
    def _hook_names(cls) -> tuple[str, ...]:
        return (*HOOKS, "receive_json")

    async def receive(self, message: str | bytes) -> None:
        """Decode a text frame and pass the content to :meth:`receive_json`."""
        if not isinstance(message, str):
            logger.warning(
                "Binary frame on JSON WebSocket %s; closing.", self.request.path
            )
            await self.close(
                CloseCode.UNSUPPORTED_DATA, "Binary frames are not supported."
            )
            return
        try:
            content = self.decode_json(message)
        except ValueError:
            logger.warning(
                "Malformed JSON on WebSocket %s; closing.", self.request.path
            )
            await self.close(CloseCode.INVALID_PAYLOAD, "Malformed JSON.")
            return
        except RecursionError:
            # Thousands of nested arrays: the decoder gives up. The client's
            # fault, not the view's: no traceback, no error report.
            logger.warning(
                "JSON nested too deeply on WebSocket %s; closing.", self.request.path
            )
            await self.close(CloseCode.INVALID_PAYLOAD, "JSON nested too deeply.")
            return
        await self._call("receive_json", content)

    async def receive_json(self, content: Any) -> None:
        """Handle one decoded JSON message."""

    def send_json(self, content: Any) -> Awaitable[None]:
        """Encode ``content`` with :meth:`encode_json` and send it as a text frame."""
        return self.send(self.encode_json(content))

    def decode_json(self, text: str) -> Any:
        """Return the content of a text frame; raise ValueError if malformed."""
        return json.loads(text)

    def encode_json(self, content: Any) -> str:
        """
        Return ``content`` as JSON text.

        Encoded as ``broadcast(json=...)`` encodes, with Django's
        ``DjangoJSONEncoder`` (datetimes, ``Decimal``, ``UUID``, lazy
        strings); an object it cannot encode raises ``TypeError``.
        """
        return jsontext.dumps(content)
