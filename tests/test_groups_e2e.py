"""
Groups end to end: real uvicorn processes, real WebSocket clients (websockets).

Two servers on different ports share one backend (Redis, then PostgreSQL): a
client of server A broadcasts, a client of server B receives. And one server
with 1,000 members and a client that never reads: the slow one is closed with
1013, the others get every message.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from django_wsviews import CloseCode

from .support.groups_support import UvicornServer, unavailable
from .support.services import postgres_database, redis_url

T = 10.0


async def recv(ws: ClientConnection, timeout: float = T) -> str | bytes:
    """Return the next message, or fail after ``timeout`` seconds."""
    return await asyncio.wait_for(ws.recv(), timeout)


@pytest.fixture
def servers() -> Iterator[Callable[..., UvicornServer]]:
    """Return a function that starts a uvicorn server with the given environment; stop them after."""
    started: list[UvicornServer] = []

    def start(send_buffer: int | None = None, **env: str) -> UvicornServer:
        server = UvicornServer(send_buffer=send_buffer, **env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def redis_backend() -> dict[str, Any]:
    """Return a Redis WSVIEWS_BACKEND on the test server, or skip (fail) without one."""
    import redis

    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"No Redis server at {url} ({exc}); set WSVIEWS_TEST_REDIS_URL")
    return {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": url, "PREFIX": f"wsviews-e2e-{uuid.uuid4().hex[:12]}"},
    }


def postgres_backend() -> dict[str, Any]:
    """Return a PostgreSQL WSVIEWS_BACKEND on the test server, or skip (fail) without one."""
    import psycopg

    database = postgres_database()
    try:
        psycopg.connect(
            host=database["HOST"],
            port=database["PORT"],
            dbname=database["NAME"],
            user=database["USER"],
            password=database["PASSWORD"],
            connect_timeout=2,
        ).close()
    except psycopg.Error as exc:
        unavailable(
            f"No PostgreSQL server ({str(exc).strip()}); set WSVIEWS_TEST_POSTGRES_*"
        )
    return {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": {
            "DATABASE": "wsviews_postgres",
            "PREFIX": f"e{uuid.uuid4().hex[:12]}",
        },
    }


@pytest.mark.parametrize(
    "make_backend", [redis_backend, postgres_backend], ids=["redis", "postgres"]
)
async def test_two_servers_share_a_backend(
    servers: Callable[..., UvicornServer], make_backend: Callable[[], dict[str, Any]]
) -> None:
    """A client of server A broadcasts; a client of server B, another process, receives."""
    env = {"WSVIEWS_E2E_BACKEND": json.dumps(make_backend())}
    a, b = await asyncio.gather(
        asyncio.to_thread(servers, **env), asyncio.to_thread(servers, **env)
    )
    assert a.port != b.port
    async with (
        connect(a.url("/ws/room/e2e/")) as on_a,
        connect(b.url("/ws/room/e2e/")) as on_b,
        connect(b.url("/ws/room/other/")) as elsewhere,
    ):
        await on_a.send("say hello from A")
        assert await recv(on_b) == "hello from A"
        assert await recv(on_a) == "hello from A"
        await on_b.send("say hello from B")
        assert await recv(on_a) == "hello from B"
        assert await recv(on_b) == "hello from B"
        await on_a.send(b"\x00binary from A")
        assert await recv(on_b) == b"\x00binary from A"
        await elsewhere.send("say only the other room")
        assert await recv(elsewhere) == "only the other room"


async def test_the_in_memory_backend_reaches_only_its_own_process(
    servers: Callable[..., UvicornServer],
) -> None:
    """Without a shared backend each process reaches only its own members, without an error."""
    a, b = await asyncio.gather(asyncio.to_thread(servers), asyncio.to_thread(servers))
    async with (
        connect(a.url("/ws/room/alone/")) as on_a,
        connect(b.url("/ws/room/alone/")) as on_b,
    ):
        await on_a.send("say only in A")
        assert await recv(on_a) == "only in A"  # broadcast, and delivered in A
        await on_b.send("say only in B")
        # B's next message is its own: A's never came, and nothing failed.
        assert await recv(on_b) == "only in B"
        await on_a.send("say again in A")
        assert await recv(on_a) == "again in A"  # and B's never reached A


async def read_until_closed(ws: ClientConnection) -> None:
    """Read and drop messages until the connection closes (ConnectionClosed)."""
    while True:
        await recv(ws)


def slow_socket(port: int) -> socket.socket:
    """Return a socket connected to ``port`` with the smallest receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.connect(("127.0.0.1", port))
    return sock


async def test_slow_client_closed_while_1000_others_receive(
    servers: Callable[..., UvicornServer],
) -> None:
    """
    A client that never reads is closed with 1013 (and logged); 1,000 others get every message.

    The clients do not compress (a repeated payload would shrink to nothing),
    and the server's sockets have a 16 KiB send buffer: with the kernel's
    autotuning, a client that stops reading absorbs up to 4 MB before the
    server feels it, a gigabyte of traffic for the 1,000 others here.
    """
    server = await asyncio.to_thread(
        servers,
        send_buffer=16_384,
        WSVIEWS_E2E_QUEUE_SIZE="4",
        WSVIEWS_E2E_NO_MIDDLEWARE="1",
    )
    url = server.url("/ws/room/slow/")
    members = list(
        await asyncio.gather(*(connect(url, compression=None) for _ in range(1000)))
    )
    slow = await connect(
        url, sock=slow_socket(server.port), max_queue=1, compression=None
    )
    controller = members[0]
    assert server.output is not None
    payload = "x" * 16_384
    try:
        for n in range(100):
            await controller.send(f"say {n}:{payload}")
            received = await asyncio.gather(*(recv(ws) for ws in members))
            assert received == [f"{n}:{payload}"] * 1000
            if server.output.saw("with 1013"):
                break
        else:
            pytest.fail("The client that never reads was not closed.")
        line = server.output.wait_for("with 1013", T)
        assert "Closing WebSocket /ws/room/slow/ with 1013" in line

        with pytest.raises(ConnectionClosed) as closed:  # now read what was sent
            await read_until_closed(slow)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CloseCode.TRY_AGAIN_LATER

        await controller.send("say still here")  # the others keep receiving
        assert (
            await asyncio.gather(*(recv(ws) for ws in members)) == ["still here"] * 1000
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in [*members, slow]))
