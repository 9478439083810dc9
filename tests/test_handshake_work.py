"""
Regression guards for the work a handshake does, counted, never timed.

A bare handshake (no middleware, no origin check) builds no request META,
and a path is resolved by Django's resolver once, however many handshakes
ask for it. The benchmark in bench/ measures the time these save.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.urls import ResolverMatch, clear_url_caches

from django_wsviews.routing import get_ws_resolver
from django_wsviews.testing import WebSocketClient

bare = override_settings(
    ROOT_URLCONF="tests.support.urls_resolution_cache",
    WSVIEWS_MIDDLEWARE=[],
    WSVIEWS_CHECK_ORIGIN=False,
)


@pytest.fixture(autouse=True)
def fresh_resolver() -> Iterator[None]:
    """Each test starts with Django's URL caches empty, and leaves them so."""
    clear_url_caches()
    yield
    clear_url_caches()


@bare
async def test_bare_handshake_builds_no_meta() -> None:
    """Without middleware, the handshake reads the host and cookies without making META."""
    client = WebSocketClient(headers={"Cookie": "a=1", "User-Agent": "guard"})
    async with client.connect("/c/meta/") as ws:
        assert await ws.receive() == "not made"


@override_settings(ROOT_URLCONF="tests.support.urls_resolution_cache")
async def test_middleware_that_reads_meta_gets_it() -> None:
    """With startproject's middleware, which read META, it is made (and right)."""
    client = WebSocketClient(headers={"Origin": "http://testserver"})
    async with client.connect("/c/meta/") as ws:
        assert await ws.receive() == "made"


@bare
async def test_handshakes_to_one_path_resolve_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five handshakes to one path cost one resolve() by Django; each view gets its own kwargs."""
    resolver = get_ws_resolver("tests.support.urls_resolution_cache")
    calls: list[str] = []
    original = resolver.resolve

    def resolve(path: str) -> ResolverMatch:
        calls.append(path)
        return original(path)

    monkeypatch.setattr(resolver, "resolve", resolve)
    seen: list[Any] = []
    for _ in range(5):
        async with WebSocketClient().connect("/c/int/7/") as ws:
            seen.append(await ws.receive_json())
    assert calls == ["/c/int/7/"]
    assert seen == [{"kwargs": {"n": "7"}, "match": {"n": "7"}, "namespaces": []}] * 5
