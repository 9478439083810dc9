"""
What every presence store promises, run against memory, Redis and PostgreSQL.

A store instance stands for one process. Redis and PostgreSQL are the shared
test servers (see ``tests/support/services.py``), each test with a prefix of
its own; without a server the tests skip, or fail under
``WSVIEWS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from django_wsviews.backends.presence_memory import MemoryPresenceStore
from django_wsviews.backends.presence_store import Departure, PresenceStore

from .support.groups_support import unavailable
from .support.redis_cluster_support import RedisClusterNodes
from .support.services import postgres_database, redis_url

T = 10.0
META = json.dumps({"username": "ada"})

Make = Callable[..., PresenceStore]


def redis_options() -> dict[str, Any]:
    """Return Redis OPTIONS with a prefix of the test's own, or skip (fail)."""
    import redis

    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"No Redis server at {url} ({exc}); set WSVIEWS_TEST_REDIS_URL")
    return {"URL": url, "PREFIX": f"presence-{uuid.uuid4().hex[:12]}"}


def postgres_options() -> dict[str, Any]:
    """Return PostgreSQL OPTIONS with a prefix of the test's own, or skip (fail)."""
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
        unavailable(f"No PostgreSQL server ({str(exc).strip()})")
    return {"DATABASE": "wsviews_postgres", "PREFIX": f"p{uuid.uuid4().hex[:12]}"}


def _drop_postgres_tables(prefix: str) -> None:
    import psycopg

    database = postgres_database()
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
        autocommit=True,
    ) as connection:
        connection.execute(f"DROP TABLE IF EXISTS {prefix}_presence")
        connection.execute(f"DROP TABLE IF EXISTS {prefix}_presence_procs")


def _drop_redis_keys(options: dict[str, Any]) -> None:
    import redis

    client = redis.Redis.from_url(options["URL"])
    keys = list(client.scan_iter(match="{" + options["PREFIX"] + ":presence}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def presence_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterNodes]:
    """Start a Redis Cluster of 3 masters for the session's presence tests."""
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("presence-cluster"), replicas=0)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(params=["memory", "redis", "postgres", "redis-cluster"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Return a function that makes a store (one "process"); close them all after."""
    kind = request.param
    made: list[PresenceStore] = []
    options: dict[str, Any] = {}
    if kind == "redis-cluster":
        from django_wsviews.backends.presence_redis import RedisClusterPresenceStore

        nodes = request.getfixturevalue("presence_cluster")
        options = {"URL": nodes.url, "PREFIX": f"presence-{uuid.uuid4().hex[:12]}"}
        store_class: type[PresenceStore] = RedisClusterPresenceStore
    elif kind == "redis":
        from django_wsviews.backends.presence_redis import RedisPresenceStore

        options = redis_options()
        store_class = RedisPresenceStore
    elif kind == "postgres":
        from django_wsviews.backends.presence_postgres import PostgresPresenceStore

        options = postgres_options()
        store_class = PostgresPresenceStore
    else:
        store_class = MemoryPresenceStore

    def make_store(ttl: float = 30.0) -> PresenceStore:
        store = store_class(options, uuid.uuid4().hex, ttl)
        made.append(store)
        return store

    yield make_store
    for store in made:
        await store.close()
    if kind == "postgres":
        await asyncio.to_thread(_drop_postgres_tables, options["PREFIX"])
    elif kind == "redis":
        await asyncio.to_thread(_drop_redis_keys, options)


def _group() -> str:
    return f"room.{uuid.uuid4().hex[:8]}"


async def test_first_join_and_last_leave_of_a_key(make: Make) -> None:
    """Three connections of one key: only the first join and the last leave say so."""
    store = make()
    await store.heartbeat()
    group = _group()
    assert await store.join(group, "c1", "user:1", META) is True
    assert await store.join(group, "c2", "user:1", META) is False
    assert await store.join(group, "c3", "user:1", "{}") is False
    assert await store.join(group, "c4", "user:2", "{}") is True
    assert await store.members(group) == {
        "user:1": {"c1": {"username": "ada"}, "c2": {"username": "ada"}, "c3": {}},
        "user:2": {"c4": {}},
    }
    assert await store.leave(group, "c1", "user:1") is False
    assert await store.leave(group, "c3", "user:1") is False
    assert await store.leave(group, "c2", "user:1") is True
    assert await store.members(group) == {"user:2": {"c4": {}}}
    assert await store.leave(group, "c4", "user:2") is True
    assert await store.members(group) == {}


async def test_repeated_join_and_unknown_leave_change_nothing(make: Make) -> None:
    """A connection joined twice counts once; leaving one that is not there says False."""
    store = make()
    await store.heartbeat()
    group = _group()
    assert await store.join(group, "c1", "user:1", META) is True
    assert await store.join(group, "c1", "user:1", META) is False
    assert await store.leave(group, "nobody", "user:1") is False
    assert await store.leave(group, "c1", "user:1") is True
    assert await store.leave(group, "c1", "user:1") is False
    assert await store.members(group) == {}


async def test_groups_are_separate(make: Make) -> None:
    """A key's first connection is counted per group."""
    store = make()
    await store.heartbeat()
    a, b = _group(), _group()
    assert await store.join(a, "c1", "user:1", "{}") is True
    assert await store.join(b, "c1", "user:1", "{}") is True
    assert await store.leave(a, "c1", "user:1") is True
    assert await store.members(b) == {"user:1": {"c1": {}}}


async def test_concurrent_joins_from_two_processes_have_one_first(make: Make) -> None:
    """Six tabs of one user joining at once from two processes: exactly one is first."""
    one, two = make(), make()
    await asyncio.gather(one.heartbeat(), two.heartbeat())
    group = _group()
    results = await asyncio.gather(
        *(
            store.join(group, f"c{index}", "user:7", "{}")
            for index, store in enumerate([one, two] * 3)
        )
    )
    assert sorted(results) == [False] * 5 + [True]
    leaves = await asyncio.gather(
        *(
            store.leave(group, f"c{index}", "user:7")
            for index, store in enumerate([one, two] * 3)
        )
    )
    assert sorted(leaves) == [False] * 5 + [True]
    assert await one.members(group) == {}


async def wait_for_departures(
    store: PresenceStore, timeout: float = T
) -> list[Departure]:
    """Sweep until the sweep finds departures; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await store.sweep()
        if found:
            return found
        if loop.time() > deadline:
            pytest.fail(f"No departures within {timeout} s")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("make", ["redis", "postgres", "redis-cluster"], indirect=True)
async def test_a_dead_process_is_swept_exactly_once(make: Make) -> None:
    """A process that stops beating is removed by one of two sweepers, with its departures."""
    dead, one, two = make(ttl=2), make(ttl=30), make(ttl=30)
    await asyncio.gather(dead.heartbeat(), one.heartbeat(), two.heartbeat())
    group = _group()
    await dead.join(group, "d1", "user:1", META)
    await dead.join(group, "d2", "user:1", META)
    await dead.join(group, "d3", "user:2", "{}")
    await one.join(group, "o1", "user:2", "{}")  # user 2 stays: another tab lives
    await dead.join(group, "d4", "conn:d4", "{}")
    await dead.heartbeat()  # its last: alive for 2 s more, then dead
    assert await one.sweep() == []
    assert await two.sweep() == []
    found = await wait_for_departures(one)
    # The other survivor, sweeping after, finds nothing left to do.
    assert await two.sweep() == []
    assert found == [
        Departure(group, "conn:d4", {"d4": {}}),
        Departure(
            group, "user:1", {"d1": {"username": "ada"}, "d2": {"username": "ada"}}
        ),
    ]
    assert await two.members(group) == {"user:2": {"o1": {}}}


@pytest.mark.parametrize("make", ["redis", "postgres", "redis-cluster"], indirect=True)
async def test_concurrent_sweeps_report_each_departure_once(make: Make) -> None:
    """Three survivors sweeping at the same moment: the departures are reported once in all."""
    dead = make(ttl=0.3)
    survivors = [make(ttl=30) for _ in range(3)]
    await asyncio.gather(dead.heartbeat(), *(s.heartbeat() for s in survivors))
    group = _group()
    for index in range(5):
        await dead.join(group, f"d{index}", f"user:{index}", "{}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + T
    reported: list[Departure] = []
    while not reported:
        assert loop.time() < deadline, "no sweep found the dead process"
        results = await asyncio.gather(*(s.sweep() for s in survivors))
        reported = [d for result in results for d in result]
        await asyncio.sleep(0.02)
    assert sorted(d.key for d in reported) == [f"user:{i}" for i in range(5)]
    assert await survivors[0].members(group) == {}


@pytest.mark.parametrize("make", ["redis", "postgres", "redis-cluster"], indirect=True)
async def test_a_lapsed_process_is_not_listed_before_any_sweep(make: Make) -> None:
    """Once a process's registration lapses its entries are not listed, though nobody swept them (every server gone): a later sweep still reports them."""
    dead, reader = make(ttl=0.3), make(ttl=30)
    await dead.heartbeat()
    group = _group()
    await dead.join(group, "d1", "user:1", "{}")
    assert await reader.members(group) == {"user:1": {"d1": {}}}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + T
    while await reader.members(group) != {}:
        assert loop.time() < deadline, "the lapsed process is still listed"
        await asyncio.sleep(0.02)
    assert await reader.sweep() == [Departure(group, "user:1", {"d1": {}})]
    assert await reader.members(group) == {}


@pytest.mark.parametrize("make", ["redis", "postgres", "redis-cluster"], indirect=True)
async def test_a_swept_process_learns_it_at_its_next_heartbeat(make: Make) -> None:
    """A heartbeat after being swept answers True (the caller enters its connections again)."""
    slow, survivor = make(ttl=0.3), make(ttl=30)
    assert await slow.heartbeat() is True  # the first registration
    assert await slow.heartbeat() is False
    await survivor.heartbeat()
    group = _group()
    await slow.join(group, "s1", "user:1", "{}")
    await wait_for_departures(survivor)
    assert await slow.heartbeat() is True
    assert await slow.join(group, "s1", "user:1", "{}") is True


@pytest.mark.parametrize("make", ["redis", "postgres", "redis-cluster"], indirect=True)
async def test_unregister_removes_what_is_left(make: Make) -> None:
    """Unregistering reports the departures of entries still there, and removes them."""
    store, other = make(), make()
    await asyncio.gather(store.heartbeat(), other.heartbeat())
    group = _group()
    await store.join(group, "c1", "user:1", "{}")
    await other.join(group, "c2", "user:2", "{}")
    assert await store.unregister() == [Departure(group, "user:1", {"c1": {}})]
    assert await other.members(group) == {"user:2": {"c2": {}}}
    assert await other.sweep() == []
