"""
Measure group broadcasts to 1,000 members in one process.

    .venv/bin/python bench/groups_measure.py [--members 1000] [--rounds 50]

1. In-memory backend: the time from calling ``abroadcast()`` until the
   1,000th member's view has handed the message to the ASGI server
   (``websocket.send``), through real views, ``receive_group()`` and the
   per-connection queues; the test client stands in for the server.
2. Redis backend, against a ``redis-server`` of its own on a spare port: the
   commands the server executes for one broadcast, counted twice, with
   ``INFO commandstats`` and with ``MONITOR``; and the time to reach the
   members through Redis.

Handshakes skip the middleware (``WSVIEWS_MIDDLEWARE = []``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.groups_settings"
os.environ["WSVIEWS_E2E_NO_MIDDLEWARE"] = "1"

import django  # noqa: E402

django.setup()

from django.test.utils import override_settings  # noqa: E402

from django_wsviews import abroadcast  # noqa: E402
from django_wsviews.hub import get_hub  # noqa: E402
from django_wsviews.testing import (  # noqa: E402
    WebSocketClient,
    WebSocketTestConnection,
    _Connecting,
)


class Timed(WebSocketTestConnection):
    """A test connection that counts the messages the view sends it."""

    counter: dict[str, Any]

    async def _app_send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            counter = self.counter
            counter["n"] += 1
            if counter["n"] == counter["target"]:
                counter["last"] = time.perf_counter()
                counter["done"].set()
            return  # dropped: nobody reads them
        await super()._app_send(message)


async def open_members(count: int, path: str) -> tuple[list[Timed], dict[str, Any]]:
    """Open ``count`` members of ``path``'s group; return them and their shared counter."""
    client = WebSocketClient(timeout=30)
    counter: dict[str, Any] = {"n": 0, "target": count, "done": asyncio.Event()}
    members = []
    for _ in range(count):
        connection = Timed(client.application, client._scope(path, None, ()), 30)
        connection.counter = counter
        members.append(connection)
    await asyncio.gather(*(_Connecting(m) for m in members))
    return members, counter


async def time_broadcasts(
    group: str, counter: dict[str, Any], rounds: int
) -> list[float]:
    """Return, per round, milliseconds from abroadcast() to the last member's send."""
    times = []
    for n in range(rounds):
        counter["n"] = 0
        counter["done"] = asyncio.Event()
        start = time.perf_counter()
        await abroadcast(group, f"round {n}")
        await asyncio.wait_for(counter["done"].wait(), 30)
        times.append((counter["last"] - start) * 1000)
    return times


def summary(times: list[float]) -> str:
    """Return median, p95 and min of ``times`` (ms)."""
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"median {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms, "
        f"min {ordered[0]:.2f} ms over {len(ordered)} broadcasts"
    )


async def memory(members_count: int, rounds: int) -> None:
    """Measure the in-memory fan-out."""
    members, counter = await open_members(members_count, "/ws/room/bench/")
    await time_broadcasts("room.bench", counter, 5)  # warm-up
    times = await time_broadcasts("room.bench", counter, rounds)
    print(f"in-memory, {members_count} members: {summary(times)}")
    await asyncio.gather(*(m.close() for m in members))


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start a redis-server on a spare port; return it and the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            directory,
        ],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.05)
    client.close()
    return process, port


def monitor(
    port: int, seen: list[str], ready: threading.Event, stop: threading.Event
) -> None:
    """Record every command the server runs, with MONITOR, until ``stop``."""
    import redis

    client = redis.Redis(port=port)
    with client.monitor() as m:
        ready.set()
        for command in m.listen():
            text = command["command"]
            if "wsviews-monitor-stop" in text:
                break
            seen.append(text)
    stop.set()
    client.close()


async def redis_backend(members_count: int, rounds: int) -> None:
    """Count Redis commands per broadcast and time the delivery through Redis."""
    import redis

    with tempfile.TemporaryDirectory() as directory:
        process, port = start_redis(directory)
        try:
            backend = {
                "BACKEND": "django_wsviews.backends.redis.RedisBackend",
                "OPTIONS": {"URL": f"redis://127.0.0.1:{port}/0"},
            }
            with override_settings(WSVIEWS_BACKEND=backend):
                members, counter = await open_members(members_count, "/ws/room/bench/")
                watcher = redis.Redis(port=port)

                def calls() -> dict[str, int]:
                    stats = watcher.info("commandstats")
                    return {
                        k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()
                    }

                def delta(
                    before: dict[str, int], after: dict[str, int]
                ) -> dict[str, int]:
                    changed = {k: after[k] - before.get(k, 0) for k in after}
                    return {k: v for k, v in changed.items() if v and k != "info"}

                subscriptions = watcher.pubsub_numsub("wsviews:room.bench")[0][1]
                print(
                    f"redis, {members_count} members: {subscriptions} subscription(s) "
                    "to the group's channel"
                )
                for label in ("first broadcast of the process", "next broadcast"):
                    before = calls()
                    counter["n"] = 0
                    counter["done"] = asyncio.Event()
                    await abroadcast("room.bench", label)
                    await asyncio.wait_for(counter["done"].wait(), 30)
                    print(
                        f"redis, INFO commandstats, {label}: {delta(before, calls())}"
                    )

                seen: list[str] = []
                ready, stop = threading.Event(), threading.Event()
                thread = threading.Thread(
                    target=monitor, args=(port, seen, ready, stop)
                )
                thread.start()
                ready.wait(10)
                counter["n"] = 0
                counter["done"] = asyncio.Event()
                await abroadcast("room.bench", "monitored")
                await asyncio.wait_for(counter["done"].wait(), 30)
                watcher.echo("wsviews-monitor-stop")
                await asyncio.to_thread(stop.wait, 10)
                thread.join(10)
                commands = [c.split(" ")[0] for c in seen]
                print(
                    f"redis, MONITOR, one broadcast: {len(commands)} command(s): {commands}"
                )

                times = await time_broadcasts("room.bench", counter, rounds)
                print(
                    f"redis, {members_count} members, through Redis: {summary(times)}"
                )
                watcher.close()
                await asyncio.gather(*(m.close() for m in members))
                await get_hub().close()
        finally:
            process.kill()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    options = parser.parse_args()
    asyncio.run(memory(options.members, options.rounds))
    asyncio.run(redis_backend(options.members, options.rounds))


if __name__ == "__main__":
    main()
