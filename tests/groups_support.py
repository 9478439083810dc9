"""Helpers for the group tests: a recording backend, a client that stops reading, services."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import queue
import shutil
import socket
import subprocess
import threading
import time
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


class RedisServer:
    """
    A redis-server of the test's own, on a spare port, that the test may kill
    and start again (on the same port).
    """

    def __init__(self, directory: pathlib.Path, *args: str) -> None:
        self.port = spare_port()
        self.directory = directory
        self.args = args
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """Return the server's redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(
        self,
        *,
        port_args: tuple[str, ...] | None = None,
        config: pathlib.Path | None = None,
        ready: str = "Ready to accept connections",
    ) -> None:
        """
        Start the server; return once its output shows ``ready``.

        ``config`` starts a Sentinel with that configuration file instead.
        """
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        if config is not None:
            self.process = subprocess.Popen(
                [str(binary), str(config), "--sentinel"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.directory,
            )
            wait_for_line(self.process, ready, 10)
            return
        self.process = subprocess.Popen(
            [
                str(binary),
                *(port_args or ("--port", str(self.port))),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_line(self.process, ready, 10)

    def kill(self) -> None:
        """Kill the server (SIGKILL: no goodbye to the clients) and wait for it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            assert self.process.stdout is not None
            self.process.stdout.close()
            self.process = None

    def client(self, **kwargs: Any) -> Any:
        """Return a synchronous redis-py client of this server."""
        import redis

        return redis.Redis.from_url(self.url, **kwargs)


def wait_for_line(
    process: subprocess.Popen[str], text: str, timeout: float
) -> list[str]:
    """
    Read ``process``'s output until a line contains ``text``; return the lines read.

    Fail if the process exits or ``timeout`` seconds pass first.
    """
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stream = process.stdout

    def read() -> None:
        for line in stream:
            lines.put(line)
            if text in line:
                return
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"No {text!r} within {timeout} s; output: {''.join(seen)}")
        if line is None:
            pytest.fail(f"Process exited before {text!r}; output: {''.join(seen)}")
        seen.append(line)
        if text in line:
            return seen


class LogEvent(logging.Handler):
    """An asyncio.Event set when a logger emits a record containing ``text``."""

    def __init__(self, logger_name: str, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.logger = logging.getLogger(logger_name)
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.loop.call_soon_threadsafe(self.event.set)

    def __enter__(self) -> LogEvent:
        self.previous_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.previous_level)

    async def wait(self, timeout: float = 10.0) -> None:
        """Wait for the record; fail after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"No log record with {self.text!r} within {timeout} s")
