"""
History and resume end to end: real uvicorn processes, real WebSocket clients (websockets).

On each backend: a client disconnects, 20 messages are broadcast by another
process (a second uvicorn; with the in-memory backend, which reaches one
process, another connection to the same server), the client reconnects
with its last seq and gets exactly those 20, in order, then live ones. A
trimmed history and a lost one (a Redis restarted without persistence, a
PostgreSQL table truncated, a restarted in-memory server) give a reset.
And two processes broadcast at once while a client resumes.

Redis is a ``redis-server`` of the test's own (it is restarted); PostgreSQL
the shared server, with a table prefix of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from django_wsviews.backends.history_base import Seq

from .support.groups_support import RedisServer, UvicornServer
from .test_groups_e2e import postgres_backend

T = 15.0
HISTORY_SIZE = 50
RESET = {"event": "wsviews.reset"}


async def recv_json(ws: ClientConnection, timeout: float = T) -> Any:
    """Return the next message, decoded, or fail after ``timeout`` seconds."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def offsets_of(ws: ClientConnection, count: int) -> tuple[list[int], str]:
    """Receive ``count`` group messages; return their offsets and the last seq."""
    offsets, seq = [], ""
    for _ in range(count):
        message = await recv_json(ws)
        seq = message["seq"]
        offsets.append(Seq.parse(seq).offset)  # type: ignore[union-attr]
    return offsets, seq


async def burst(url: str, count: int) -> None:
    """Have the server at ``url`` broadcast ``count`` messages; return once it has."""
    async with connect(url) as producer:
        await producer.send(f"burst {count}")
        while await asyncio.wait_for(producer.recv(), T) != "done":
            pass  # its own copies of the burst


@dataclass
class Setup:
    """The servers of one backend: ``client`` serves the resuming client, ``producer`` broadcasts."""

    kind: str
    env: dict[str, str]
    client: UvicornServer
    producer: UvicornServer
    redis: RedisServer | None = None
    started: list[UvicornServer] = field(default_factory=list)

    def path(self, room: str) -> tuple[str, str]:
        """Return the URLs of ``room`` on the client's server and on the producer's."""
        path = f"/ws/hist/{room}/"
        return self.client.url(path), self.producer.url(path)

    def lose_history(self) -> None:
        """Lose the history as the backend's restart would."""
        if self.kind == "memory":
            self.client.stop()
            self.client.start()
        elif self.kind == "redis":
            assert self.redis is not None
            self.redis.kill()
            self.redis.start()  # without persistence: empty
            for server in self.started:  # listening again: nothing missed live
                assert server.output is not None
                server.output.wait_for("Reconnected to Redis", T)
        else:
            import psycopg

            from .support.services import postgres_database

            database = postgres_database()
            prefix = json.loads(self.env["WSVIEWS_E2E_BACKEND"])["OPTIONS"]["PREFIX"]
            with psycopg.connect(
                host=database["HOST"],
                port=database["PORT"],
                dbname=database["NAME"],
                user=database["USER"],
                autocommit=True,
            ) as connection:
                connection.execute(f"TRUNCATE {prefix}_history_epoch")


def start(**env: str) -> UvicornServer:
    """Start a uvicorn server of the history views."""
    server = UvicornServer(
        DJANGO_SETTINGS_MODULE="tests.support.history_settings",
        WSVIEWS_E2E_HISTORY_SIZE=str(HISTORY_SIZE),
        **env,
    )
    server.start()
    return server


@pytest.fixture(params=["memory", "redis", "postgres"])
async def setup(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[Setup]:
    """Start the servers of each backend in turn; stop them after."""
    redis = None
    if request.param == "memory":
        env = {"WSVIEWS_E2E_TAG": "a"}
        client = await asyncio.to_thread(start, **env)
        made = Setup("memory", env, client, client, started=[client])
    else:
        if request.param == "redis":
            redis = RedisServer(tmp_path)
            redis.start()
            backend = {
                "BACKEND": "django_wsviews.backends.redis.RedisBackend",
                "OPTIONS": {"URL": redis.url, "RECONNECT_MAX_DELAY": 0.2},
            }
        else:
            backend = postgres_backend()
        env = {"WSVIEWS_E2E_BACKEND": json.dumps(backend)}
        client, producer = await asyncio.gather(
            asyncio.to_thread(start, **env, WSVIEWS_E2E_TAG="a"),
            asyncio.to_thread(start, **env, WSVIEWS_E2E_TAG="b"),
        )
        made = Setup(request.param, env, client, producer, redis, [client, producer])
    try:
        yield made
    finally:
        for server in made.started:
            server.stop()
        if redis is not None:
            redis.kill()
        if request.param == "postgres":
            drop_tables(json.loads(env["WSVIEWS_E2E_BACKEND"])["OPTIONS"]["PREFIX"])


def drop_tables(prefix: str) -> None:
    """Drop the history tables of a test's prefix."""
    import psycopg

    from .support.services import postgres_database

    database = postgres_database()
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        dbname=database["NAME"],
        user=database["USER"],
        autocommit=True,
    ) as connection:
        connection.execute(
            f"DROP TABLE IF EXISTS {prefix}_history, {prefix}_history_epoch"
        )


async def seen_seq(setup: Setup, room: str, count: int = 3) -> tuple[str, int]:
    """Connect, see ``count`` broadcasts, disconnect; return the last seq and its offset."""
    here, there = setup.path(room)
    async with connect(here) as ws:
        await burst(there, count)
        offsets, seq = await offsets_of(ws, count)
    assert offsets == list(range(offsets[0], offsets[0] + count))
    return seq, offsets[-1]


async def test_resume_gets_exactly_what_was_missed_then_live(setup: Setup) -> None:
    """Reconnecting with the last seq gives the 20 missed messages in order, then live ones."""
    room = uuid.uuid4().hex[:8]
    seq, last = await seen_seq(setup, room)
    here, there = setup.path(room)
    await burst(there, 20)  # while the client is away
    async with connect(f"{here}?wsviews_last={seq}") as ws:
        missed, _ = await offsets_of(ws, 20)
        assert missed == list(range(last + 1, last + 21))
        await burst(there, 2)
        live, _ = await offsets_of(ws, 2)
        assert live == [last + 21, last + 22]
        with pytest.raises(asyncio.TimeoutError):  # no duplicate, nothing more
            await recv_json(ws, timeout=0.5)


async def test_up_to_date_client_gets_nothing_then_live(setup: Setup) -> None:
    """A client that missed nothing gets no replay and no reset: the next live message first."""
    room = uuid.uuid4().hex[:8]
    seq, last = await seen_seq(setup, room)
    here, there = setup.path(room)
    async with connect(f"{here}?wsviews_last={seq}") as ws:
        await burst(there, 1)
        assert (await offsets_of(ws, 1))[0] == [last + 1]


async def test_trimmed_history_gives_a_reset(setup: Setup) -> None:
    """Missing more than the history keeps gives a reset, then live messages."""
    room = uuid.uuid4().hex[:8]
    seq, last = await seen_seq(setup, room)
    here, there = setup.path(room)
    await burst(there, HISTORY_SIZE + 5)
    async with connect(f"{here}?wsviews_last={seq}") as ws:
        assert await recv_json(ws) == RESET
        await burst(there, 1)
        assert (await offsets_of(ws, 1))[0] == [last + HISTORY_SIZE + 6]


async def test_lost_history_gives_a_reset(setup: Setup) -> None:
    """After the backend lost its history (a new epoch), an old seq gets a reset."""
    room = uuid.uuid4().hex[:8]
    seq, _ = await seen_seq(setup, room)
    await asyncio.to_thread(setup.lose_history)
    here, there = setup.path(room)
    await burst(there, 2)
    async with connect(f"{here}?wsviews_last={seq}") as ws:
        assert await recv_json(ws) == RESET
        await burst(there, 1)
        message = await recv_json(ws)
        assert message["seq"].partition(":")[0] != seq.partition(":")[0]


async def test_resume_while_two_processes_broadcast(setup: Setup) -> None:
    """Broadcasts from two processes during a resume: offsets strictly increasing, none missing."""
    room = uuid.uuid4().hex[:8]
    seq, last = await seen_seq(setup, room)
    here, there = setup.path(room)
    sources = [there, here]  # two processes with Redis and PostgreSQL
    # At most HISTORY_SIZE messages after the last one seen, so that the
    # resume reaches back whenever it lands during the bursts: more could
    # trim what the client missed before it resumes (a reset, tested apart).
    await burst(there, 10)
    total = 10 + 2 * 20
    assert total <= HISTORY_SIZE
    bursts = asyncio.gather(*(burst(url, 20) for url in sources))
    async with connect(f"{here}?wsviews_last={seq}") as ws:  # during the bursts
        offsets, _ = await offsets_of(ws, total)
    await bursts
    assert offsets == list(range(last + 1, last + total + 1))
