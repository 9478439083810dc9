"""
Class-based WebSocket views.

A :class:`WebSocketView` is to a WebSocket connection what a
:class:`django.views.View` is to a request: routed by the URLconf (in
``ws_urlpatterns``), built by ``as_view()``, one instance per connection. The
hooks are ``connect()``, ``receive(message)`` and ``disconnect(code)``.

This module is the view's API: its attributes, ``get_*()`` resolvers, hooks
and actions. How a connection runs (its tasks, limits, order and teardown) is
:mod:`django_wsviews.lifecycle`'s; how a hook is called,
:mod:`django_wsviews.hooks`'.

Failure policy: an exception escaping a hook is passed to
:meth:`WebSocketView.handle_exception`, which by default logs it with its
traceback on the ``django_wsviews`` logger, sends Django's
``got_request_exception`` signal, then refuses the handshake with 500 (before
accept) or closes with 1011 (after). ``disconnect()`` runs exactly once for
every connection whose ``connect()`` was called, however the connection ends.
"""

from __future__ import annotations

import contextvars
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.decorators import classonlymethod

from . import conf
from .auth import aload_user, loaded_user
from .connection import State, WebSocketConnection
from .envelope import GroupMessage
from .exceptions import ConnectionClosed, InvalidState
from .groups import validate_group_name
from .hooks import fail_by_default
from .lifecycle import Lifecycle
from .limits import Limits
from .log import get_logger
from .request import WebSocketRequest
from .responses import view_callable
from .status import CloseCode

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

__all__ = ["WebSocketView"]

logger = get_logger("django_wsviews")


class WebSocketView(WebSocketConnection):
    """
    A WebSocket endpoint, routed in ``ws_urlpatterns`` with :meth:`as_view`.

    Override the hooks; each may be ``async def`` or a plain ``def`` (a plain
    hook runs in a worker thread, with database connections handled as for a
    request, and may call :meth:`send`, :meth:`close` and the rest without
    ``await``). A connection's hooks run one at a time, in the order their
    causes arrived.
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

    #: This view's limits: message size and rate, idleness, connections per
    #: user, groups per connection, how often the session is re-read. A field left ``None`` follows the
    #: project's setting; see :class:`~django_wsviews.limits.Limits`.
    limits: ClassVar[Limits] = Limits()

    #: Groups every connection joins on accept; see get_group_names().
    group_names: ClassVar[Sequence[str]] = ()

    #: Whether a connection joins its user's group on accept, for
    #: ``send_to_user()`` and ``close_user_sockets()``: ``None`` (the default)
    #: if the user is authenticated and already loaded (never queries),
    #: ``True`` loading the user if needed, ``False`` never.
    user_group: ClassVar[bool | None] = None

    #: Groups every connection is present in, and joins, on accept; see
    #: get_presence_groups() and :doc:`presence`.
    presence_groups: ClassVar[Sequence[str]] = ()

    #: The group with history that a reconnecting client resumes; see
    #: get_history_group() and :doc:`history`. ``None`` (the default): the
    #: first of get_group_names() that keeps history.
    history_group: ClassVar[str | None] = None

    #: Whether receive_group() may run while another hook of the connection
    #: runs (a slow ``receive()``, say). Off by default: hooks never overlap,
    #: and group messages wait, in the queue of WSVIEWS_SEND_QUEUE_SIZE, for
    #: the hook running now.
    receive_group_concurrently: ClassVar[bool] = False

    # Set by dispatch(): the runtime serving this connection.
    _lifecycle: Lifecycle | None = None
    _connection_id: str | None = None

    request: WebSocketRequest
    scope: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        """Set the keyword arguments given to :meth:`as_view` on the instance."""
        for key, value in kwargs.items():
            setattr(self, key, value)

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
            if inspect.isroutine(getattr(cls, key)) or isinstance(
                getattr(cls, key), property
            ):
                raise TypeError(
                    f"The method name {key!r} is not accepted as a keyword "
                    f"argument to {cls.__name__}.as_view(): override the method "
                    "in a subclass instead."
                )
        return view_callable(cls, initkwargs)

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

    async def dispatch(self) -> None:
        """
        Serve the connection from the end of the handshake to its close.

        Admit it (the user's connection limit, the session), run
        ``connect()``, then the receive hook on each message, in order, until
        either side closes; ``disconnect()`` runs once at the end. See
        :mod:`django_wsviews.lifecycle` for who runs what, and when.
        """
        async with Lifecycle(self) as life:
            if await life.admit():
                await life.connect()
                await life.serve()

    def _lifecycle_or_raise(self) -> Lifecycle:
        if self._lifecycle is None:
            raise InvalidState(
                "This view is not serving a connection: join() and leave() "
                "work from its hooks."
            )
        return self._lifecycle

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
        report the error to the client and keep the connection open. (Under
        the test client, an exception that reaches this default is raised in
        the test too: see :mod:`django_wsviews.testing`.)
        """
        await fail_by_default(self, exc)

    # Handshake checks -------------------------------------------------------

    def get_allowed_origins(self) -> list[str]:
        """Return the origins allowed besides the site's own and CSRF's trusted ones."""
        return [*conf.settings.WSVIEWS_ALLOWED_ORIGINS, *self.allowed_origins]

    # Limits -----------------------------------------------------------------

    def get_limits(self) -> Limits:
        """
        Return this connection's limits: ``limits``, with the project's settings where it says None.

        Called once per connection, before ``connect()``, on the event loop.
        Override to vary them per user, e.g. ``dataclasses.replace(
        super().get_limits(), rate=None)`` for staff: an override is called
        with the user already loaded, so reading ``self.request.user`` makes
        no query.
        """
        return conf.settings.resolve_limits(self.limits)

    async def _resolve_limits(self) -> Limits:
        if type(self).get_limits is not WebSocketView.get_limits:
            await aload_user(self.request)  # an override may read request.user
        return self.get_limits()

    async def handle_rate_limit_exceeded(self, message: str | bytes) -> None:
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

    async def handle_session_expired(self) -> None:
        """
        Handle a session that has ended or changed user; the default closes with 4401.

        Called only for a connection whose limits re-read the session (the
        ``session_recheck_interval`` of :class:`~django_wsviews.limits.Limits`).
        """
        await self.close(CloseCode.UNAUTHORIZED, "Session ended.")

    # Actions ----------------------------------------------------------------

    def select_subprotocol(self) -> str | None:
        """
        Return the subprotocol to accept: the first one the client offered that ``subprotocols`` lists.

        None when there is none. Override to choose otherwise; the answer
        must be one the client offered.
        """
        supported = self.subprotocols
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

    def get_presence_groups(self) -> Sequence[str]:
        """
        Return the groups this connection is present in (``presence_groups`` by default).

        They are joined on accept with get_group_names(); the connection is
        listed by ``presence()`` there, and their members hear of its
        arrival and departure (see :doc:`presence`). Runs on the event
        loop: no database queries here.
        """
        return self.presence_groups

    def get_history_group(self) -> str | None:
        """
        Return the group a reconnecting client resumes (``history_group`` by default).

        It must be one of get_group_names() and keep history
        (``WSVIEWS_HISTORY``). ``None``: the first of get_group_names() that
        keeps history. Runs on the event loop: no database queries here.
        """
        return self.history_group

    def get_presence_meta(self) -> Mapping[str, Any]:
        """
        Return this connection's presence metadata: a small dict of JSON types.

        By default ``{"user_id": <pk>, "username": <username>}`` for an
        authenticated user, ``{}`` otherwise. Runs once, on the event loop,
        after the user is loaded; a value that is not a dict, not JSON, or
        over 4096 bytes refuses the handshake with 500.
        """
        user = loaded_user(self.request)
        if user is None or not getattr(user, "is_authenticated", False):
            return {}
        return {"user_id": user.pk, "username": user.get_username()}

    @property
    def connection_id(self) -> str:
        """Return a random id of this connection, e.g. for ``abroadcast(sender=...)``."""
        if self._connection_id is None:
            self._connection_id = uuid.uuid4().hex
        return self._connection_id

    @property
    def joined_groups(self) -> frozenset[str]:
        """Return the groups this connection is a member of now."""
        membership = self._lifecycle.membership if self._lifecycle else None
        return frozenset(() if membership is None else membership.groups)

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
        would be in more than the limit of groups per connection;
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
        membership = self._lifecycle_or_raise().get_membership()
        await membership.join(groups)
        if self._state is State.OPEN:
            membership.start()

    def leave(self, *groups: str) -> Awaitable[None]:
        """Leave ``groups``; skip those this connection is not in."""
        return self._run(self._leave(groups))

    async def _leave(self, groups: Sequence[str]) -> None:
        membership = self._lifecycle.membership if self._lifecycle else None
        if membership is not None:
            membership.leave(groups)

    async def receive_group(self, message: GroupMessage) -> None:
        """
        Handle a message broadcast to a group this connection joined.

        The default sends ``message.data`` to the client unchanged (text as
        text, bytes as bytes). Override to filter, transform or drop, e.g.
        ``if message.sender == self.connection_id: return`` to skip your own
        broadcasts. Messages come one at a time, in order, and never while
        another hook of the connection runs (unless the view sets
        ``receive_group_concurrently``); an exception goes to
        handle_exception().

        Messages wait in a queue of at most ``WSVIEWS_SEND_QUEUE_SIZE`` (100).
        When it is full, the client being too slow, ``WSVIEWS_SEND_QUEUE_OVERFLOW``
        applies: by default the connection is closed with 1013 (try again
        later) and a warning logged; ``"drop_oldest"`` and ``"drop_newest"``
        drop messages instead. Other connections are never delayed.
        """
        await self.send(message.data)
