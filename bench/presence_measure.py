"""
Measure what presence costs, beside a plain broadcast, on each backend.

    .venv/bin/python bench/presence_measure.py [--rounds 200] [--backends memory,redis,postgres]

For each backend, the median and 95th percentile, in milliseconds, of:

1. ``abroadcast()`` of a small JSON message to a group: the plain broadcast
   that presence is compared with.
2. A presence join then leave of a user's first connection: the store's
   atomic check-and-set, then a ``wsviews.presence_diff`` broadcast, twice
   (the join and the leave).
3. The same for a second tab of a user already present: the store only, no
   broadcast (no diff is sent for a second tab).
4. One heartbeat: renewing the process's registration and sweeping the dead
   (nothing to sweep), what each process does every ``WSVIEWS_PRESENCE_TIMEOUT
   / 6`` seconds.
5. ``apresence()`` of a group of 100 members (the full list a view sends on
   connect).

Redis runs as a ``redis-server`` of its own on a spare port, so that the
commands it executes per operation can be counted (``INFO commandstats``);
PostgreSQL is the test server (``WSVIEWS_TEST_POSTGRES_*``, see the README).
A row whose server is missing is skipped, saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.support.groups_settings"

import django  # noqa: E402

django.setup()

from django.test.utils import override_settings  # noqa: E402

from django_wsviews import abroadcast, apresence  # noqa: E402
from django_wsviews.hub import get_hub  # noqa: E402
from django_wsviews.presence_tracker import get_tracker, shutdown  # noqa: E402
from tests.support.groups_support import RedisServer  # noqa: E402
from tests.support.services import postgres_database  # noqa: E402

_servers: list[RedisServer] = []


def summary(times: list[float]) -> str:
    """Return the median and 95th percentile of ``times`` (seconds) in ms."""
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered) * 1000:7.3f} ms, p95 {p95 * 1000:7.3f} ms"
    )


async def timed(rounds: int, operation: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Return the duration of ``operation(i)`` for each of ``rounds`` rounds, after 10 warm-ups."""
    for index in range(10):
        await operation(-1 - index)
    times = []
    for index in range(rounds):
        start = time.perf_counter()
        await operation(index)
        times.append(time.perf_counter() - start)
    return times


class RedisCommands:
    """Count the commands a Redis server executes, from ``INFO commandstats``."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def total(self) -> int:
        stats = self.client.info("commandstats")
        return sum(
            int(value["calls"])
            for name, value in stats.items()
            if name not in ("cmdstat_info",)
        )


async def measure(name: str, backend: dict[str, Any], rounds: int) -> None:
    """Print the figures of one backend."""
    counter = None
    if backend["BACKEND"].endswith("RedisBackend"):
        counter = RedisCommands(backend["OPTIONS"]["URL"])
    with override_settings(WSVIEWS_BACKEND=backend):
        group = f"bench.{uuid.uuid4().hex[:8]}"
        await get_hub().start()
        tracker = get_tracker()
        meta = '{"user_id": 1, "username": "ada"}'

        async def broadcast(index: int) -> None:
            await abroadcast(group, json={"text": "hello", "n": index})

        async def first_tab(index: int) -> None:
            await tracker.join(group, f"c{index}", f"user:{index}", meta)
            await tracker.leave(group, f"c{index}")

        await tracker.join(group, "resident", "user:0", meta)

        async def second_tab(index: int) -> None:
            await tracker.join(group, f"t{index}", "user:0", meta)
            await tracker.leave(group, f"t{index}")

        async def beat(index: int) -> None:
            await tracker.beat()

        rows = [
            ("abroadcast()", broadcast, 1),
            ("presence join + leave, first tab", first_tab, 1),
            ("presence join + leave, second tab", second_tab, 1),
        ]
        if tracker.shared:
            rows.append(("heartbeat + sweep", beat, 1))
        for label, operation, _ in rows:
            before = counter.total() if counter else 0
            times = await timed(rounds, operation)
            line = f"{name:8} {label:36} {summary(times)}"
            if counter:
                commands = (counter.total() - before) / (rounds + 10)
                line += f", {commands:.1f} Redis commands"
            print(line, flush=True)

        crowd = f"bench.{uuid.uuid4().hex[:8]}"
        for index in range(100):
            await tracker.join(crowd, f"m{index}", f"user:{index}", meta)
        times = await timed(rounds, lambda index: apresence(crowd))
        print(f"{name:8} {'apresence() of 100 members':36} {summary(times)}")
        for index in range(100):
            await tracker.leave(crowd, f"m{index}")
        await tracker.leave(group, "resident")
        await shutdown()
        await get_hub().close()


def redis_backend() -> dict[str, Any] | str:
    """Start a redis-server of our own; return its WSVIEWS_BACKEND, or why there is none."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    server = RedisServer(pathlib.Path(tempfile.mkdtemp(prefix="wsviews-bench-")))
    server.start()
    _servers.append(server)
    url = server.url
    return {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": url, "PREFIX": f"bench-{uuid.uuid4().hex[:8]}"},
    }


def postgres_backend() -> dict[str, Any] | str:
    """Return a PostgreSQL WSVIEWS_BACKEND, or why there is none."""
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
        return f"no PostgreSQL ({str(exc).strip()})"
    return {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": {
            "DATABASE": "wsviews_postgres",
            "PREFIX": f"b{uuid.uuid4().hex[:8]}",
        },
    }


def drop_postgres_tables(prefix: str) -> None:
    """Drop the presence tables the PostgreSQL run made."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--backends", default="memory,redis,postgres")
    args = parser.parse_args()
    makers: dict[str, Callable[[], dict[str, Any] | str]] = {
        "memory": lambda: {
            "BACKEND": "django_wsviews.backends.memory.MemoryBackend",
            "OPTIONS": {},
        },
        "redis": redis_backend,
        "postgres": postgres_backend,
    }
    for name in args.backends.split(","):
        backend = makers[name]()
        if isinstance(backend, str):
            print(f"{name:8} skipped: {backend}")
            continue
        try:
            asyncio.run(measure(name, backend, args.rounds))
        finally:
            if name == "postgres":
                drop_postgres_tables(backend["OPTIONS"]["PREFIX"])
            for server in _servers:
                server.kill()
                shutil.rmtree(server.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
