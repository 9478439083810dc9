"""
Signals sent over a WebSocket connection's life.

Connect receivers as to any Django signal::

    from django.dispatch import receiver
    from django_wsviews.signals import connection_closed


    @receiver(connection_closed)
    def log_close(sender, path, code, closed_by, duration, **kwargs):
        logger.info(
            "%s closed by %s with %d after %.1f s", path, closed_by, code, duration
        )

``sender`` is always the view class (``None`` for a handshake no route
matched), so ``connect(receiver, sender=ChatView)`` listens to one view.
Receivers should accept ``**kwargs``, as arguments may be added.

``connection_opened``
    Sent once the handshake is accepted (``websocket.accept`` sent).
    Arguments: ``sender`` (the view class), ``view`` (the view instance),
    ``path`` (``view.request.path``), ``user_id`` (the primary key of the
    authenticated user, or ``None`` for an anonymous one or one not loaded
    yet: it is never queried for).

``connection_closed``
    Sent once for every connection ``connection_opened`` was sent for, at
    the end of its life (after ``disconnect()``), however it ended.
    Arguments: ``sender``, ``view``, ``path``, ``user_id`` as above (the
    user may have been loaded since), ``code`` (the close code, an ``int``),
    ``closed_by`` (a :class:`~django_wsviews.ClosedBy`), ``duration`` (seconds since the
    accept, a ``float``), ``messages_in`` and ``messages_out`` (messages
    received and sent), ``bytes_in`` and ``bytes_out`` (their sizes, see
    :class:`~django_wsviews.metrics.ConnectionStats`).

``handshake_rejected``
    Sent when a handshake is refused, by whatever refused it. Arguments:
    ``sender`` (the view class, or ``None`` when no route matched),
    ``path``, ``status`` (the HTTP status of the refusal, an ``int``: the
    one asked for, even where the server can only answer 403), ``reason``
    (a :class:`~django_wsviews.RejectReason`), ``request`` (the handshake's request, or
    ``None`` when it could not be built).

Receivers run on the connection's behalf, while it waits: plain functions
in the connection's worker thread (so they may use the ORM), ``async``
ones on the event loop (Django 5.0 and later). An exception a receiver
raises is logged by Django on ``django.dispatch`` with its traceback; the
other receivers still run and the connection carries on. With no receiver
connected, nothing is built and nothing waits.

This module imports nothing from Django but ``django.dispatch``, and
touches no setting.
"""

from __future__ import annotations

import enum
from typing import Any

from asgiref.sync import sync_to_async
from django.dispatch import Signal

__all__ = [
    "ClosedBy",
    "RejectReason",
    "connection_closed",
    "connection_opened",
    "handshake_rejected",
]


class ClosedBy(str, enum.Enum):
    """
    Which side ended a connection: ``connection_closed``'s ``closed_by``.

    Members are strings (``ClosedBy.CLIENT == "client"``).
    """

    #: The client closed it: its close frame (its code, or 1005 when it gave
    #: none), or it went away without one (1006).
    CLIENT = "client"

    #: The project's code closed it: ``close()`` or ``close_soon()`` from the
    #: view, its default hooks included (``handle_exception()``,
    #: ``handle_rate_limit_exceeded()``, ``handle_session_expired()``),
    #: ``close_user_sockets()``, or the session's logout (4401).
    VIEW = "view"

    #: django-wsviews closed it on its own: server shutdown (1012), a
    #: message over ``max_message_size`` (1009), the idle timeout (1001),
    #: a full group queue (1013), or the connection's task was cancelled.
    SERVER = "server"


class RejectReason(str, enum.Enum):
    """
    Why a handshake was refused: ``handshake_rejected``'s ``reason``.

    A small, stable set, fit for a metric's label. Members are strings
    (``RejectReason.ORIGIN == "origin"``).
    """

    #: No route of ``ws_urlpatterns`` matched the path (404).
    NOT_FOUND = "not_found"

    #: The handshake request is malformed, e.g. a query string that is not
    #: UTF-8 (400).
    BAD_REQUEST = "bad_request"

    #: The ``Host`` header is not in ``ALLOWED_HOSTS`` (400).
    HOST = "host"

    #: The ``Origin`` is not allowed (403).
    ORIGIN = "origin"

    #: A middleware answered in place of the view (its status: a login
    #: redirect, a 403, ...).
    MIDDLEWARE = "middleware"

    #: An access mixin refused the user (403).
    PERMISSION = "permission"

    #: The user has ``max_connections_per_user`` open already (429).
    TOO_MANY_CONNECTIONS = "too_many_connections"

    #: The view refused it: ``reject()`` or ``close()`` before accept, or
    #: ``connect()`` returned without accepting (a status under 500).
    VIEW = "view"

    #: An exception escaped routing, the middleware or ``connect()`` (500).
    ERROR = "error"


#: Sent once a handshake is accepted; see the module's documentation.
connection_opened = Signal()

#: Sent once an opened connection has ended; see the module's documentation.
connection_closed = Signal()

#: Sent when a handshake is refused; see the module's documentation.
handshake_rejected = Signal()


async def send(signal: Signal, sender: Any, **arguments: Any) -> None:
    """
    Send ``signal`` to its receivers, robustly, from the event loop.

    Sync receivers run through ``sync_to_async`` (in the connection's
    thread), async ones are awaited (Django 5.0 and later). A receiver's
    exception is logged by Django and goes no further.
    """
    asend_robust = getattr(signal, "asend_robust", None)
    if asend_robust is not None:
        await asend_robust(sender, **arguments)
    else:  # Django 4.2: receivers are plain functions
        await sync_to_async(signal.send_robust)(sender, **arguments)
