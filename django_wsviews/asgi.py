"""
The ASGI entry point: WebSocket connections for django-wsviews, HTTP for Django.

``asgi.py`` of a project::

    from django_wsviews.asgi import get_asgi_application

    application = get_asgi_application()

or, wrapping an application that already exists::

    application = WebSocketMiddleware(django.core.asgi.get_asgi_application())

HTTP requests go to the wrapped application untouched
(``get_asgi_application()`` serves ``STATIC_URL`` first when ``DEBUG`` is
on, as ``runserver`` does). ``websocket`` connections are routed by
``ws_urlpatterns`` and served by WebSocket views.
``lifespan`` is answered here (Django's handler refuses it): startup runs the
system checks (ASGI servers do not) and connects the group backend; on
shutdown every open WebSocket is closed with 1012 (service restart, which
tells clients to reconnect) and its ``disconnect()`` runs, then the group
backend is closed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import setting_changed
from django.http import HttpResponseNotFound
from django.urls import Resolver404, set_script_prefix
from django.utils.log import log_response
from django.utils.module_loading import import_string

from . import checks, conf, groups, metrics, presence_tracker
from .connection import State
from .db import connection_context
from .handshake import HandshakeHandler, Proceed
from .log import get_logger
from .request import WebSocketRequest, get_script_prefix
from .responses import deny, response_headers
from .routing import CachedMatch, resolve_cached
from .signals import ClosedBy, RejectReason
from .staticfiles import DebugStaticFilesHandler
from .status import CloseCode
from .views import WebSocketView

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

__all__ = ["WebSocketMiddleware", "get_asgi_application", "project_application"]

logger = get_logger("django_wsviews")

ASGIApp = Any


class WebSocketMiddleware:
    """
    ASGI middleware that serves WebSocket views and passes HTTP on.

    ``app`` is the ASGI application for everything else, normally Django's
    own (``django.core.asgi.get_asgi_application()``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._handler: HandshakeHandler | None = None
        self._connections: dict[asyncio.Task[Any], WebSocketView | None] = {}
        setting_changed.connect(self._setting_changed, weak=True)

    async def __call__(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        if kind == "http":
            return await self.app(scope, receive, send)  # type: ignore[no-any-return]
        if kind == "websocket":
            return await self.websocket(scope, receive, send)
        if kind == "lifespan":
            return await self.lifespan(scope, receive, send)
        return await self.app(scope, receive, send)  # type: ignore[no-any-return]

    @property
    def handler(self) -> HandshakeHandler:
        """Return the handshake handler, building the middleware chain on first use."""
        if self._handler is None:
            self._handler = HandshakeHandler()
        return self._handler

    def _setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting in ("MIDDLEWARE", "WSVIEWS_MIDDLEWARE"):
            self._handler = None

    # WebSocket --------------------------------------------------------------

    async def websocket(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Serve one WebSocket connection, from handshake to close."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left before the handshake began
        task = cast("asyncio.Task[Any]", asyncio.current_task())
        self._connections[task] = None
        try:
            # The connection's worker thread, and its database connections.
            async with connection_context():
                view = await self._handshake(scope, receive, send)
                if view is not None:
                    self._connections[task] = view
                    try:
                        await view.dispatch()
                    finally:
                        # After disconnect(): the one place every connection ends.
                        await metrics.connection_closed(
                            view, view._stats, int(view._close_code)
                        )
        finally:
            del self._connections[task]

    async def _handshake(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> WebSocketView | None:
        """
        Route the handshake and run it through the middleware.

        Return the view to serve the connection, or None once the handshake
        has been refused. (A function of its own, so that nothing it made
        along the way stays referenced while the connection lives.)
        """
        prefix = get_script_prefix(scope)
        if prefix:  # otherwise Django's default, "/", stands
            set_script_prefix(prefix)
        try:
            request = WebSocketRequest(scope)
            resolved = resolve_cached(request.path_info, conf.settings.ROOT_URLCONF)
        except UnicodeDecodeError:
            # A query string that is not UTF-8: Django answers 400 for HTTP too.
            logger.warning(
                "Bad request (query string not UTF-8): %s", scope.get("path")
            )
            await deny(scope, send, 400)
            await metrics.handshake_rejected(
                None, scope["path"], 400, RejectReason.BAD_REQUEST
            )
            return None
        except Resolver404:
            log_response(
                "Not Found: %s",
                scope["path"],
                response=HttpResponseNotFound(),
                request=None,
            )
            await deny(
                scope,
                send,
                404,
                [(b"content-type", b"text/plain; charset=utf-8")],
                b"Not Found\n",
            )
            await metrics.handshake_rejected(
                None, scope["path"], 404, RejectReason.NOT_FOUND, request
            )
            return None
        except Exception:
            logger.exception("Error routing WebSocket %s", scope.get("path"))
            await deny(scope, send, 500)
            await metrics.handshake_rejected(
                None, scope["path"], 500, RejectReason.ERROR
            )
            return None
        if isinstance(resolved, CachedMatch):
            match = resolved.match  # read, never changed
            request.share_resolver_match(resolved)
        else:
            match = request.resolver_match = resolved
        view_class = getattr(match.func, "view_class", None)
        if not (isinstance(view_class, type) and issubclass(view_class, WebSocketView)):
            logger.error(
                "%r is routed in ws_urlpatterns at %s but is not a WebSocketView's "
                "as_view(); refusing the handshake.",
                match.func,
                request.path,
            )
            await deny(scope, send, 500)
            await metrics.handshake_rejected(
                None, scope["path"], 500, RejectReason.ERROR, request
            )
            return None
        view = view_class(**match.func.view_initkwargs)  # type: ignore[attr-defined]
        view.setup(request, receive, send, *match.args, **match.kwargs)

        response = await self.handler.handshake(request, view)
        if not isinstance(response, Proceed):
            body = b"" if response.streaming else response.content  # type: ignore[attr-defined]
            status = response.status_code
            reason = getattr(response, "wsviews_reject_reason", None)
            if reason is None:
                reason = (
                    RejectReason.ERROR if status >= 500 else RejectReason.MIDDLEWARE
                )
            await view._reject(status, response_headers(response), body, reason)
            return None
        view._accept_headers = self.handler.accept_headers(response)
        return view

    # Lifespan ---------------------------------------------------------------

    async def lifespan(
        self, scope: Any, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """Answer the ASGI lifespan protocol."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("django-wsviews failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    logger.exception("django-wsviews failed to shut down cleanly")
                    await send(
                        {"type": "lifespan.shutdown.failed", "message": str(exc)}
                    )
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """
        Prepare to serve: run the checks, build the middleware chain, connect the group backend.

        ASGI servers run no system checks, so django-wsviews' run here (see
        :func:`~django_wsviews.checks.check_at_startup`): a setting that cannot
        work raises ImproperlyConfigured naming the fix, and startup fails;
        routing errors and warnings are logged.
        """
        await sync_to_async(checks.check_at_startup)()
        self.handler  # noqa: B018  (load the middleware now, not on the first handshake)
        await groups.startup()

    async def shutdown(self) -> None:
        """
        Close every open WebSocket with 1012 (service restart) and wait for them.

        Each connection's ``disconnect()`` runs. Connections still running
        after ``WSVIEWS_SHUTDOWN_TIMEOUT`` seconds are cancelled. Then the
        group backend is closed.
        """
        # The closes run beside the connections, under the same timeout: a
        # server may never complete the send of a close (granian, when its own
        # shutdown has dropped the connection meanwhile).
        closing = {
            asyncio.ensure_future(_close_at_shutdown(view))
            for view in list(self._connections.values())
            if view is not None and view.state is State.OPEN
        }
        tasks = set(self._connections) | closing
        if tasks:
            _, pending = await asyncio.wait(
                tasks, timeout=conf.settings.WSVIEWS_SHUTDOWN_TIMEOUT
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await presence_tracker.shutdown()  # its leaves go out through the groups
        await groups.shutdown()


async def _close_at_shutdown(view: WebSocketView) -> None:
    try:
        await view._close(CloseCode.SERVICE_RESTART, "", ClosedBy.SERVER)
    except Exception:  # the connection is going anyway
        logger.debug("Error closing a WebSocket at shutdown", exc_info=True)


def get_asgi_application() -> WebSocketMiddleware:
    """
    Return the project's ASGI application: Django for HTTP, WebSocket views for WebSockets.

    The counterpart of :func:`django.core.asgi.get_asgi_application`: it sets
    Django up the same way, then wraps Django's handler in
    :class:`WebSocketMiddleware`. In development (``DEBUG`` on and
    ``django.contrib.staticfiles`` installed) it also serves ``STATIC_URL``
    from the staticfiles finders, as ``runserver`` does (see
    :class:`~django_wsviews.staticfiles.DebugStaticFilesHandler`).
    """
    django.setup(set_prefix=False)
    return WebSocketMiddleware(DebugStaticFilesHandler(ASGIHandler()))


def project_application() -> Any:
    """
    Return the project's ASGI application: ``settings.ASGI_APPLICATION``, else ours.

    ``ASGI_APPLICATION`` is a dotted path, as Django's ``runserver`` and
    Channels read it; without it, :func:`get_asgi_application`. What
    ``runserver`` and the live test server serve. Raise
    ``ImproperlyConfigured`` naming the fix when the path cannot be imported.
    """
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return get_asgi_application()
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"ASGI_APPLICATION {path!r} cannot be imported ({exc}). Set it to "
            "the dotted path of the application in asgi.py, e.g. "
            "'mysite.asgi.application', or remove it to serve "
            "django_wsviews.asgi.get_asgi_application()."
        ) from exc
