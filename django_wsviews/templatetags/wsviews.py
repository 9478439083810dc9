"""
Template tags for WebSocket routes.

``{% load wsviews %}`` then ``{% ws_url "chat" room="lobby" %}`` gives the
absolute ``ws://`` or ``wss://`` URL of a route in ``ws_urlpatterns`` for the
current request (``wss`` when the page was served over HTTPS). Like
``{% url %}``, ``{% ws_url ... as var %}`` stores the URL instead.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import ImproperlyConfigured

from ..routing import ws_reverse

register = template.Library()


def ws_absolute_url(request: Any, path: str) -> str:
    """Return the absolute WebSocket URL of ``path`` for ``request``."""
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{path}"


@register.simple_tag(takes_context=True)
def ws_url(context: template.Context, viewname: str, *args: Any, **kwargs: Any) -> str:
    """Return the absolute ``ws://``/``wss://`` URL of a WebSocket route."""
    request = context.get("request")
    if request is None:
        raise ImproperlyConfigured(
            "{% ws_url %} needs the request in the template context: add "
            "'django.template.context_processors.request' to the template "
            "engine's context_processors, or render with a RequestContext."
        )
    path = ws_reverse(viewname, args=args or None, kwargs=kwargs or None)
    return ws_absolute_url(request, path)
