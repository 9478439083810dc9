"""
Regression guards for the work a handshake does, counted, never timed.

A bare handshake (no middleware, no origin check) builds no request META,
a path is resolved by Django's resolver once, however many handshakes ask
for it, and an idle connection holds a bounded number of bytes. The benchmark in bench/ measures the time these save.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.urls import ResolverMatch, clear_url_caches

import django_wsviews
from django_wsviews.asgi import get_asgi_application
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
#: its frames on the stack), counted by tracemalloc: the coroutines that
#: wait, the view, its lifecycle and message loop, the request. About 5,000
#: on Python 3.11-3.13 and 7,400 on 3.10 (whose coroutines keep larger
#: frames); 5,900-6,100 and 8,300 while each connection kept its decoded
#: headers and its own copy of the route's match.
IDLE_BYTES_PER_CONNECTION = 5_600 if sys.version_info >= (3, 11) else 7_900


class _Socket:
    """The server's side of one connection, as an ASGI server gives it."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.accepted = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            self.accepted.set()


def _scope() -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/ws/echo/",
        "raw_path": b"/ws/echo/",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"user-agent", b"guard"),
            (b"cookie", b"a=1"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        "subprotocols": [],
    }


@override_settings(
    ROOT_URLCONF="tests.support.urls", WSVIEWS_MIDDLEWARE=[], WSVIEWS_CHECK_ORIGIN=False
)
async def test_idle_connection_holds_little() -> None:
    """An open, idle bare connection holds at most IDLE_BYTES_PER_CONNECTION of the library's."""
    app = get_asgi_application()
    library = os.path.dirname(django_wsviews.__file__) + os.sep
    test_client = os.path.join(library, "testing") + os.sep
    sockets: list[tuple[_Socket, asyncio.Task[None]]] = []

    async def open_connections(count: int) -> None:
        for _ in range(count):
            socket = _Socket()
            task = asyncio.ensure_future(app(_scope(), socket.receive, socket.send))
            sockets.append((socket, task))
            await asyncio.wait_for(socket.accepted.wait(), 5)
        for _ in range(5):  # let each reach its idle wait
            await asyncio.sleep(0)

    count = 200
    await open_connections(20)  # the caches and the first-use objects
    tracemalloc.start(30)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        await open_connections(count)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        for socket, _ in sockets:
            socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(asyncio.gather(*(task for _, task in sockets)), 10)
    held = sum(
        stat.size_diff
        for stat in after.compare_to(before, "traceback")
        if any(
            frame.filename.startswith(library)
            and not frame.filename.startswith(test_client)
            for frame in stat.traceback
        )
    )
    assert held > 0, "nothing counted: the library's path is wrong"
    assert held / count <= IDLE_BYTES_PER_CONNECTION, held / count
