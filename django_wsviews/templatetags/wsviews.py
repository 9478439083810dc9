"""
Template tags for WebSocket routes.

``{% load wsviews %}`` then ``{% ws_url "chat" room="lobby" %}`` gives the
absolute ``ws://`` or ``wss://`` URL of a route in ``ws_urlpatterns`` for the
current request (``wss`` when the page was served over HTTPS). Like
``{% url %}``, ``{% ws_url ... as var %}`` stores the URL instead.

For the JavaScript client (``django_wsviews/static/django_wsviews/wsviews.js``,
see docs/javascript.rst): ``{% wsviews_js %}`` writes the import map that
lets a page's modules ``import { WsClient } from "wsviews"``, and
``{% ws_route "chat" room="lobby" %}`` writes the route's URL into the page
as data, for ``WsClient.forRoute("chat")``.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ..routing import ws_reverse

register = template.Library()

#: The client's path among the static files.
CLIENT_STATIC_PATH = "django_wsviews/wsviews.js"

#: The module specifier {% wsviews_js %} maps to the client.
CLIENT_MODULE_NAME = "wsviews"

# What json_script() escapes, so that JSON cannot end the <script> it sits in.
_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def ws_absolute_url(request: Any, path: str) -> str:
    """Return the absolute WebSocket URL of ``path`` for ``request``."""
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{path}"


def _route_url(
    tag: str, context: template.Context, viewname: str, args: Any, kwargs: Any
) -> str:
    request = context.get("request")
    if request is None:
        raise ImproperlyConfigured(
            f"{{% {tag} %}} needs the request in the template context: add "
            "'django.template.context_processors.request' to the template "
            "engine's context_processors, or render with a RequestContext."
        )
    path = ws_reverse(viewname, args=args or None, kwargs=kwargs or None)
    return ws_absolute_url(request, path)


@register.simple_tag(takes_context=True)
def ws_url(context: template.Context, viewname: str, *args: Any, **kwargs: Any) -> str:
    """Return the absolute ``ws://``/``wss://`` URL of a WebSocket route."""
    return _route_url("ws_url", context, viewname, args, kwargs)


def _json_for_script(value: Any) -> SafeString:
    """Return ``value`` as JSON that is safe inside a ``<script>`` element."""
    return mark_safe(json.dumps(value).translate(_SCRIPT_ESCAPES))


@register.simple_tag(takes_context=True)
def wsviews_js(context: template.Context) -> SafeString:
    """
    Return the import map that maps ``"wsviews"`` to the JavaScript client.

    The client's URL comes from ``{% static %}`` (so hashed names of
    ``ManifestStaticFilesStorage`` work). Put it in ``<head>``, before any
    module script; a page with an import map of its own adds the same entry
    to it instead. When the context has a ``csp_nonce``, the element carries
    it.
    """
    imports = {"imports": {CLIENT_MODULE_NAME: static(CLIENT_STATIC_PATH)}}
    nonce = context.get("csp_nonce")
    return format_html(
        '<script type="importmap"{}>{}</script>',
        format_html(' nonce="{}"', nonce) if nonce else "",
        _json_for_script(imports),
    )


@register.simple_tag(takes_context=True)
def ws_route(
    context: template.Context, viewname: str, *args: Any, **kwargs: Any
) -> SafeString:
    """
    Return a JSON data element holding the absolute URL of a WebSocket route.

    ``WsClient.forRoute(viewname)`` in the page reads it. The URL is the one
    ``{% ws_url %}`` gives, with the same arguments and the same need for the
    request in the context. A data element is not a script: it runs nothing
    and needs no CSP nonce.
    """
    url = _route_url("ws_route", context, viewname, args, kwargs)
    return format_html(
        '<script type="application/json" data-wsviews-route="{}">{}</script>',
        viewname,
        _json_for_script({"url": url}),
    )
