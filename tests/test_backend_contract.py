"""
What every group backend promises: memory, Redis, PostgreSQL, NATS, Redis Cluster.

Each test states one promise of :class:`django_wsviews.backends.BaseBackend`
and its failure policy; the ``kit`` fixture runs it once per backend, the
``server_kit`` fixture once per backend that has a server. A backend
instance stands for one process. Redis, PostgreSQL and NATS are the shared test
servers (see ``tests/services.py``); the Redis Cluster is the session's own
(3 masters, started by the first test that needs it; its outages are in
``test_backends_redis_cluster.py``, since a relay cannot stand for a cluster
whose nodes tell clients each other's addresses). A server that goes away or stops
answering is played by :class:`Proxy`, a TCP relay between the backend and
the server. Without a server the tests skip, or fail under
``WSVIEWS_REQUIRE_SERVICES=1``. The protocol's own details (URLs, TLS,
Sentinel, splitting, command counts) are in ``test_backends_<name>.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from django_wsviews import BroadcastError
from django_wsviews.backends import BaseBackend
from django_wsviews.backends.memory import MemoryBackend

from .support.groups_support import Inbox, LogEvent, spare_port, unavailable
from .support.redis_cluster_support import RedisClusterNodes
from .support.services import nats_url, redis_url

T = 5.0


@dataclass
class Kit:
    """How to make one kind of backend in a test, and where its server is."""

    backend_class: type[BaseBackend]
    options: dict[str, Any]
    #: The server's address; None for a backend without a server.
    upstream: tuple[str, int] | None = None
    #: Return the OPTIONS that reach the server through 127.0.0.1:<port>.
    via: Callable[[int], dict[str, Any]] = lambda port: {}
    logger: str = ""
    made: list[BaseBackend] = field(default_factory=list)

    def make(self, on_message: Inbox | None = None, **options: Any) -> Any:
        """Return a new backend (a process of its own), closed after the test."""
        backend = self.backend_class({**self.options, **options}, on_message or Inbox())
        self.made.append(backend)
        return backend

    async def close(self) -> None:
        """Close every backend made."""
        for backend in self.made:
            await backend.close()


def memory_kit() -> Kit:
    """Return the kit of the in-memory backend."""
    return Kit(MemoryBackend, {})


def redis_kit() -> Kit:
    """Return the kit of the shared Redis server, or skip (fail) if it is unreachable."""
    import redis

    from django_wsviews.backends.redis import RedisBackend

    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"No Redis server at {url} ({exc}); set WSVIEWS_TEST_REDIS_URL")
    parts = urlsplit(url)

    def via(port: int) -> dict[str, Any]:
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
        return {"URL": urlunsplit(parts._replace(netloc=netloc))}

    return Kit(
        RedisBackend,
        {
            "URL": url,
            "PREFIX": f"wsviews-test-{uuid.uuid4().hex[:12]}",
            "RECONNECT_MAX_DELAY": 0.2,
        },
        upstream=(parts.hostname or "127.0.0.1", parts.port or 6379),
        via=via,
        logger="django_wsviews.backends.redis",
    )


def postgres_kit() -> Kit:
    """Return the kit of the test PostgreSQL server, or skip (fail) if it is unreachable."""
    import psycopg

    from django_wsviews.backends.postgres import PostgresBackend, connection_params

    name = {"application_name": f"wsviews-test-{uuid.uuid4().hex[:12]}"}
    options: dict[str, Any] = {
        "DATABASE": "wsviews_postgres",
        "PREFIX": f"t{uuid.uuid4().hex[:12]}",
        "CONNECTION_KWARGS": name,
        "RECONNECT_MAX_DELAY": 0.2,
    }
    params = connection_params(options)
    try:
        psycopg.connect(**params, autocommit=True).close()
    except psycopg.Error as exc:
        unavailable(
            f"No PostgreSQL server at {params.get('host')}:{params.get('port')} "
            f"({str(exc).strip()}); set WSVIEWS_TEST_POSTGRES_HOST, _PORT, _DB, "
            "_USER, _PASSWORD"
        )
    return Kit(
        PostgresBackend,
        options,
        upstream=(params.get("host") or "127.0.0.1", int(params.get("port") or 5432)),
        via=lambda port: {
            "CONNECTION_KWARGS": {**name, "host": "127.0.0.1", "port": port}
        },
        logger="django_wsviews.backends.postgres",
    )


def nats_kit() -> Kit:
    """Return the kit of the test NATS server, or skip (fail) if it is unreachable."""
    from django_wsviews.backends.nats import NatsBackend

    url = nats_url()
    parts = urlsplit(url)
    upstream = (parts.hostname or "127.0.0.1", parts.port or 4222)
    try:
        socket.create_connection(upstream, timeout=2).close()
    except OSError as exc:
        unavailable(f"No NATS server at {url} ({exc}); set WSVIEWS_TEST_NATS_URL")
    return Kit(
        NatsBackend,
        {
            "SERVERS": url,
            "PREFIX": f"wsviews-test-{uuid.uuid4().hex[:12]}",
            "RECONNECT_MAX_DELAY": 0.2,
        },
        upstream=upstream,
        via=lambda port: {"SERVERS": f"nats://127.0.0.1:{port}"},
        logger="django_wsviews.backends.nats",
    )


def redis_cluster_kit(nodes: RedisClusterNodes) -> Kit:
    """Return the kit of the Redis backend on a cluster of the test session's own."""
    from django_wsviews.backends.redis_cluster import RedisClusterBackend

    return Kit(
        RedisClusterBackend,
        {
            "URL": nodes.url,
            "PREFIX": f"wsviews-test-{uuid.uuid4().hex[:12]}",
            "RECONNECT_MAX_DELAY": 0.2,
        },
        logger="django_wsviews.backends.redis",
    )


KITS = {
    "memory": memory_kit,
    "redis": redis_kit,
    "postgres": postgres_kit,
    "nats": nats_kit,
}


@pytest.fixture(scope="session")
def cluster_nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterNodes]:
    """Start a Redis Cluster of 3 masters for the session's tests that use it."""
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("cluster"), replicas=0)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(params=["memory", "redis", "postgres", "nats", "redis-cluster"])
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    """Return the kit of each backend in turn; close its backends after the test."""
    if request.param == "redis-cluster":
        made = redis_cluster_kit(request.getfixturevalue("cluster_nodes"))
    else:
        made = KITS[request.param]()
    yield made
    await made.close()


@pytest.fixture(params=["redis", "postgres", "nats"])
async def server_kit(request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    """Return the kit of each backend that has a server; close its backends after."""
    made = KITS[request.param]()
    yield made
    await made.close()


class Proxy:
    """
    A TCP relay to a server, that can play the server's failures.

    :meth:`freeze` stops relaying, both ways, on every connection and on new
    ones: a server that stops answering (a paused VM, a network partition).
    :meth:`cut` closes every connection and closes new ones at once: a
    server that went away. :meth:`restore` relays again.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.down = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._close_all()
        await self._server.wait_closed()

    def freeze(self) -> None:
        """Stop relaying; hold what arrives."""
        self._flowing.clear()

    async def cut(self) -> None:
        """Close every connection, and each new one as it comes."""
        self.down = True
        await self._close_all()

    def restore(self) -> None:
        """Relay again, and accept connections."""
        self.down = False
        self._flowing.set()

    async def _close_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        if self.down:
            client_writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        server_writer: asyncio.StreamWriter | None = None
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
            pipes = [
                asyncio.ensure_future(self._pipe(client_reader, server_writer)),
                asyncio.ensure_future(self._pipe(server_reader, client_writer)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except asyncio.CancelledError:
            pass  # cut(): asyncio would log a cancelled connection handler
        finally:
            self._tasks.discard(task)
            client_writer.close()
            if server_writer is not None:
                server_writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()


# Delivery ----------------------------------------------------------------------------


async def test_publish_reaches_every_subscriber_in_order(kit: Kit) -> None:
    """Each subscribed process gets every message, in the order its sender published them."""
    one, two = Inbox(), Inbox()
    await kit.make(one).subscribe(["g"])
    await kit.make(two).subscribe(["g"])
    sender = kit.make()  # publishing needs neither connect() nor a subscription
    sent = [str(n).encode() for n in range(50)]
    for payload in sent:
        await sender.publish("g", payload)
    assert await one.wait_for(50) == sent
    assert await two.wait_for(50) == sent


async def test_a_failing_handler_is_logged_and_delivery_goes_on(
    server_kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    """A message the hub fails to take is logged with its traceback; the next one arrives."""
    inbox = Inbox()

    def take(payload: bytes) -> None:
        if payload == b"bad":
            raise ValueError("the hub refused it")
        inbox(payload)

    listener = server_kit.make(take)
    await listener.subscribe(["g"])
    sender = server_kit.make()
    with caplog.at_level(logging.ERROR, logger=server_kit.logger):
        await sender.publish("g", b"bad")
        await sender.publish("g", b"good")
        assert await inbox.wait_for(1) == [b"good"]
    [record] = [r for r in caplog.records if r.name == server_kit.logger]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Error handing a group message to the hub"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "the hub refused it"


async def test_only_subscribed_groups_delivered(kit: Kit) -> None:
    """A process gets the messages of its groups only, whoever else subscribed to others."""
    inbox = Inbox()
    await kit.make(inbox).subscribe(["mine"])
    await kit.make().subscribe(["theirs"])
    sender = kit.make()
    await sender.publish("theirs", b"not for me")
    await sender.publish("nobody", b"not for anyone")
    await sender.publish("mine", b"for me")
    assert await inbox.wait_for(1) == [b"for me"]


async def test_several_groups_in_one_subscribe(kit: Kit) -> None:
    """One subscribe() call takes several groups, all in place when it returns."""
    inbox = Inbox()
    await kit.make(inbox).subscribe(["a", "b", "c"])
    sender = kit.make()
    for group in ("a", "b", "c"):
        await sender.publish(group, group.encode())
    assert await inbox.wait_for(3) == [b"a", b"b", b"c"]


async def test_not_delivered_after_unsubscribe(kit: Kit) -> None:
    """After unsubscribe() (and a later subscribe() returned), the group's messages stop."""
    inbox = Inbox()
    receiver = kit.make(inbox)
    await receiver.subscribe(["a", "b"])
    await receiver.unsubscribe(["a"])
    await receiver.subscribe(["c"])  # in place once the server has had both
    sender = kit.make()
    await sender.publish("a", b"gone")
    await sender.publish("b", b"still")
    await sender.publish("c", b"new")
    assert await inbox.wait_for(2) == [b"still", b"new"]


async def test_payloads_arrive_byte_for_byte(kit: Kit) -> None:
    """Any bytes arrive unchanged: empty, every byte value, and far over NOTIFY's 8000."""
    inbox = Inbox()
    await kit.make(inbox).subscribe(["g"])
    sender = kit.make()
    sent = [
        b"",
        bytes(range(256)),
        b"\r\n\x00 end",
        os.urandom(8001),
        os.urandom(300_000),
    ]
    for payload in sent:
        await sender.publish("g", payload)
    assert await inbox.wait_for(len(sent)) == sent


# Lifecycle ---------------------------------------------------------------------------


async def test_connect_is_optional_and_repeatable(kit: Kit) -> None:
    """connect() may be called again, or not at all: subscribe() connects as needed."""
    inbox = Inbox()
    connected = kit.make(inbox)
    await connected.connect()
    await connected.connect()
    await connected.subscribe(["g"])
    unconnected = kit.make(inbox)
    await unconnected.subscribe(["g"])
    await kit.make().publish("g", b"x")
    assert await inbox.wait_for(2) == [b"x", b"x"]


async def test_close_is_idempotent(kit: Kit) -> None:
    """close() may be called before connecting, and again; it stops delivery."""
    await kit.make().close()
    inbox, witness = Inbox(), Inbox()
    receiver = kit.make(inbox)
    await receiver.subscribe(["g"])
    await kit.make(witness).subscribe(["g"])
    sender = kit.make()
    await sender.publish("g", b"before")
    assert await inbox.wait_for(1) == [b"before"]
    await asyncio.wait_for(receiver.close(), T)
    await asyncio.wait_for(receiver.close(), T)
    await sender.publish("g", b"after")
    assert await witness.wait_for(2) == [b"before", b"after"]
    await sender.close()
    await sender.close()
    assert inbox.payloads == [b"before"]


# The failure policy ---------------------------------------------------------------------


async def test_unreachable_server(server_kit: Kit) -> None:
    """With no server, connect() and (un)subscribe() return; publish() raises BroadcastError."""
    backend = server_kit.make(**server_kit.via(spare_port()), SUBSCRIBE_TIMEOUT=T)
    await asyncio.wait_for(backend.connect(), T)
    await asyncio.wait_for(backend.subscribe(["g"]), T)
    await backend.unsubscribe(["g"])
    with pytest.raises(BroadcastError, match=r"group 'g'.* is unreachable"):
        await backend.publish("g", b"x")


async def test_server_lost_and_back(server_kit: Kit) -> None:
    """The server goes away and comes back: subscriptions return, joins included; broadcasts fail, then work."""
    kit = server_kit
    assert kit.upstream is not None
    async with Proxy(kit.upstream) as proxy:
        inbox = Inbox()
        receiver = kit.make(inbox, **kit.via(proxy.port))
        publisher = kit.make(**kit.via(proxy.port))
        idle = kit.make(**kit.via(proxy.port))  # sends nothing during the outage
        await receiver.subscribe(["a"])
        await publisher.publish("a", b"before")
        await idle.publish("a", b"idle before")
        assert await inbox.wait_for(2) == [b"before", b"idle before"]

        with LogEvent(kit.logger, "retrying in") as lost:
            await proxy.cut()
            await lost.wait()
        await asyncio.wait_for(receiver.subscribe(["b"]), T)  # joined while down
        with pytest.raises(BroadcastError, match="unreachable"):
            await publisher.publish("a", b"lost")

        with LogEvent(kit.logger, "Reconnected to") as back:
            proxy.restore()
            await back.wait()
        await idle.publish("a", b"idle after")  # its first since the outage
        await publisher.publish("b", b"joined while down")
        assert (await inbox.wait_for(4))[2:] == [b"idle after", b"joined while down"]


async def test_close_bounded_when_server_stops_answering(server_kit: Kit) -> None:
    """close() returns within close_timeout when the server stops answering mid-command."""
    kit = server_kit
    assert kit.upstream is not None
    tasks = asyncio.all_tasks()
    async with Proxy(kit.upstream) as proxy:
        backend = kit.make(**kit.via(proxy.port), SUBSCRIBE_TIMEOUT=0.2)
        backend.close_timeout = 0.3
        await backend.subscribe(["a"])
        proxy.freeze()
        await backend.subscribe(["b"])  # unanswered: the listener waits in a command
        await asyncio.wait_for(backend.close(), backend.close_timeout + 1.0)
    # The proxy has closed the connections: what was left behind ends.
    left = asyncio.all_tasks() - tasks
    if left:
        await asyncio.wait(left, timeout=T)
