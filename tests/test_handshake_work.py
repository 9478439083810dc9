"""
Regression guards for the work a handshake does, counted, never timed.

A bare handshake (no middleware, no origin check) builds no request META,
a path is resolved by Django's resolver once, however many handshakes ask
for it, and an idle connection holds a bounded number of bytes. The benchmark in bench/ measures the time these save.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
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


#: Bytes the library holds per idle bare connection (allocated with one of
#: its frames on the stack), counted by tracemalloc in a fresh interpreter
#: (tests/support/idle_memory.py says why): the coroutines that
#: wait, the view, its lifecycle and message loop, the request. About 4,900
#: on Python 3.11-3.13 and 7,350 on 3.10 (whose coroutines keep larger
#: frames); 5,900-6,100 and 8,300 while each connection kept its decoded
#: headers and its own copy of the route's match.
IDLE_BYTES_PER_CONNECTION = 5_600 if sys.version_info >= (3, 11) else 7_900

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_idle_connection_holds_little() -> None:
    """An open, idle bare connection holds at most IDLE_BYTES_PER_CONNECTION of the library's."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.idle_memory"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    held = int(result.stdout)
    assert held > 0, "nothing counted: the library's path is wrong"
    assert held <= IDLE_BYTES_PER_CONNECTION, held
