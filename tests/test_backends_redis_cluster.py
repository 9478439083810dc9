"""
The Redis backend on a Redis Cluster: sharded pub/sub, against a cluster of the test's own.

Each test starts 3 masters with a replica each (``redis-server
--cluster-enabled yes`` on spare ports, joined by ``redis-cli --cluster
create``, node timeout 1 s) and proves one thing: delivery, the command
count per broadcast on each node, delivery across two uvicorn processes, a
master killed and its replica promoted, a slot in use moved to another
master. Without redis-server the tests skip, or fail under
``WSVIEWS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from redis.cluster import key_slot
from websockets.asyncio.client import connect

from django_wsviews import BroadcastError
from django_wsviews.backends.redis import RedisBackend
from django_wsviews.backends.redis_cluster import (
    RedisClusterBackend,
    cluster_startup_nodes,
)

from .support.groups_support import Inbox, LogEvent, UvicornServer
from .support.redis_cluster_support import RedisClusterNodes

T = 5.0
LOGGER = "django_wsviews.backends.redis"
CLUSTER = "django_wsviews.backends.redis_cluster.RedisClusterBackend"
#: Seconds within which delivery resumes after a master is killed: the
#: cluster takes 1 s (its node timeout) to mark it failed, then promotes the
#: replica; the backend retries with backoff capped at 0.5 s in these tests.
FAILOVER_BOUND = 10.0


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[RedisClusterNodes]:
    """Start a cluster of 3 masters and 3 replicas; kill every node afterwards."""
    nodes = RedisClusterNodes(tmp_path)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
async def made() -> Any:
    """Return a list to put backends in; close them after the test."""
    backends: list[RedisClusterBackend] = []
    yield backends
    for backend in backends:
        await backend.close()


@pytest.fixture
def prefix() -> str:
    """Return a channel prefix of this test's own."""
    return f"t{uuid.uuid4().hex[:8]}"


def make(
    made: list[RedisClusterBackend],
    cluster: RedisClusterNodes,
    inbox: Inbox | None = None,
    **options: Any,
) -> Any:
    """Return a Redis backend on ``cluster``, closed after the test."""
    backend = RedisClusterBackend(
        {"URL": cluster.url, "RECONNECT_MAX_DELAY": 0.5, **options}, inbox or Inbox()
    )
    made.append(backend)
    return backend


# Configuration -------------------------------------------------------------------------


def test_redis_backend_refuses_a_cluster_url() -> None:
    """The Redis backend given a redis+cluster:// URL names the cluster backend to use."""
    with pytest.raises(
        ImproperlyConfigured, match=r"redis_cluster\.RedisClusterBackend"
    ):
        RedisBackend({"URL": "redis+cluster://10.0.0.1:7000"}, print)


def test_history_refused_on_a_cluster() -> None:
    """The Redis history store (one server) is not used on a cluster: history is refused."""
    from django_wsviews.history import store_for

    backend = RedisClusterBackend({"URL": "redis+cluster://10.0.0.1:7000"}, print)
    with pytest.raises(ImproperlyConfigured, match="has no history store"):
        store_for(backend)


def test_startup_nodes_parsed() -> None:
    """The URL's nodes, user, password and TLS scheme become redis-py's arguments."""
    assert cluster_startup_nodes(
        {"URL": "rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001"}
    ) == (
        [("10.0.0.1", 7000), ("::1", 7001)],
        {"username": "app", "password": "p@ss", "ssl": True},
    )
    assert cluster_startup_nodes({"STARTUP_NODES": [("a", 1), "b:2"]}) == (
        [("a", 1), ("b", 2)],
        {},
    )


@pytest.mark.parametrize(
    "options",
    [
        {"URL": "redis+cluster://"},
        {"URL": "redis+cluster://10.0.0.1"},
        {"STARTUP_NODES": "10.0.0.1:7000"},
        {"STARTUP_NODES": [("10.0.0.1",)]},
        {"STARTUP_NODES": ["10.0.0.1:port"]},
    ],
)
def test_bad_startup_nodes(options: dict[str, Any]) -> None:
    """A node without a port, or nodes not in a list, is ImproperlyConfigured naming the fix."""
    with pytest.raises(ImproperlyConfigured, match="host:port"):
        RedisClusterBackend(options, print)


def test_where_hides_password() -> None:
    """Errors and logs name the nodes, never the password."""
    backend = RedisClusterBackend(
        {"URL": "redis+cluster://:s3cret@10.0.0.1:7000"}, print
    )
    assert backend._where() == "Redis Cluster at 10.0.0.1:7000"


# On a cluster ----------------------------------------------------------------------------


async def test_delivery_across_shards(
    cluster: RedisClusterNodes, made: list[RedisClusterBackend], prefix: str
) -> None:
    """Groups on every shard reach every subscribed process, in order, bytes intact."""
    groups = [f"g{n}" for n in range(12)]
    owners = {cluster.owner(key_slot(f"{prefix}:{g}".encode())).port for g in groups}
    assert len(owners) == 3  # the groups span the three shards
    one, two = Inbox(), Inbox()
    await make(made, cluster, one, PREFIX=prefix).subscribe(groups)
    await make(made, cluster, two, PREFIX=prefix).subscribe(groups)
    sender = make(made, cluster, PREFIX=prefix)
    sent = []
    for n in range(3):
        for group in groups:
            payload = f"{group}/{n}".encode() + bytes(range(256))
            sent.append(payload)
            await sender.publish(group, payload)
    for inbox in (one, two):
        got = await inbox.wait_for(len(sent))
        assert sorted(got) == sorted(sent)
        for group in groups:  # each group in its sender's order
            mine = [p for p in got if p.startswith(f"{group}/".encode())]
            assert mine == [p for p in sent if p.startswith(f"{group}/".encode())]


async def test_one_spublish_on_the_owning_shard_only(
    cluster: RedisClusterNodes,
    made: list[RedisClusterBackend],
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """N broadcasts are N SPUBLISH on the owning master; the other masters see no (S)PUBLISH."""
    inbox = Inbox()
    await make(made, cluster, inbox, PREFIX=prefix).subscribe(["room"])
    sender = make(made, cluster, PREFIX=prefix)
    await sender.publish("room", b"warm-up")  # reads the slot map
    await inbox.wait_for(1)
    owner = cluster.owner(key_slot(f"{prefix}:room".encode()))
    for node in cluster.running():
        command(node, "CONFIG", "RESETSTAT")
    for n in range(10):
        await sender.publish("room", str(n).encode())
    await inbox.wait_for(11)
    counts = {}
    for node in cluster.running():
        stats = command(node, "INFO", "commandstats")
        role = command(node, "ROLE")[0]
        counts[(node.port, role)] = {
            name: stats.get(f"cmdstat_{name}", {}).get("calls", 0)
            for name in ("spublish", "publish")
        }
    masters = {
        port: c for (port, role), c in counts.items() if role in (b"master", "master")
    }
    assert masters.pop(owner.port) == {"spublish": 10, "publish": 0}
    assert list(masters.values()) == [{"spublish": 0, "publish": 0}] * 2
    with capsys.disabled():
        print(f"\nRedis Cluster, 10 broadcasts, (S)PUBLISH calls per node: {counts}")


def rooms_on_every_master(
    cluster: RedisClusterNodes, options: dict[str, Any], per_master: int
) -> list[str]:
    """
    Return room names whose groups (``room.<name>``) have their channel on each master, ``per_master`` on each.

    The channel is the backend's own (its ``_channel()``), hashed as the
    cluster hashes it.
    """
    channel = RedisClusterBackend(options, print)._channel
    masters = {node.port for node in cluster.running() if _is_master(node)}
    assert len(masters) == 3
    rooms: dict[int, list[str]] = {port: [] for port in masters}
    for n in range(200):
        room = f"r{n}"
        owner = cluster.owner(key_slot(channel(f"room.{room}"))).port
        if len(rooms[owner]) < per_master:
            rooms[owner].append(room)
        if all(len(names) == per_master for names in rooms.values()):
            return [room for names in rooms.values() for room in names]
    pytest.fail(f"No {per_master} rooms on each master among 200 names: {rooms}")


async def test_across_two_uvicorn_processes(
    cluster: RedisClusterNodes, prefix: str
) -> None:
    """A client of one uvicorn process broadcasts; clients of both get it, for groups on each of the 3 masters."""
    options = {"URL": cluster.url, "PREFIX": prefix}
    backend = json.dumps({"BACKEND": CLUSTER, "OPTIONS": options})
    rooms = rooms_on_every_master(cluster, options, per_master=2)
    servers = [UvicornServer(WSVIEWS_E2E_BACKEND=backend) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        sockets = {
            (room, n): await asyncio.wait_for(
                connect(server.url(f"/ws/room/{room}/")), T
            )
            for room in rooms
            for n, server in enumerate(servers)
        }
        for room in rooms:
            await sockets[(room, 0)].send(f"say hello {room}")
            for n in range(2):
                message = await asyncio.wait_for(sockets[(room, n)].recv(), T)
                assert message == f"hello {room}"
        for ws in sockets.values():
            await ws.close()
    finally:
        for server in servers:
            server.stop()


async def test_master_killed_replica_promoted(
    cluster: RedisClusterNodes,
    made: list[RedisClusterBackend],
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The owning master dies: its replica is promoted and delivery resumes within FAILOVER_BOUND."""
    inbox = Inbox(timeout=FAILOVER_BOUND)
    receiver = make(made, cluster, inbox, PREFIX=prefix)
    await receiver.subscribe(["room"])
    sender = make(made, cluster, PREFIX=prefix)
    await sender.publish("room", b"before")
    assert await inbox.wait_for(1) == [b"before"]
    owner = cluster.owner(key_slot(f"{prefix}:room".encode()))
    replica = cluster.replica_of(owner)

    with LogEvent(LOGGER, "No sharded pub/sub connection") as lost:
        owner.kill()
        killed = time.monotonic()
        await lost.wait()
    failures = 0
    while time.monotonic() - killed < FAILOVER_BOUND:
        try:
            await sender.publish("room", b"after")
        except BroadcastError:
            failures += 1
            await asyncio.sleep(0.1)
            continue
        if await _arrives(inbox, 2, 0.5):
            break
    resumed = time.monotonic() - killed
    assert inbox.payloads[1:] == [b"after"] * (len(inbox.payloads) - 1)
    assert len(inbox.payloads) >= 2, f"no delivery within {FAILOVER_BOUND} s"
    assert cluster.owner(key_slot(f"{prefix}:room".encode())).port == replica.port
    with capsys.disabled():
        print(
            f"\nRedis Cluster failover: delivery resumed {resumed:.1f} s after the "
            f"master was killed ({failures} broadcasts refused meanwhile)"
        )


async def test_slot_in_use_moved(
    cluster: RedisClusterNodes,
    made: list[RedisClusterBackend],
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Resharding moves the group's slot to another master: delivery goes on from the new owner."""
    inbox = Inbox()
    receiver = make(made, cluster, inbox, PREFIX=prefix)
    await receiver.subscribe(["room"])
    sender = make(made, cluster, PREFIX=prefix)
    await sender.publish("room", b"before")
    assert await inbox.wait_for(1) == [b"before"]
    slot = key_slot(f"{prefix}:room".encode())
    source = cluster.owner(slot)
    target = next(n for n in cluster.running() if n is not source and _is_master(n))
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)

    with LogEvent(LOGGER, "Reconnected to") as back:
        command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        moved = time.monotonic()
        for node in (target, source):  # no keys to move: hand the slot over
            command(node, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
        await back.wait()
    await sender.publish("room", b"after")  # MOVED, then the new owner
    assert await inbox.wait_for(2) == [b"before", b"after"]
    resumed = time.monotonic() - moved
    assert cluster.owner(slot).port == target.port
    with capsys.disabled():
        print(
            f"\nRedis Cluster resharding: delivery resumed {resumed:.2f} s after the move"
        )


def command(node: Any, *args: Any) -> Any:
    """Run one command on ``node`` with a client of its own; return the answer."""
    client = node.client(socket_timeout=T)
    try:
        return client.execute_command(*args)
    finally:
        client.close()


def _is_master(node: Any) -> bool:
    return command(node, "ROLE")[0] in (b"master", "master")


async def _arrives(inbox: Inbox, count: int, timeout: float) -> bool:
    """Return whether ``count`` payloads have arrived within ``timeout``."""

    async def until() -> None:
        while len(inbox.payloads) < count:
            inbox.changed.clear()
            await inbox.changed.wait()

    try:
        await asyncio.wait_for(until(), timeout)
    except asyncio.TimeoutError:
        return False
    return True
