"""
The handshake as a Django request: through the project's middleware.

A WebSocket handshake is an HTTP GET, so it runs through
``WSVIEWS_MIDDLEWARE`` (``MIDDLEWARE`` by default) like any request:
sessions, authentication, locale and custom middleware all apply to
``view.request``. The chain is built in synchronous mode and paid for once:

- When every middleware is one known to do no I/O on a handshake
  (``WSVIEWS_INLINE_MIDDLEWARE``: by default Django's own, which leave the
  session and the user lazy), the chain runs on the event loop, with no
  thread at all. Django's async-safety guard still stands: a middleware that
  touched the database there would fail the handshake with 500, loudly.
- Otherwise it runs in one worker-thread call per handshake, on a pooled
  thread, rather than one thread hop per middleware method.

At its centre, in place of the view, the handshake checks the ``Host``
(``ALLOWED_HOSTS``) and the ``Origin``, then runs the view middleware
(``process_view``) with the WebSocket view's callable. A response from any of
them refuses the handshake with its status; otherwise the chain returns a
:class:`Proceed` response, whose headers and cookies (a refreshed session
cookie, say) go out with ``websocket.accept``.
"""

from __future__ import annotations

import contextvars
import functools
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    ImproperlyConfigured,
    MiddlewareNotUsed,
)
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import (
    convert_exception_to_response,
    response_for_exception,
)
from django.http import HttpResponse, HttpResponseBase, HttpResponseForbidden
from django.urls import ResolverMatch, set_urlconf
from django.utils.log import log_response
from django.utils.module_loading import import_string

from . import conf
from .db import run_sync
from .log import get_logger
from .origins import origin_allowed
from .responses import response_headers
from .signals import RejectReason

if TYPE_CHECKING:
    from .request import WebSocketRequest
    from .views import WebSocketView

__all__ = ["HandshakeHandler", "Proceed", "origin_permitted"]

logger = get_logger("django_wsviews.handshake")
security_logger = get_logger("django_wsviews.security")

# Headers of the handshake response that make no sense on a 101 answer.
_SKIPPED_HEADERS = frozenset(
    {"content-type", "content-length", "connection", "upgrade"}
)


class Proceed(HttpResponse):
    """The response the chain returns when the handshake may go on to the view."""

    status_code = 101


#: The view whose handshake the chain is running (the chain's centre needs it).
_serving: contextvars.ContextVar[WebSocketView] = contextvars.ContextVar(
    "django_wsviews_handshake_view"
)


def origin_permitted(view: WebSocketView) -> bool:
    """
    Return whether the handshake's ``Origin`` may open a socket to ``view``.

    Runs before any view code. The view's ``check_origin`` (else
    ``WSVIEWS_CHECK_ORIGIN``) turns the check off; a handshake without
    ``Origin`` (not from a browser) is allowed unless
    ``WSVIEWS_ALLOW_MISSING_ORIGIN`` is False; otherwise the origin must be
    the site's own, trusted by ``CSRF_TRUSTED_ORIGINS`` or listed by
    ``view.get_allowed_origins()`` (see :mod:`django_wsviews.origins`).
    """
    check = view.check_origin
    if check is None:
        check = conf.settings.WSVIEWS_CHECK_ORIGIN
    if not check:
        return True
    request = view.request
    if "HTTP_ORIGIN" not in request.META:
        return conf.settings.WSVIEWS_ALLOW_MISSING_ORIGIN
    return origin_allowed(request, view.get_allowed_origins())


@functools.cache
def _shared_proceed() -> Proceed:
    """
    Return the one :class:`Proceed` shared by handshakes that no middleware saw.

    Made on first use, not at import: building a response reads
    ``DEFAULT_CHARSET``, and this module must import before settings are
    configured (``asgi.py`` imports it before setting
    ``DJANGO_SETTINGS_MODULE``).
    """
    return Proceed()


class HandshakeHandler(BaseHandler):
    """Run handshakes through the project's middleware."""

    def __init__(self) -> None:
        super().__init__()
        self.load_middleware()

    def load_middleware(self, is_async: bool = False) -> None:
        """
        Build the synchronous middleware chain from ``WSVIEWS_MIDDLEWARE``.

        This mirrors :meth:`BaseHandler.load_middleware` for a synchronous
        chain, reading the WebSocket middleware list instead of ``MIDDLEWARE``.
        """
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        paths = conf.settings.WSVIEWS_MIDDLEWARE
        handler: Any = convert_exception_to_response(cast(Any, self._get_response))
        handler_is_async = False
        for path in reversed(paths):
            middleware = import_string(path)
            is_async_only = not getattr(middleware, "sync_capable", True)
            try:
                adapted = self.adapt_method_mode(
                    is_async_only, handler, handler_is_async, name=f"middleware {path}"
                )
                instance = middleware(adapted)
            except MiddlewareNotUsed:
                continue
            handler = adapted
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(
                    0, self.adapt_method_mode(False, instance.process_view)
                )
            handler = convert_exception_to_response(instance)
            handler_is_async = is_async_only
        self._middleware = bool(paths)
        self._middleware_chain = self.adapt_method_mode(
            False, handler, handler_is_async
        )
        inline_safe = conf.settings.WSVIEWS_INLINE_MIDDLEWARE
        self.inline = (
            all(path in inline_safe for path in paths)
            # These make the session middleware read or write the session store.
            and not getattr(settings, "CSRF_USE_SESSIONS", False)
            and not getattr(settings, "SESSION_SAVE_EVERY_REQUEST", False)
        )

    async def handshake(
        self, request: WebSocketRequest, view: WebSocketView
    ) -> HttpResponseBase:
        """
        Run the handshake of ``view`` through the chain and return its response.

        :class:`Proceed` means go on to the view's ``connect()``; any other
        response refuses the handshake. Unexpected errors become 500
        responses, as for any request.
        """
        token = _serving.set(view)
        try:
            if self.inline:
                return self._run_chain(request)
            # The worker thread runs in a copy of this context: it sees the view.
            return await run_sync(self._run_chain, request)
        finally:
            _serving.reset(token)

    def _run_chain(self, request: WebSocketRequest) -> HttpResponseBase:
        try:
            # Before the middleware, which would turn it into an anonymous 400.
            request.get_host()
        except DisallowedHost as exc:  # 400, logged, as for any request
            refused = response_for_exception(request, exc)
            refused.wsviews_reject_reason = RejectReason.HOST  # type: ignore[attr-defined]
            return refused
        if self._middleware:
            set_urlconf(conf.settings.ROOT_URLCONF)
        response = cast(HttpResponseBase, self._middleware_chain(request))
        if response.status_code >= 400:
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=cast(Any, response),
                request=request,
            )
        return response

    def _get_response(self, request: WebSocketRequest) -> HttpResponseBase:
        view = _serving.get()
        if not origin_permitted(view):
            response = HttpResponseForbidden("Origin not allowed.\n")
            response.wsviews_reject_reason = RejectReason.ORIGIN  # type: ignore[attr-defined]
            log_response(
                "Forbidden (WebSocket origin %r not allowed): %s. Allow it in "
                "WSVIEWS_ALLOWED_ORIGINS or CSRF_TRUSTED_ORIGINS, or in the "
                "view's allowed_origins.",
                request.META.get("HTTP_ORIGIN"),
                request.path,
                response=response,
                request=request,
                logger=security_logger,
            )
            return response
        if self._view_middleware:
            match: ResolverMatch = request.resolver_match  # type: ignore[assignment]
            for process_view in self._view_middleware:
                response = process_view(request, match.func, match.args, match.kwargs)
                if response is not None:
                    return cast(HttpResponseBase, response)
        # With no middleware to add headers to it, one shared answer will do.
        return Proceed() if self._middleware else _shared_proceed()

    @staticmethod
    def accept_headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
        """Return the headers middleware added that belong on ``websocket.accept``."""
        if response is _shared_proceed():
            return []
        return [
            (name, value)
            for name, value in response_headers(response)
            if name.lower().decode("latin-1") not in _SKIPPED_HEADERS
        ]
