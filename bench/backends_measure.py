"""
Broadcast latency to 1,000 members across two processes, for each group backend side by side.

    .venv/bin/python bench/backends_measure.py [--members 1000] [--rounds 20]
        [--backends redis,redis-cluster,postgres,nats]

For each backend: a server of its own on spare ports (``redis-server``; a
Redis Cluster of 3 masters; ``nats-server``; PostgreSQL is the test server,
``WSVIEWS_TEST_POSTGRES_*``), two uvicorn processes serving the group test
views with that backend, and ``--members`` WebSocket clients (the real
``websockets`` client), half on each process, all in room ``bench``. Each
round, one member of process A sends ``say <k>``; the view broadcasts it
(one publish), each process's subscriber hands it to its members. Measured:
the time from sending the trigger until the last member has it, as the
clients see it (their reading shares this process's loop, as a browser's
would not: an upper bound), and the same for the members of process B only,
the ones the message reaches through the backend's server. Median and p90
over the rounds, after two warm-up rounds; the backends take turns, one
round each, so that the machine's load falls on them alike.

Handshakes skip the middleware. Numbers from a shared machine vary; compare
the rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from tests.support.groups_support import RedisServer, UvicornServer  # noqa: E402
from tests.support.nats_support import NatsServer  # noqa: E402
from tests.support.redis_cluster_support import RedisClusterNodes  # noqa: E402


def redis(stack: ExitStack) -> dict[str, Any]:
    """Start a redis-server; return its backend OPTIONS."""
    server = RedisServer(
        pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
    )
    server.start()
    stack.callback(server.kill)
    return {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": server.url},
    }


def redis_cluster(stack: ExitStack) -> dict[str, Any]:
    """Start a Redis Cluster of 3 masters; return its backend OPTIONS."""
    nodes = RedisClusterNodes(
        pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory())), replicas=0
    )
    stack.callback(nodes.stop)
    nodes.start()
    return {
        "BACKEND": "django_wsviews.backends.redis_cluster.RedisClusterBackend",
        "OPTIONS": {"URL": nodes.url},
    }


def nats(stack: ExitStack) -> dict[str, Any]:
    """Start a nats-server; return its backend OPTIONS."""
    server = NatsServer()
    server.start()
    stack.callback(server.kill)
    return {
        "BACKEND": "django_wsviews.backends.nats.NatsBackend",
        "OPTIONS": {"SERVERS": server.url},
    }


def postgres(stack: ExitStack) -> dict[str, Any]:
    """Return the backend OPTIONS of the test PostgreSQL server."""
    return {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": {"DATABASE": "wsviews_postgres"},
    }


BACKENDS: dict[str, Callable[[ExitStack], dict[str, Any]]] = {
    "redis": redis,
    "redis-cluster": redis_cluster,
    "postgres": postgres,
    "nats": nats,
}


async def one_round(
    members: list[tuple[int, ClientConnection]], trigger: ClientConnection, text: str
) -> tuple[float, float]:
    """Broadcast ``text`` once; return (ms until every member has it, ms until every member of B has it)."""
    arrived: dict[int, float] = {}

    async def receive(index: int, ws: ClientConnection) -> None:
        while (await asyncio.wait_for(ws.recv(), 30)) != text:
            pass
        arrived[index] = time.perf_counter()

    readers = [
        asyncio.ensure_future(receive(i, ws)) for i, (_, ws) in enumerate(members)
    ]
    await asyncio.sleep(0)  # every reader waits before the trigger goes
    started = time.perf_counter()
    await trigger.send(f"say {text}")
    await asyncio.gather(*readers)
    on_b = [arrived[i] for i, (process, _) in enumerate(members) if process == 1]
    return (max(arrived.values()) - started) * 1e3, (max(on_b) - started) * 1e3


async def open_backend(
    setting: dict[str, Any], members: int, stack: ExitStack
) -> list[tuple[int, ClientConnection]]:
    """Start two uvicorn processes on ``setting``; return ``members`` clients, half on each."""
    setting["OPTIONS"]["PREFIX"] = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        "WSVIEWS_E2E_BACKEND": json.dumps(setting),
        "WSVIEWS_E2E_NO_MIDDLEWARE": "1",
        "DJANGO_SETTINGS_MODULE": "tests.support.groups_settings",
    }
    servers = [UvicornServer(**env) for _ in range(2)]
    for server in servers:
        stack.callback(server.stop)
        server.start()
    sockets: list[tuple[int, ClientConnection]] = []
    for n in range(members):
        process = n % 2
        ws = await connect(servers[process].url("/ws/room/bench/"), max_queue=None)
        sockets.append((process, ws))
    return sockets


async def measure(
    settings: dict[str, dict[str, Any]], members: int, rounds: int, stack: ExitStack
) -> list[dict[str, Any]]:
    """
    Measure every backend; return their figures.

    The rounds of the backends alternate (one round of each, then the next),
    so that a change in the machine's load falls on all of them alike.
    """
    clients = {
        name: await open_backend(setting, members, stack)
        for name, setting in settings.items()
    }
    every: dict[str, list[float]] = {name: [] for name in clients}
    far: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for k in range(rounds + 2):
            for name, sockets in clients.items():
                total, other = await one_round(sockets, sockets[0][1], f"m-{k}")
                if k >= 2:  # two warm-up rounds: connections, caches
                    every[name].append(total)
                    far[name].append(other)
    finally:
        for sockets in clients.values():
            await asyncio.gather(
                *(ws.close() for _, ws in sockets), return_exceptions=True
            )
    return [
        {
            "backend": name,
            "p50_all_ms": statistics.median(every[name]),
            "p90_all_ms": statistics.quantiles(every[name], n=10)[-1],
            "p50_process_b_ms": statistics.median(far[name]),
        }
        for name in clients
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--json", type=pathlib.Path, help="also write the figures here")
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    os.chdir(ROOT)
    with ExitStack() as stack:
        settings = {name: BACKENDS[name](stack) for name in options.backends.split(",")}
        results = asyncio.run(measure(settings, options.members, options.rounds, stack))
    print(
        f"\nBroadcast to {options.members} members, half in each of two uvicorn "
        f"processes ({options.rounds} rounds)\n"
    )
    print(
        "| backend | every member, median | every member, p90 | process B's members, median |"
    )
    print("|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['p50_all_ms']:.1f} ms | {r['p90_all_ms']:.1f} ms "
            f"| {r['p50_process_b_ms']:.1f} ms |"
        )
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
