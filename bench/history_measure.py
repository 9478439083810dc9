"""
Measure history: a broadcast with and without it, and a resume of 100 messages.

    .venv/bin/python bench/history_measure.py [--rounds 200] [--replay 100]

On each backend (in-memory; Redis, a ``redis-server`` of its own on a spare
port; PostgreSQL, the test server with tables of its own, dropped after):

1. A broadcast: the time ``abroadcast()`` takes, to a group with history
   and to one without (no members: the cost of publishing and storing).
   For Redis, the commands the server runs for each (``INFO
   commandstats``).
2. A resume of ``--replay`` messages: the time of the history read alone
   (:func:`django_wsviews.history.resume`), and of a whole reconnection
   through a real view and the test client: handshake with
   ``wsviews_last``, until the last replayed message is sent; beside the
   same handshake without ``wsviews_last`` followed by one plain broadcast
   received.

Handshakes skip the middleware (``WSVIEWS_MIDDLEWARE = []``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.support.history_settings"
os.environ["WSVIEWS_E2E_NO_MIDDLEWARE"] = "1"

import django  # noqa: E402

django.setup()

from django.test.utils import override_settings  # noqa: E402

from bench.groups_measure import start_redis  # noqa: E402
from django_wsviews import abroadcast, history  # noqa: E402
from django_wsviews.hub import get_hub  # noqa: E402
from django_wsviews.testing import WebSocketClient  # noqa: E402


def summary(times: list[float]) -> str:
    """Return median, p95 and min of ``times`` (ms)."""
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"median {statistics.median(ordered):.3f} ms, p95 {p95:.3f} ms, "
        f"min {ordered[0]:.3f} ms (n={len(ordered)})"
    )


async def timed(rounds: int, work: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Return the milliseconds each of ``rounds`` calls of ``work(n)`` takes."""
    times = []
    for n in range(rounds):
        start = time.perf_counter()
        await work(n)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def measure(label: str, rounds: int, replay: int, counts: Any = None) -> None:
    """Measure one backend, configured by the settings in force."""
    room = uuid.uuid4().hex[:8]
    group, plain = f"hist.{room}", f"plain.{room}"
    for name in (group, plain):  # connect the backend, make the tables
        await abroadcast(name, json={"n": -1})

    async def publish(name: str) -> list[float]:
        return await timed(rounds, lambda n: abroadcast(name, json={"n": n}))

    for name, kind in ((plain, "without history"), (group, "with history")):
        before = counts() if counts else None
        times = await publish(name)
        extra = ""
        if counts:
            after = counts()
            extra = ", per broadcast: " + ", ".join(
                f"{k} {(after[k] - before.get(k, 0)) / rounds:g}"
                for k in sorted(after)
                if after[k] != before.get(k, 0) and k != "info"
            )
        print(f"{label}, broadcast {kind}: {summary(times)}{extra}")

    client = WebSocketClient(timeout=30)
    path = f"/ws/hist/{room}/"
    async with client.connect(path) as ws:
        await abroadcast(group, json={"n": "mark"})
        seq = (await ws.receive_json())["seq"]
    for n in range(replay):
        await abroadcast(group, json={"n": n})
    backend = get_hub().backend
    reads = await timed(
        max(5, rounds // 10), lambda n: history.resume(backend, group, seq)
    )
    result = await history.resume(backend, group, seq)
    assert len(result.messages) == replay, len(result.messages)
    print(f"{label}, history read of {replay} messages: {summary(reads)}")

    async def resume_once(n: int) -> None:
        async with client.connect(path, last_seq=seq) as ws:
            for _ in range(replay):
                await ws.receive_json()

    async def plain_once(n: int) -> None:
        async with client.connect(f"/ws/plain-bench/{room}/") as ws:
            await abroadcast(plain, json={"n": n})
            await ws.receive_json()

    rounds_e2e = max(5, rounds // 10)
    print(
        f"{label}, reconnect resuming {replay} messages: "
        f"{summary(await timed(rounds_e2e, resume_once))}"
    )
    print(
        f"{label}, reconnect + one plain broadcast: "
        f"{summary(await timed(rounds_e2e, plain_once))}"
    )
    await get_hub().close()


async def main_async(rounds: int, replay: int) -> None:
    settings = {"WSVIEWS_HISTORY": {"hist.*": {"MAX_MESSAGES": max(replay, 100) * 2}}}
    with override_settings(**settings):
        await measure("in-memory", rounds, replay)

    import redis

    with tempfile.TemporaryDirectory() as directory:
        process, port = start_redis(directory)
        watcher = redis.Redis(port=port)

        def counts() -> dict[str, int]:
            stats = watcher.info("commandstats")
            return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}

        backend = {
            "BACKEND": "django_wsviews.backends.redis.RedisBackend",
            "OPTIONS": {"URL": f"redis://127.0.0.1:{port}/0"},
        }
        try:
            with override_settings(WSVIEWS_BACKEND=backend, **settings):
                await measure("redis", rounds, replay, counts)
        finally:
            watcher.close()
            process.kill()
            process.wait(10)

    prefix = f"b{uuid.uuid4().hex[:12]}"
    backend = {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": {"DATABASE": "wsviews_postgres", "PREFIX": prefix},
    }
    try:
        with override_settings(WSVIEWS_BACKEND=backend, **settings):
            await measure("postgres", rounds, replay)
    finally:
        import psycopg

        from django_wsviews.backends.postgres import connection_params

        params = connection_params({"DATABASE": "wsviews_postgres"})
        with psycopg.connect(**params, autocommit=True) as connection:
            connection.execute(
                f"DROP TABLE IF EXISTS {prefix}_history, {prefix}_history_epoch"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--replay", type=int, default=100)
    options = parser.parse_args()
    asyncio.run(main_async(options.rounds, options.replay))


if __name__ == "__main__":
    main()
