"""
Print the bytes the library holds per open, idle bare connection.

Run in a fresh interpreter by ``tests/test_handshake_work.py``: how much an
object takes depends on what the process did before (CPython shares the key
table of a class's instance dicts only while every instance sets the same
attributes in the same order), so a count taken after other tests would
vary with them. Opens connections through the ASGI application as a server
does, to ``/ws/echo/`` with no middleware and no origin check, and counts
with tracemalloc the blocks allocated with a frame of the library (less its
test client) on the stack.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from typing import Any

COUNT = 200


class Socket:
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


def scope() -> dict[str, Any]:
    """Return a handshake's scope as uvicorn gives it, with a cookie and a user agent."""
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


async def held_per_connection() -> float:
    """Open connections, warm, then COUNT more; return the library's bytes held per connection."""
    import django_wsviews
    from django_wsviews.asgi import get_asgi_application

    app = get_asgi_application()
    library = os.path.dirname(django_wsviews.__file__) + os.sep
    test_client = os.path.join(library, "testing") + os.sep
    sockets: list[tuple[Socket, asyncio.Future[Any]]] = []

    async def open_connections(count: int) -> None:
        for _ in range(count):
            socket = Socket()
            task = asyncio.ensure_future(app(scope(), socket.receive, socket.send))
            sockets.append((socket, task))
            await asyncio.wait_for(socket.accepted.wait(), 5)
        for _ in range(5):  # let each reach its idle wait
            await asyncio.sleep(0)

    await open_connections(20)  # the caches and the first-use objects
    tracemalloc.start(30)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        await open_connections(COUNT)
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
    return held / COUNT


def main() -> None:
    import django
    from django.test.utils import override_settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    with override_settings(
        ROOT_URLCONF="tests.support.urls",
        WSVIEWS_MIDDLEWARE=[],
        WSVIEWS_CHECK_ORIGIN=False,
    ):
        print(f"{asyncio.run(held_per_connection()):.0f}")


if __name__ == "__main__":
    main()
