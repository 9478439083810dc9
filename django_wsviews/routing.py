"""
Routing for WebSocket views, done by Django's own URL resolver.

A project lists its WebSocket routes in ``ws_urlpatterns`` beside
``urlpatterns`` in its ``ROOT_URLCONF``. This module presents that list to
Django as a URLconf of its own, so resolving, reversing, converters,
``include()`` and namespaces all behave exactly as they do for HTTP. An
``include("app.urls")`` inside ``ws_urlpatterns`` reads that module's
``ws_urlpatterns``; ``include([...])`` takes the list as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from importlib import import_module
from typing import Any, cast

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import (
    NoReverseMatch,
    ResolverMatch,
    URLPattern,
    URLResolver,
    get_resolver,
    get_urlconf,
)
from django.urls import reverse as django_reverse

__all__ = [
    "WS_URLPATTERNS_ATTRIBUTE",
    "WebSocketURLConf",
    "clear_ws_url_caches",
    "get_ws_resolver",
    "get_ws_urlconf",
    "ws_resolve",
    "ws_reverse",
]

WS_URLPATTERNS_ATTRIBUTE = "ws_urlpatterns"


class WebSocketURLConf:
    """
    A URLconf whose ``urlpatterns`` are another URLconf's ``ws_urlpatterns``.

    ``urlconf`` is a dotted module path, a module, or a list of patterns (from
    ``include([...])``). Nested ``include()`` resolvers are rebuilt to point at
    a ``WebSocketURLConf`` of their own, so inclusion follows
    ``ws_urlpatterns`` all the way down.
    """

    def __init__(self, urlconf: Any) -> None:
        self.urlconf = urlconf

    def __repr__(self) -> str:
        return f"<WebSocketURLConf {self.urlconf!r}>"

    @cached_property
    def module(self) -> Any:
        """Return the URLconf module (imported on first use), or the list."""
        if isinstance(self.urlconf, str):
            return import_module(self.urlconf)
        return self.urlconf

    @cached_property
    def urlpatterns(self) -> list[URLPattern | URLResolver]:
        """Return the WebSocket patterns, nested includes adapted."""
        module = self.module
        if isinstance(module, (list, tuple)):
            patterns: Sequence[Any] = module
        else:
            patterns = getattr(module, WS_URLPATTERNS_ATTRIBUTE, ())
        return [_adapt(pattern) for pattern in patterns]


def _adapt(pattern: Any) -> Any:
    if isinstance(pattern, URLResolver) and not isinstance(
        pattern.urlconf_name, WebSocketURLConf
    ):
        return URLResolver(
            pattern.pattern,
            cast(Any, WebSocketURLConf(pattern.urlconf_name)),
            pattern.default_kwargs,
            pattern.app_name,
            pattern.namespace,
        )
    return pattern


_urlconfs: dict[Any, WebSocketURLConf] = {}


def get_ws_urlconf(urlconf: Any = None) -> WebSocketURLConf:
    """
    Return the :class:`WebSocketURLConf` for ``urlconf``.

    ``urlconf`` defaults to the current thread's URLconf (as set by
    ``request.urlconf``) or ``ROOT_URLCONF``. The result is cached, so that
    Django's resolver cache applies to it too.
    """
    if urlconf is None:
        urlconf = get_urlconf() or settings.ROOT_URLCONF
    try:
        return _urlconfs[urlconf]
    except KeyError:
        ws_urlconf = _urlconfs[urlconf] = WebSocketURLConf(urlconf)
        return ws_urlconf
    except TypeError:  # an unhashable urlconf, e.g. a list
        return WebSocketURLConf(urlconf)


def get_ws_resolver(urlconf: Any = None) -> URLResolver:
    """Return Django's (cached) resolver for the WebSocket routes of ``urlconf``."""
    return get_resolver(get_ws_urlconf(urlconf))  # type: ignore[arg-type]


def ws_resolve(path: str, urlconf: Any = None) -> ResolverMatch:
    """
    Resolve ``path`` against the WebSocket routes.

    Raise :class:`django.urls.Resolver404` when no route matches.
    """
    return get_ws_resolver(urlconf).resolve(path)


def ws_reverse(
    viewname: Any,
    urlconf: Any = None,
    args: Sequence[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    current_app: str | None = None,
    **options: Any,
) -> str:
    """
    Return the path of a WebSocket route; the signature of ``django.urls.reverse``.

    ``viewname`` is a route name (``"chat"``, ``"app:chat"``) or a view
    callable. The script prefix is included, as for HTTP routes. On Django
    5.2 and later, ``query=`` and ``fragment=`` are accepted too. Raise
    :class:`django.urls.NoReverseMatch` when no WebSocket route matches; when
    ``viewname`` names a route of the HTTP ``urlpatterns`` instead, the
    message says so.
    """
    try:
        return django_reverse(
            viewname,
            urlconf=cast(Any, get_ws_urlconf(urlconf)),
            args=args,
            kwargs=kwargs,
            current_app=current_app,
            **options,
        )
    except NoReverseMatch as exc:
        if isinstance(viewname, str) and _is_http_route(viewname, urlconf):
            raise NoReverseMatch(
                f"{viewname!r} is the name of a route in urlpatterns (HTTP); "
                "ws_reverse() and {% ws_url %} reverse the names of "
                "ws_urlpatterns. Use reverse() or {% url %} for an HTTP page, "
                "or name the WebSocket route in ws_urlpatterns."
            ) from exc
        raise


def _is_http_route(viewname: str, urlconf: Any) -> bool:
    """Return whether ``viewname`` names a route of the HTTP ``urlpatterns``."""
    resolver = get_resolver(urlconf)
    *namespaces, name = viewname.split(":")
    for namespace in namespaces:
        try:
            resolver = resolver.namespace_dict[namespace][1]
        except KeyError:
            return False
    return name in resolver.reverse_dict


def clear_ws_url_caches() -> None:
    """Forget every cached WebSocket URLconf (Django's own caches are separate)."""
    _urlconfs.clear()


@receiver(setting_changed)
def _root_urlconf_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        clear_ws_url_caches()
