"""
The backends after their server restarts: no broadcast fails once it is back.

Each test runs a server of its own on a spare port (``redis-server``, or an
``initdb``'d PostgreSQL), broadcasts once so that the process holds a
publishing connection, kills the server (SIGKILL, as a crash would), waits
until the listener has noticed, starts the server again on the same port,
waits until the listener is back, and only then broadcasts again: from a
backend instance that sent nothing during the outage, from a view's hook,
and from one of two uvicorn processes. And delivery stays at most once: a
broadcast whose answer is lost after it reached the server is not sent
again. Without redis-server or PostgreSQL the tests skip, or fail under
``WSVIEWS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from django_wsviews import BroadcastError, abroadcast
from django_wsviews.backends.postgres import PostgresBackend
from django_wsviews.backends.redis import RedisBackend
from django_wsviews.testing import WebSocketClient

from .support.groups_support import (
    Inbox,
    LogEvent,
    PostgresServer,
    RedisServer,
    UvicornServer,
)

pytestmark = pytest.mark.urls("tests.support.groups_urls")

T = 5.0
REDIS_LOG = "django_wsviews.backends.redis"
POSTGRES_LOG = "django_wsviews.backends.postgres"


class AnswerDropper:
    """
    A TCP proxy to a server on 127.0.0.1: it relays both ways until ``armed``;
    then it forwards the next client data containing ``marker`` and, instead of
    relaying the server's answer, closes the client's connection: the command
    reached the server, its answer was lost. (The marker is looked for in the
    bytes sent: a command's name, or a query's text before psycopg prepares it.)
    """

    def __init__(self, upstream: int, marker: bytes) -> None:
        self.upstream = upstream
        self.marker = marker
        self.armed = False
        self.dropped = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> AnswerDropper:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        server_reader, server_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream
        )
        cut = asyncio.Event()

        async def forward() -> None:
            while data := await client_reader.read(65536):
                if self.armed and self.marker in data:
                    self.armed = False
                    cut.set()
                server_writer.write(data)
                await server_writer.drain()

        async def answer() -> None:
            while data := await server_reader.read(65536):
                if cut.is_set():
                    self.dropped = True
                    return
                client_writer.write(data)
                await client_writer.drain()

        pipes = [asyncio.ensure_future(forward()), asyncio.ensure_future(answer())]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            client_writer.close()
            server_writer.close()


@pytest.fixture
def client(settings: Any) -> WebSocketClient:
    """Return a test client; handshakes skip the middleware (no thread per connection)."""
    settings.WSVIEWS_MIDDLEWARE = []
    return WebSocketClient(timeout=T)


# Redis -------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """Start a redis-server of the test's own on a spare port; kill it afterwards."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_options(redis_server: RedisServer) -> dict[str, Any]:
    """Return RedisBackend OPTIONS for the test's own server."""
    return {
        "URL": redis_server.url,
        "PREFIX": f"wsviews-test-{uuid.uuid4().hex[:12]}",
        "RECONNECT_MAX_DELAY": 0.5,
    }


async def restart_redis(server: RedisServer) -> None:
    """Kill the server, wait until the listeners notice, start it, wait until they are back."""
    with LogEvent(REDIS_LOG, "No pub/sub connection") as lost:
        server.kill()
        await lost.wait()
    with LogEvent(REDIS_LOG, "re-subscribed") as back:
        await asyncio.to_thread(server.start)
        await back.wait()


@pytest.fixture
async def redis_backends(redis_options: dict[str, Any]) -> AsyncIterator[Any]:
    """Return a factory of RedisBackend instances (one per simulated process), closed after."""
    made: list[RedisBackend] = []

    def make(inbox: Inbox | None = None, **extra: Any) -> RedisBackend:
        backend = RedisBackend({**redis_options, **extra}, inbox or Inbox())
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


async def test_redis_idle_publisher_after_restart(
    redis_backends: Callable[..., RedisBackend], redis_server: RedisServer
) -> None:
    """A backend that broadcast nothing during the outage delivers its first broadcast after it."""
    inbox = Inbox()
    sender, receiver = redis_backends(), redis_backends(inbox)
    await receiver.subscribe(["g"])
    await sender.publish("g", b"before")
    assert await inbox.wait_for(1) == [b"before"]

    await restart_redis(redis_server)

    await sender.publish("g", b"after")
    assert await inbox.wait_for(2) == [b"before", b"after"]


async def test_redis_every_pooled_connection_replaced(
    redis_backends: Callable[..., RedisBackend], redis_server: RedisServer
) -> None:
    """Concurrent broadcasts after a restart all succeed, whichever pooled connection each takes."""
    inbox = Inbox()
    sender, receiver = redis_backends(), redis_backends(inbox)
    await receiver.subscribe(["g"])
    # Concurrent broadcasts leave several connections in the publisher's pool.
    await asyncio.gather(*(sender.publish("g", b"before") for _ in range(5)))
    assert await inbox.wait_for(5) == [b"before"] * 5

    await restart_redis(redis_server)

    await asyncio.gather(*(sender.publish("g", b"after") for _ in range(5)))
    assert (await inbox.wait_for(10))[5:] == [b"after"] * 5


async def test_redis_publish_not_resent(
    redis_backends: Callable[..., RedisBackend], redis_server: RedisServer
) -> None:
    """A PUBLISH that reached Redis but whose answer was lost fails, and is not sent again."""
    inbox = Inbox()
    receiver = redis_backends(inbox)
    await receiver.subscribe(["g"])
    async with AnswerDropper(redis_server.port, b"PUBLISH") as proxy:
        sender = redis_backends(URL=f"redis://127.0.0.1:{proxy.port}/0")
        await sender.publish("g", b"before")
        proxy.armed = True
        with pytest.raises(BroadcastError, match="unreachable"):
            await sender.publish("g", b"answer lost")
        assert proxy.dropped
        await sender.publish("g", b"after")
    assert await inbox.wait_for(3) == [b"before", b"answer lost", b"after"]


async def test_redis_hook_broadcasts_after_restart(
    client: WebSocketClient,
    settings: Any,
    redis_server: RedisServer,
    redis_options: dict[str, Any],
) -> None:
    """A hook that broadcasts after Redis came back is not closed with 1011: its message arrives."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": redis_options,
    }
    async with (
        client.connect("/ws/room/back/") as one,
        client.connect("/ws/room/back/") as two,
    ):
        await one.send("say before")
        for ws in (one, two):
            assert await ws.receive(T) == "before"

        await restart_redis(redis_server)

        await two.send("say after")
        for ws in (one, two):
            assert await ws.receive(T) == "after"
        await abroadcast("room.back", "from the facade")
        for ws in (one, two):
            assert await ws.receive(T) == "from the facade"


# PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server of the test's own on a spare port; remove it afterwards."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_options(postgres_server: PostgresServer) -> dict[str, Any]:
    """Return PostgresBackend OPTIONS for the test's own server."""
    database = postgres_server.database()
    return {
        "DATABASE": "wsviews_postgres",
        "CONNECTION_KWARGS": {
            "host": database["HOST"],
            "port": database["PORT"],
            "dbname": database["NAME"],
            "user": database["USER"],
            "password": database["PASSWORD"],
        },
        "PREFIX": f"t{uuid.uuid4().hex[:12]}",
        "RECONNECT_MAX_DELAY": 0.5,
    }


async def restart_postgres(server: PostgresServer) -> None:
    """Kill the server, wait until the listeners notice, start it, wait until they are back."""
    with LogEvent(POSTGRES_LOG, "No LISTEN connection") as lost:
        server.kill()
        await lost.wait()
    with LogEvent(POSTGRES_LOG, "groups again") as back:
        await asyncio.to_thread(server.start)
        await back.wait()


@pytest.fixture
async def postgres_backends(postgres_options: dict[str, Any]) -> AsyncIterator[Any]:
    """Return a factory of PostgresBackend instances (one per simulated process), closed after."""
    made: list[PostgresBackend] = []

    def make(inbox: Inbox | None = None, **extra: Any) -> PostgresBackend:
        backend = PostgresBackend({**postgres_options, **extra}, inbox or Inbox())
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


async def test_postgres_idle_publisher_after_restart(
    postgres_backends: Callable[..., PostgresBackend], postgres_server: PostgresServer
) -> None:
    """A backend that broadcast nothing during the outage delivers its first broadcast after it."""
    inbox = Inbox()
    sender, receiver = postgres_backends(), postgres_backends(inbox)
    await receiver.subscribe(["g"])
    await sender.publish("g", b"before")
    assert await inbox.wait_for(1) == [b"before"]

    await restart_postgres(postgres_server)

    await sender.publish("g", b"after")
    assert await inbox.wait_for(2) == [b"before", b"after"]


async def test_postgres_crash_gives_history_a_new_epoch(
    postgres_backends: Callable[..., PostgresBackend], postgres_server: PostgresServer
) -> None:
    """A PostgreSQL crash empties the unlogged history: an old seq gets a reset, the next broadcast a new epoch."""
    from django.test import override_settings

    from django_wsviews import history
    from django_wsviews.backends.history_base import HistoryLimits
    from django_wsviews.envelope import encode_message

    message = encode_message("h.room", json.dumps({"n": 1}))
    keep = HistoryLimits(max_messages=10)
    backend = postgres_backends()
    store = history.store_for(backend)
    with override_settings(WSVIEWS_HISTORY={"h.*": {"MAX_MESSAGES": 10}}):
        seen = [await store.publish("h.room", message, keep) for _ in range(3)]
        postgres_server.kill()  # SIGKILL: a crash, which empties unlogged tables
        await asyncio.to_thread(postgres_server.start)
        assert (await history.resume(backend, "h.room", str(seen[0]))).reset
        after = await store.publish("h.room", message, keep)
        assert (after.epoch != seen[0].epoch, after.offset) == (True, 1)
        assert (await history.resume(backend, "h.room", str(seen[-1]))).reset


async def test_postgres_notify_not_resent(
    postgres_backends: Callable[..., PostgresBackend],
    postgres_options: dict[str, Any],
    postgres_server: PostgresServer,
) -> None:
    """A NOTIFY that reached PostgreSQL but whose answer was lost fails, and is not sent again."""
    inbox = Inbox()
    receiver = postgres_backends(inbox)
    await receiver.subscribe(["g"])
    async with AnswerDropper(postgres_server.port, b"pg_notify") as proxy:
        through = {**postgres_options["CONNECTION_KWARGS"], "port": proxy.port}
        sender = postgres_backends(CONNECTION_KWARGS=through)
        await sender.publish("g", b"before")
        proxy.armed = True
        with pytest.raises(BroadcastError, match="unreachable"):
            await sender.publish("g", b"answer lost")
        assert proxy.dropped
        await sender.publish("g", b"after")
    assert await inbox.wait_for(3) == [b"before", b"answer lost", b"after"]


async def test_postgres_hook_broadcasts_after_restart(
    client: WebSocketClient,
    settings: Any,
    postgres_server: PostgresServer,
    postgres_options: dict[str, Any],
) -> None:
    """A hook that broadcasts after PostgreSQL came back is not closed with 1011: its message arrives."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": postgres_options,
    }
    async with (
        client.connect("/ws/room/back/") as one,
        client.connect("/ws/room/back/") as two,
    ):
        await one.send("say before")
        for ws in (one, two):
            assert await ws.receive(T) == "before"

        await restart_postgres(postgres_server)

        await two.send("say after")
        for ws in (one, two):
            assert await ws.receive(T) == "after"
        await abroadcast("room.back", "from the facade")
        for ws in (one, two):
            assert await ws.receive(T) == "from the facade"


# Two uvicorn processes -------------------------------------------------------------------


async def recv(ws: ClientConnection) -> str | bytes:
    """Return the next message, or fail after T seconds."""
    return await asyncio.wait_for(ws.recv(), T)


@pytest.fixture
def processes() -> Iterator[Callable[..., UvicornServer]]:
    """Return a function that starts a uvicorn process with a backend; stop them after."""
    started: list[UvicornServer] = []

    def start(backend: dict[str, Any]) -> UvicornServer:
        server = UvicornServer(WSVIEWS_E2E_BACKEND=json.dumps(backend))
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize("kind", ["redis", "postgres"])
async def test_idle_process_broadcasts_after_restart(
    request: pytest.FixtureRequest,
    processes: Callable[..., UvicornServer],
    kind: str,
) -> None:
    """Of two processes, the one that broadcast nothing during the outage delivers its next broadcast."""
    # As reported: both processes logged that they were back, and the idle
    # one's first broadcast failed, closing the sender's socket with 1011.
    if kind == "redis":
        server: Any = request.getfixturevalue("redis_server")
        backend = {
            "BACKEND": "django_wsviews.backends.redis.RedisBackend",
            "OPTIONS": request.getfixturevalue("redis_options"),
        }
        lost, back = "No pub/sub connection", "re-subscribed 1 groups"
    else:
        server = request.getfixturevalue("postgres_server")
        backend = {
            "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
            "OPTIONS": request.getfixturevalue("postgres_options"),
        }
        lost, back = "No LISTEN connection", "listening to 1 groups again"
    a, b = await asyncio.gather(
        asyncio.to_thread(processes, backend), asyncio.to_thread(processes, backend)
    )
    async with (
        connect(a.url("/ws/room/e2e/")) as on_a,
        connect(b.url("/ws/room/e2e/")) as on_b,
    ):
        for ws in (on_a, on_b):  # each process now holds a publishing connection
            await ws.send("say before")
            assert [await recv(on_a), await recv(on_b)] == ["before", "before"]

        server.kill()
        for process in (a, b):
            assert process.output is not None
            await asyncio.to_thread(process.output.wait_for, lost, T)
        await asyncio.to_thread(server.start)
        for process in (a, b):
            assert process.output is not None
            await asyncio.to_thread(process.output.wait_for, back, T)

        await on_b.send("say after")
        assert [await recv(on_a), await recv(on_b)] == ["after", "after"]
