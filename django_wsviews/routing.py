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

import contextlib
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
from django.urls.converters import DEFAULT_CONVERTERS
from django.urls.resolvers import RegexPattern, RoutePattern

from .request import SharedMatch

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

    Raise :class:`django.urls.Resolver404` when no route matches. A path
    resolved before is answered from a cache when the answer cannot differ:
    when every route that could match it uses ``re_path()`` or Django's own
    converters (``int``, ``str``, ``slug``, ``uuid``, ``path``). Paths that a
    route with a converter of the project's own, or a translated route, could
    match are resolved every time; so are paths that match nothing. Each
    call returns a :class:`~django.urls.ResolverMatch` of its own, whose
    ``kwargs`` a view may change freely.
    """
    resolved = resolve_cached(path, urlconf)
    return resolved.copy() if isinstance(resolved, CachedMatch) else resolved


def resolve_cached(path: str, urlconf: Any = None) -> ResolverMatch | CachedMatch:
    """
    Resolve ``path`` as :func:`ws_resolve` does, without copying a cached match.

    Return a :class:`~django.urls.ResolverMatch` of the caller's own, or,
    for a path answered from the cache, the cache's :class:`CachedMatch`:
    its ``match`` is shared, to be read and never changed, and its
    ``copy()`` makes one of the caller's own. The handshake reads the route
    from it, and its request copies it only when something reads
    ``request.resolver_match``: an idle connection holds no copy.
    """
    return _cached_resolve(get_ws_resolver(urlconf), path)


# Resolution cache ------------------------------------------------------------

#: How many resolved paths a resolver remembers; then the oldest are forgotten.
_RESOLVED_PATHS_MEMORY = 1024
#: Longer paths are resolved every time: a client sending long paths to a
#: <path:...> route cannot make the cache hold more than about 0.5 MiB.
_RESOLVED_PATH_MAX_LENGTH = 256

# Converters whose to_python() is a pure function of the matched text, giving
# an immutable value (int, str, UUID). Exact types: a subclass may override it.
_PURE_CONVERTERS = frozenset(
    type(converter) for converter in DEFAULT_CONVERTERS.values()
)


def _regex_is_fixed(pattern: Any) -> bool:
    """Return whether ``pattern`` has one regex, whatever the active language."""
    if type(pattern) is RoutePattern:
        return type(pattern._route) is str  # type: ignore[attr-defined]  # not lazy
    if type(pattern) is RegexPattern:
        return type(pattern._regex) is str  # type: ignore[attr-defined]
    return False  # LocalePrefixPattern, or a class of the project's own


def _pattern_is_pure(pattern: Any) -> bool:
    """Return whether matching ``pattern`` depends on the path alone."""
    return _regex_is_fixed(pattern) and all(
        type(converter) in _PURE_CONVERTERS for converter in pattern.converters.values()
    )


def _impure_routes(patterns: Sequence[Any], outer: tuple[Any, ...] = ()) -> list[Any]:
    """Return the chains of patterns leading to routes whose match is not pure."""
    found: list[Any] = []
    for entry in patterns:
        chain = (*outer, entry.pattern)
        if type(entry) is URLResolver and _pattern_is_pure(entry.pattern):
            found.extend(_impure_routes(entry.url_patterns, chain))
        elif type(entry) is not URLPattern or not _pattern_is_pure(entry.pattern):
            found.append(chain)
    return found


def _may_match(chain: tuple[Any, ...], path: str) -> bool:
    """Return whether the regexes of ``chain`` could match ``path`` (True if unsure)."""
    for pattern in chain:
        if not _regex_is_fixed(pattern):
            return True
        found = pattern.regex.search(path)
        if found is None:
            return False
        path = path[found.end() :]
    return True


class _ResolvedPaths:
    """The matches of one resolver, by path; only those that are pure."""

    __slots__ = ("impure", "matches")

    def __init__(self) -> None:
        self.matches: dict[str, CachedMatch] = {}  # by path
        self.impure: list[Any] | None = None

    def remember(self, resolver: URLResolver, path: str, match: ResolverMatch) -> None:
        """Keep a copy of ``match``, unless a route that is not pure could match ``path``."""
        if self.impure is None:
            try:
                self.impure = _impure_routes(resolver.url_patterns, (resolver.pattern,))
            except Exception:
                self.impure = [()]  # cache nothing
        if len(path) > _RESOLVED_PATH_MAX_LENGTH or any(
            _may_match(chain, path) for chain in self.impure
        ):
            return
        matches = self.matches
        if len(matches) >= _RESOLVED_PATHS_MEMORY:
            # KeyError and the others: another thread got there first.
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del matches[next(iter(matches))]
        matches[path] = CachedMatch(match)


class CachedMatch(SharedMatch):
    """A remembered resolution: a match that nobody changes, and how to copy it."""

    __slots__ = ("_containers", "match")

    def __init__(self, match: ResolverMatch) -> None:
        # The attributes a copy needs copies of (kwargs, namespaces, ...),
        # found once.
        self._containers = tuple(
            name
            for name, value in match.__dict__.items()
            if type(value) in (dict, list)
        )
        self.match = match
        self.match = self.copy()  # the caller keeps (and may change) ``match``

    def copy(self) -> ResolverMatch:
        """Return a copy of the match, with copies of its dicts and lists."""
        copy = ResolverMatch.__new__(ResolverMatch)
        state = self.match.__dict__.copy()
        for name in self._containers:
            state[name] = state[name].copy()
        copy.__dict__ = state
        return copy


def _cached_resolve(resolver: URLResolver, path: str) -> ResolverMatch | CachedMatch:
    """
    Return ``resolver.resolve(path)``, or its :class:`CachedMatch` when that gives the same answer.

    A path is cached when every route that could match it matches on the
    path alone: ``re_path()`` routes, and ``path()`` routes with Django's own
    converters (``int``, ``str``, ``slug``, ``uuid``, ``path``). A route with
    a converter of the project's own (its ``to_python()`` may return objects,
    or read state) or under ``i18n_patterns()`` (it depends on the language)
    keeps the paths it could match out of the cache; they are resolved each
    time. Paths that match no route (``Resolver404``) are not cached, nor
    paths longer than ``_RESOLVED_PATH_MAX_LENGTH`` characters. Up to
    ``_RESOLVED_PATHS_MEMORY`` paths are kept per resolver, the oldest
    forgotten first. The cache belongs to Django's resolver object, so
    whatever makes Django build a new resolver (``clear_url_caches()``,
    ``override_settings(ROOT_URLCONF=...)``, pytest-django's ``urls``
    marker) starts an empty one.
    """
    try:
        resolved: _ResolvedPaths = resolver._wsviews_resolved  # type: ignore[attr-defined]
    except AttributeError:
        resolved = resolver._wsviews_resolved = _ResolvedPaths()  # type: ignore[attr-defined]
    cached = resolved.matches.get(path)
    if cached is not None:
        return cached
    match = resolver.resolve(path)
    resolved.remember(resolver, path, match)
    return match


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
