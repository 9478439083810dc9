"""
Static files in development, served by the ASGI application as ``runserver`` serves them.

Django's ``runserver`` answers requests under ``STATIC_URL`` with the files
the staticfiles finders find (no ``collectstatic`` needed) when ``DEBUG`` is
on; an ASGI server started on ``asgi.py`` (``uvicorn --reload``) does not,
so ``/static/`` is 404 and the admin loses its CSS.
:func:`~django_wsviews.asgi.get_asgi_application` therefore puts
:class:`DebugStaticFilesHandler` in front of Django's handler: when
``django.contrib.staticfiles`` is installed and ``DEBUG`` is on, an HTTP
request under ``STATIC_URL`` is served from the finders; every other scope
goes to the wrapped application untouched. With ``DEBUG`` off it serves
nothing: in production, serve collected files with the web server or
WhiteNoise.

The decision is made per request, from the settings of the moment, so
``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = ["DebugStaticFilesHandler"]


class DebugStaticFilesHandler(ASGIStaticFilesHandler):
    """
    Serve ``STATIC_URL`` from the staticfiles finders in development; pass the rest on.

    Django's ``ASGIStaticFilesHandler`` (it serves the files), deciding per
    request whether to: only HTTP requests whose path is under ``STATIC_URL``
    (a path, not a URL with a host), only when ``django.contrib.staticfiles``
    is installed and ``STATIC_URL`` is set, and only when ``DEBUG`` is on or
    the handler was made with ``insecure=True`` (``runserver --insecure``).
    A missing file is a 404 from Django's static ``serve()`` view.
    """

    #: False in a process whose ``manage.py runserver`` was given
    #: ``--nostatic``: then no handler serves anything, including the one
    #: ``get_asgi_application()`` made.
    enabled: ClassVar[bool] = True

    def __init__(self, application: Any, *, insecure: bool = False) -> None:
        # Django's __init__ reads STATIC_URL now; this handler reads it per request.
        self.application = application
        self.insecure = insecure

    def serves(self) -> bool:
        """Return whether requests under ``STATIC_URL`` are served now."""
        return (
            self.enabled
            and (self.insecure or settings.DEBUG)
            and bool(getattr(settings, "STATIC_URL", None))
            and apps.is_installed("django.contrib.staticfiles")
        )

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        """Serve a static file, or hand the scope to the wrapped application."""
        if scope["type"] == "http" and self.serves():
            # Django's handler serves the paths under base_url and hands on
            # the others; STATIC_URL may have changed since the last request.
            self.base_url = urlparse(self.get_base_url())
            return await super().__call__(scope, receive, send)
        return await self.application(scope, receive, send)
