"""The resolution cache of django_wsviews.routing: what is cached, for how long, and what each hit gets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.urls import (
    Resolver404,
    ResolverMatch,
    URLResolver,
    clear_url_caches,
)
from django.urls.resolvers import RoutePattern

from django_wsviews import routing
from django_wsviews.routing import clear_ws_url_caches, get_ws_resolver, ws_resolve
from django_wsviews.testing import WebSocketClient

from .support import urls_resolution_cache
from .support.urls_resolution_cache import Flag

URLCONF = "tests.support.urls_resolution_cache"
cache_urls = override_settings(ROOT_URLCONF=URLCONF)

PURE_PATHS = [
    "/c/plain/",
    "/c/int/42/",
    f"/c/uuid/{uuid.UUID(int=7)}/",
    "/c/path/a/b/c.txt",
    "/c/re/2024/abc/",
    "/c/re/2024/",
    "/c/defaults/",
    "/c/ns/leaf/3/",
    "/c/after/",
]


@pytest.fixture(autouse=True)
def fresh_resolver(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with Django's URL caches (and so ours) empty, the converter refusing."""
    clear_url_caches()
    Flag.accepting, Flag.calls = False, 0
    if request.node.get_closest_marker("urls"):
        yield
    else:
        with cache_urls:
            yield
    clear_url_caches()


class Counting:
    """Count the calls of a resolver's own resolve()."""

    def __init__(self, resolver: URLResolver, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = resolver.resolve

        def resolve(path: str) -> ResolverMatch:
            self.calls += 1
            return original(path)

        monkeypatch.setattr(resolver, "resolve", resolve)


def fields(match: ResolverMatch) -> dict[str, Any]:
    """Return what a ResolverMatch tells, for comparison."""
    return {
        name: getattr(match, name)
        for name in (
            "func",
            "args",
            "kwargs",
            "url_name",
            "route",
            "app_names",
            "app_name",
            "namespaces",
            "namespace",
            "view_name",
            "captured_kwargs",
            "extra_kwargs",
            "_func_path",
            "tried",
        )
    }


@pytest.mark.parametrize("path", PURE_PATHS)
def test_cached_answer_is_djangos(path: str) -> None:
    """For a path of built-in converters or re_path groups, every call gives what Django's resolve() gives."""
    expected = fields(get_ws_resolver().resolve(path))
    for _ in range(3):
        assert fields(ws_resolve(path)) == expected


@pytest.mark.parametrize("path", PURE_PATHS)
def test_pure_path_resolved_once(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path whose routes match on the path alone is resolved by Django once, then cached."""
    counting = Counting(get_ws_resolver(), monkeypatch)
    for _ in range(3):
        ws_resolve(path)
    assert counting.calls == 1


def test_each_hit_gets_a_match_of_its_own() -> None:
    """Changing a match's kwargs, args or namespaces changes no other call's match."""
    first: Any = ws_resolve("/c/ns/leaf/3/")
    first.kwargs["n"] = 99
    first.kwargs["added"] = True
    first.captured_kwargs["n"] = 99
    first.namespaces.append("spoiled")
    first.app_names.clear()
    second: Any = ws_resolve("/c/ns/leaf/3/")
    assert second is not first
    assert second.kwargs == {"n": 3}
    assert second.captured_kwargs == {"n": 3}
    assert second.namespaces == ["ns"]
    assert second.app_names == ["app"]
    assert ws_resolve("/c/ns/leaf/3/").kwargs is not ws_resolve("/c/ns/leaf/3/").kwargs


def test_default_kwargs_not_shared_through_the_cache() -> None:
    """A view that changes the match's extra kwargs does not change the route's defaults."""
    match: Any = ws_resolve("/c/defaults/")
    match.extra_kwargs["flavour"] = "spoiled"
    ws_resolve("/c/defaults/").kwargs["flavour"] = "spoiled"
    assert ws_resolve("/c/defaults/").kwargs == {"flavour": "vanilla"}
    assert get_ws_resolver().resolve("/c/defaults/").kwargs == {"flavour": "vanilla"}


def test_custom_converter_path_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path a project's own converter could match is resolved every time, its to_python() called each time."""
    Flag.accepting = True
    counting = Counting(get_ws_resolver(), monkeypatch)
    first, second = ws_resolve("/c/word/abc/"), ws_resolve("/c/word/abc/")
    assert counting.calls == 2
    assert Flag.calls == 2
    assert first.url_name == second.url_name == "stateful"
    assert first.kwargs["token"] is not second.kwargs["token"]


def test_route_after_a_custom_converter_follows_its_state() -> None:
    """Where a stateful route comes first, the answer follows its state, not a cached one."""
    assert ws_resolve("/c/word/abc/").url_name == "word"
    Flag.accepting = True
    assert ws_resolve("/c/word/abc/").url_name == "stateful"
    Flag.accepting = False
    assert ws_resolve("/c/word/abc/").url_name == "word"


def test_path_the_custom_converter_cannot_match_is_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A path outside the custom converter's regex is cached although that route exists."""
    counting = Counting(get_ws_resolver(), monkeypatch)
    ws_resolve("/c/word/ABC/")  # [a-z]+ cannot match: only <str:word> can
    assert ws_resolve("/c/word/ABC/").url_name == "word"
    assert counting.calls == 1
    assert Flag.calls == 0


def test_translated_route_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path under a translated (gettext_lazy) route is resolved every time: it depends on the language."""
    counting = Counting(get_ws_resolver(), monkeypatch)
    assert ws_resolve("/c/i18n/translated/").url_name == "translated"
    assert ws_resolve("/c/i18n/translated/").url_name == "translated"
    assert counting.calls == 2


def test_not_found_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path no route matches raises Resolver404 each time, from Django's resolver each time."""
    counting = Counting(get_ws_resolver(), monkeypatch)
    for _ in range(2):
        with pytest.raises(Resolver404):
            ws_resolve("/c/nowhere/")
        with pytest.raises(Resolver404):
            ws_resolve("/c/int/forty-two/")
    assert counting.calls == 4


def test_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past _RESOLVED_PATHS_MEMORY paths the oldest are forgotten (resolved again), the newest kept."""
    monkeypatch.setattr(routing, "_RESOLVED_PATHS_MEMORY", 4)
    counting = Counting(get_ws_resolver(), monkeypatch)
    for n in range(10):
        ws_resolve(f"/c/int/{n}/")
    assert counting.calls == 10
    ws_resolve("/c/int/9/")
    assert counting.calls == 10
    ws_resolve("/c/int/0/")
    assert counting.calls == 11


def test_long_paths_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path longer than 256 characters is resolved every time, so long paths cannot fill memory."""
    counting = Counting(get_ws_resolver(), monkeypatch)
    long_path = "/c/path/" + "a" * 300
    short_path = "/c/path/" + "a" * 200
    for _ in range(2):
        assert ws_resolve(long_path).kwargs == {"rest": "a" * 300}
        assert ws_resolve(short_path).kwargs == {"rest": "a" * 200}
    assert counting.calls == 3


def test_clear_url_caches_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """clear_url_caches() (what pytest-django's urls marker calls) drops the cache with Django's resolver."""
    ws_resolve("/c/plain/")
    clear_url_caches()
    counting = Counting(get_ws_resolver(), monkeypatch)
    ws_resolve("/c/plain/")
    assert counting.calls == 1


def test_root_urlconf_change_answers_from_the_new_urlconf() -> None:
    """A path cached under one ROOT_URLCONF is answered from the other after a change, and back."""
    assert ws_resolve("/c/plain/").url_name == "plain"
    with override_settings(ROOT_URLCONF="tests.support.urls"):
        with pytest.raises(Resolver404):
            ws_resolve("/c/plain/")
        assert ws_resolve("/ws/echo/").url_name == "echo"
    assert ws_resolve("/c/plain/").url_name == "plain"
    with pytest.raises(Resolver404):
        ws_resolve("/ws/echo/")


@pytest.mark.urls("tests.support.urls")
def test_urls_marker_answers_from_its_urlconf() -> None:
    """Under pytest-django's urls marker the handshake's URLconf is the marker's, cached or not."""
    with override_settings(ROOT_URLCONF=URLCONF):
        assert ws_resolve("/c/plain/").url_name == "plain"
    for _ in range(2):
        assert ws_resolve("/ws/echo/").url_name == "echo"
        with pytest.raises(Resolver404):
            ws_resolve("/c/plain/")


def test_broken_include_elsewhere_disables_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An include() that cannot be imported leaves the other paths resolving, uncached, and raising nothing new."""
    # include() would import at once; a resolver imports when first read.
    broken = URLResolver(RoutePattern("c/broken/"), "tests.support.no_such_urls")
    monkeypatch.setattr(
        urls_resolution_cache,
        "ws_urlpatterns",
        [*urls_resolution_cache.ws_urlpatterns, broken],
    )
    clear_ws_url_caches()
    clear_url_caches()
    counting = Counting(get_ws_resolver(), monkeypatch)
    assert ws_resolve("/c/plain/").url_name == "plain"
    assert ws_resolve("/c/plain/").url_name == "plain"
    assert counting.calls == 2
    with pytest.raises(ModuleNotFoundError):
        ws_resolve("/c/broken/x/")
    monkeypatch.undo()
    clear_ws_url_caches()


async def test_view_that_spoils_its_kwargs_spoils_no_other_connection() -> None:
    """A view that changes self.kwargs and request.resolver_match leaves the next connection's intact."""
    client = WebSocketClient()
    seen = []
    for _ in range(3):
        async with client.connect("/c/ns/leaf/3/") as ws:
            seen.append(await ws.receive_json())
    assert (
        seen == [{"kwargs": {"n": "3"}, "match": {"n": "3"}, "namespaces": ["ns"]}] * 3
    )


def test_shared_match_copied_on_first_read() -> None:
    """A handshake holds the cache's match; its request copies it when first read, once."""
    from django_wsviews.request import WebSocketRequest
    from django_wsviews.routing import CachedMatch, resolve_cached

    first = resolve_cached("/c/ns/leaf/3/")
    assert isinstance(first, ResolverMatch)  # resolved, then remembered
    cached = resolve_cached("/c/ns/leaf/3/")
    assert isinstance(cached, CachedMatch)
    assert resolve_cached("/c/ns/leaf/3/") is cached
    first.kwargs["n"] = "the first caller's own"
    request = WebSocketRequest(
        {
            "type": "websocket",
            "path": "/c/ns/leaf/3/",
            "headers": [],
            "query_string": b"",
        }
    )
    request.share_resolver_match(cached)
    match = request.resolver_match
    assert isinstance(match, ResolverMatch)
    assert match is not cached.match
    assert request.resolver_match is match  # copied once
    assert (match.func, match.args, match.kwargs, match.namespaces) == (
        cached.match.func,
        (),
        {"n": 3},
        ["ns"],
    )
    match.kwargs["n"] = "spoiled"
    match.namespaces.append("spoiled")
    assert cached.match.kwargs == {"n": 3}
    assert cached.match.namespaces == ["ns"]
    assert ws_resolve("/c/ns/leaf/3/").kwargs == {"n": 3}
    request.share_resolver_match(cached)
    request.resolver_match = None  # a match set replaces the shared one
    assert request.resolver_match is None
