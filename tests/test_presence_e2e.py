"""
Presence end to end: three uvicorn processes sharing Redis, then PostgreSQL.

Three tabs of one user (two on server A, one on B) and three other users;
every process lists the same members. Then A is killed with SIGKILL: the
survivors remove its connections within ``WSVIEWS_PRESENCE_TIMEOUT`` and
every surviving member hears one leave, for the user who was only on A, and
none for the user who still has a tab on B.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from .support.groups_support import UvicornServer
from .test_groups_e2e import postgres_backend, redis_backend

#: The presence timeout the servers run with, in seconds.
PRESENCE_TIMEOUT = 6.0
T = 15.0


class Tab:
    """A browser tab: a WebSocket whose messages a task collects as they come."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[str] = []
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            self.messages.append(str(message))
            self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = T) -> None:
        """Wait until ``predicate()`` holds, as messages come; fail after ``timeout``."""

        async def until() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"Not within {timeout} s; messages: {self.messages}")

    def events(self, side: str, key: str) -> list[dict[str, Any]]:
        """Return the presence diffs received so far with ``key`` in ``joins`` or ``leaves``."""
        found = []
        for message in self.messages:
            if message.startswith("{"):
                event = json.loads(message)
                if event.get("event") == "wsviews.presence_diff" and key in event[side]:
                    found.append(event)
        return found

    async def members(self) -> dict[str, int]:
        """Ask this tab's server for the room's members: key -> connection count."""
        before = len(self.messages)
        await self.ws.send("list")
        answer: list[dict[str, Any]] = []

        def answered() -> bool:
            for message in self.messages[before:]:
                if message.startswith('{"list"'):
                    answer.append(json.loads(message)["list"])
                    return True
            return False

        await self.wait_for(answered)
        return {key: len(connections) for key, connections in answer[0].items()}

    async def close(self) -> None:
        self._task.cancel()
        await self.ws.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., UvicornServer]]:
    """Return a function that starts a presence server; stop (or reap) them after."""
    started: list[UvicornServer] = []

    def start(**env: str) -> UvicornServer:
        server = UvicornServer()
        server.env.update(
            DJANGO_SETTINGS_MODULE="tests.support.presence_settings",
            WSVIEWS_E2E_PRESENCE_TIMEOUT=str(PRESENCE_TIMEOUT),
            **env,
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def _drop_tables(prefix: str) -> None:
    import psycopg

    from .support.services import postgres_database

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


@pytest.mark.parametrize(
    "make_backend", [redis_backend, postgres_backend], ids=["redis", "postgres"]
)
async def test_presence_across_processes_survives_a_kill(
    servers: Callable[..., UvicornServer], make_backend: Callable[[], dict[str, Any]]
) -> None:
    """Three processes agree on the members; after kill -9 of one, the others converge."""
    backend = make_backend()
    env = {"WSVIEWS_E2E_BACKEND": json.dumps(backend)}
    a, b, c = await asyncio.gather(
        *(asyncio.to_thread(servers, **env) for _ in range(3))
    )
    room = f"/ws/presence/r{uuid.uuid4().hex[:8]}/"

    async def tab(server: UvicornServer, user: int) -> Tab:
        return Tab(await connect(server.url(f"{room}?user={user}")))

    tabs: list[Tab] = []
    try:
        watcher_b = await tab(b, 3)
        watcher_c = await tab(c, 4)
        tabs += [watcher_b, watcher_c]
        ada_a1, ada_b, ada_a2 = await tab(a, 1), await tab(b, 1), await tab(a, 1)
        bob_a = await tab(a, 2)
        tabs += [ada_a1, ada_b, ada_a2, bob_a]
        # A barrier: broadcast after every join, so every diff precedes it.
        await watcher_b.ws.send("say m1")
        for watcher in (watcher_b, watcher_c, ada_b):
            await watcher.wait_for(lambda w=watcher: "m1" in w.messages)  # type: ignore[misc]
            assert len(watcher.events("joins", "user:1")) == (
                0 if watcher is ada_b else 1
            )
            assert len(watcher.events("joins", "user:2")) == 1
            assert watcher.events("leaves", "user:1") == []
        everyone = {"user:1": 3, "user:2": 1, "user:3": 1, "user:4": 1}
        for on in (ada_a1, watcher_b, watcher_c):
            assert await on.members() == everyone

        assert a.process is not None
        a.process.kill()  # SIGKILL: no cleanup
        killed_at = time.monotonic()
        a.process.wait(10)
        a.process = None
        for watcher in (watcher_b, watcher_c, ada_b):
            await watcher.wait_for(
                lambda w=watcher: bool(w.events("leaves", "user:2"))  # type: ignore[misc]
            )
        elapsed = time.monotonic() - killed_at
        # The documented bound, 1/2 + 1/6 of the timeout (a lapsed
        # registration, then the next beat), and a second for the survivors'
        # own scheduling and the diff's way to the clients.
        bound = PRESENCE_TIMEOUT * (1 / 2 + 1 / 6) + 1.0
        assert elapsed < bound, f"converged in {elapsed:.2f} s"

        await watcher_b.ws.send("say m2")
        for watcher in (watcher_b, watcher_c, ada_b):
            await watcher.wait_for(lambda w=watcher: "m2" in w.messages)  # type: ignore[misc]
            (left,) = watcher.events(
                "leaves", "user:2"
            )  # once, though two survivors sweep
            assert len(left["leaves"]["user:2"]["connections"]) == 1
            assert watcher.events("leaves", "user:1") == []  # a tab on B lives
        survivors = {"user:1": 1, "user:3": 1, "user:4": 1}
        assert await watcher_b.members() == survivors
        assert await watcher_c.members() == survivors
    finally:
        for open_tab in tabs:
            with contextlib.suppress(OSError):  # a tab of the killed server
                await asyncio.wait_for(open_tab.close(), T)
        if backend["BACKEND"].endswith("PostgresBackend"):
            await asyncio.to_thread(_drop_tables, backend["OPTIONS"]["PREFIX"])
