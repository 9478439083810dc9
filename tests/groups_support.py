"""Helpers for the group tests: a recording backend, a client that stops reading, services."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import pytest

from django_wsviews.backends.memory import MemoryBackend
from django_wsviews.testing import (
    WebSocketClient,
    WebSocketTestConnection,
    _Connecting,
)

from .services import services_required


class RecordingBackend(MemoryBackend):
    """The in-memory backend, recording every call in ``calls``."""

    option_names = frozenset({"TAG"})
    calls: ClassVar[list[tuple[Any, ...]]] = []

    async def connect(self) -> None:
        self.calls.append(("connect", self.options.get("TAG")))

    async def subscribe(self, groups: Collection[str]) -> None:
        self.calls.append(("subscribe", sorted(groups)))
        await super().subscribe(groups)

    async def unsubscribe(self, groups: Collection[str]) -> None:
        self.calls.append(("unsubscribe", sorted(groups)))
        await super().unsubscribe(groups)

    async def publish(self, group: str, payload: bytes) -> None:
        self.calls.append(("publish", group))
        await super().publish(group, payload)

    async def close(self) -> None:
        self.calls.append(("close", self.options.get("TAG")))
        await super().close()


class StalledConnection(WebSocketTestConnection):
    """
    A client that has stopped reading: the application's sends of data never
    complete (as when TCP backpressure reaches the server), until ``resume``
    is set. Close frames still go through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume = asyncio.Event()
        self.blocked = asyncio.Event()

    async def _app_send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and not self.resume.is_set():
            self.blocked.set()
            await self.resume.wait()
        await super()._app_send(message)


async def connect_stalled(client: WebSocketClient, path: str) -> StalledConnection:
    """Open a connection to ``path`` whose client never reads until resumed."""
    connection = StalledConnection(
        client.application, client._scope(path, None, ()), client.timeout
    )
    await _Connecting(connection)
    return connection


def unavailable(reason: str) -> None:
    """Skip the test because a server is missing, or fail it under WSVIEWS_REQUIRE_SERVICES=1."""
    if services_required():
        pytest.fail(f"{reason} (WSVIEWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def spare_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, checking as the loop runs; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"Condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(0.001)
