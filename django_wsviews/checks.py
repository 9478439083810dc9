"""
System checks for WebSocket routes.

- ``django_wsviews.E001``: a WebSocketView class is routed without ``.as_view()``.
- ``django_wsviews.E002``: something other than a WebSocketView is routed in
  ``ws_urlpatterns``.
- ``django_wsviews.E003``: a WebSocketView is routed in the HTTP ``urlpatterns``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.urls import URLPattern, URLResolver, get_resolver

from .routing import get_ws_resolver
from .views import WebSocketView

__all__ = ["check_http_urlpatterns", "check_ws_urlpatterns"]


def _endpoints(
    patterns: Iterable[Any], prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _endpoints(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _is_view_class(callback: Any) -> bool:
    return isinstance(callback, type) and issubclass(callback, WebSocketView)


def _is_ws_view(callback: Any) -> bool:
    view_class = getattr(callback, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, WebSocketView)


@register(Tags.urls)
def check_ws_urlpatterns(**kwargs: Any) -> list[CheckMessage]:
    """Check that every route in ``ws_urlpatterns`` is a WebSocket view's ``as_view()``."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    errors: list[CheckMessage] = []
    for route, pattern in _endpoints(get_ws_resolver().url_patterns):
        callback = pattern.callback
        if _is_view_class(callback):
            errors.append(
                Error(
                    f"The WebSocket route '{route}' is given the class "
                    f"{callback.__name__}, not a view.",
                    hint=f"Route {callback.__name__}.as_view() instead.",
                    obj=pattern,
                    id="django_wsviews.E001",
                )
            )
        elif not _is_ws_view(callback):
            errors.append(
                Error(
                    f"The WebSocket route '{route}' is given {callback!r}, which "
                    "is not a WebSocketView.",
                    hint=(
                        "Only WebSocketView subclasses' as_view() can serve "
                        "WebSockets; route HTTP views in urlpatterns."
                    ),
                    obj=pattern,
                    id="django_wsviews.E002",
                )
            )
    return errors


@register(Tags.urls)
def check_http_urlpatterns(**kwargs: Any) -> list[CheckMessage]:
    """Check that no WebSocket view is routed in the HTTP ``urlpatterns``."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    errors: list[CheckMessage] = []
    for route, pattern in _endpoints(get_resolver().url_patterns):
        callback = pattern.callback
        if _is_ws_view(callback) or _is_view_class(callback):
            errors.append(
                Error(
                    f"The HTTP route '{route}' is given the WebSocket view "
                    f"{getattr(callback, 'view_class', callback).__name__}.",
                    hint="Move the route to ws_urlpatterns, beside urlpatterns.",
                    obj=pattern,
                    id="django_wsviews.E003",
                )
            )
    return errors
