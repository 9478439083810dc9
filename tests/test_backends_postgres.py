"""
The PostgreSQL backend's own behaviour, against a real server.

What every backend promises is pinned in ``test_backend_contract.py``; here
are the splitting of large messages, foreign NOTIFYs, terminated sessions,
the options and the database settings, and views.

The server is the test settings' ``wsviews_postgres`` alias (127.0.0.1:5432,
database ``test``; ``WSVIEWS_TEST_POSTGRES_*`` point elsewhere). Without it
the tests skip, or fail under ``WSVIEWS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

from django_wsviews import BroadcastError, abroadcast, broadcast
from django_wsviews.backends.postgres import (
    CHUNK,
    PostgresBackend,
    connection_params,
)
from django_wsviews.hub import get_hub
from django_wsviews.testing import WebSocketClient

from .support.groups_support import Inbox, LogEvent, spare_port, unavailable

pytestmark = pytest.mark.urls("tests.support.groups_urls")

T = 5.0
POSTGRES = "django_wsviews.backends.postgres.PostgresBackend"
ALIAS = "wsviews_postgres"


@pytest.fixture
def application_name() -> str:
    """Return a libpq application_name of this test's own, to find its connections."""
    return f"wsviews-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def options(application_name: str) -> dict[str, Any]:
    """Return backend OPTIONS for the test server, or skip (fail) if it is unreachable."""
    import psycopg

    options: dict[str, Any] = {
        "DATABASE": ALIAS,
        "PREFIX": f"t{uuid.uuid4().hex[:12]}",
        "CONNECTION_KWARGS": {"application_name": application_name},
        "RECONNECT_MAX_DELAY": 0.5,
    }
    params = connection_params(options)
    try:
        psycopg.connect(**params, autocommit=True).close()
    except psycopg.Error as exc:
        where = f"{params.get('host')}:{params.get('port')}/{params.get('dbname')}"
        unavailable(
            f"No PostgreSQL server at {where} ({str(exc).strip()}); "
            "set WSVIEWS_TEST_POSTGRES_HOST, _PORT, _DB, _USER, _PASSWORD"
        )
    return options


@pytest.fixture
def client(settings: Any) -> WebSocketClient:
    """Return a test client; handshakes skip the middleware (no thread per connection)."""
    settings.WSVIEWS_MIDDLEWARE = []
    return WebSocketClient(timeout=T)


@pytest.fixture
async def backends(options: dict[str, Any]) -> AsyncIterator[Any]:
    """Return a factory of backends (one per simulated process), closed after the test."""
    made: list[PostgresBackend] = []

    def make(inbox: Inbox | None = None, **extra: Any) -> PostgresBackend:
        backend = PostgresBackend({**options, **extra}, inbox or Inbox())
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


async def terminate(application_name: str) -> int:
    """Terminate the server sessions of ``application_name``; return how many."""
    import psycopg

    params = connection_params({"DATABASE": ALIAS})
    async with await psycopg.AsyncConnection.connect(
        **params, autocommit=True
    ) as admin:
        cursor = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [application_name],
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


# The backend on its own ----------------------------------------------------------


def test_a_write_on_a_cut_link_gives_up_after_10_seconds(
    options: dict[str, Any],
) -> None:
    """Connections carry libpq's tcp_user_timeout, 10 s unless CONNECTION_KWARGS says otherwise."""
    import psycopg

    def in_effect(params: dict[str, Any]) -> str:
        """What libpq holds for the open connection."""
        with psycopg.connect(**params, autocommit=True) as conn:
            return conn.info.get_parameters()["tcp_user_timeout"]

    assert in_effect(connection_params(options)) == "10000"
    mine = {**options, "CONNECTION_KWARGS": {"tcp_user_timeout": 2500}}
    assert in_effect(connection_params(mine)) == "2500"


async def test_payloads_over_the_notify_limit(backends: Any) -> None:
    """Messages far over NOTIFY's 8000 bytes arrive whole, in order, even from two senders at once."""
    inbox = Inbox()
    receiver = backends(inbox)
    await receiver.subscribe(["big"])
    one, two = backends(), backends()
    large = [os.urandom(100_000), b"x" * (CHUNK * 3 // 4 * 2), os.urandom(8000)]
    await asyncio.gather(
        one.publish("big", large[0]), two.publish("big", large[1])
    )  # each is one transaction of several NOTIFYs
    await one.publish("big", large[2])
    received = await inbox.wait_for(3)
    assert sorted(received[:2]) == sorted(large[:2])
    assert received[2] == large[2]


async def test_longest_prefix_round_trip(backends: Any) -> None:
    """A 30-character PREFIX, the longest allowed, still names channels PostgreSQL takes (under 64 bytes)."""
    prefix = "p" + uuid.uuid4().hex[:29]
    inbox = Inbox()
    await backends(inbox, PREFIX=prefix).subscribe(["g"])
    await backends(PREFIX=prefix).publish("g", b"x")
    assert await inbox.wait_for(1) == [b"x"]


def test_channel_names() -> None:
    """A group's channel is the prefix ("wsviews" by default) and a 128-bit BLAKE2b of its name: every process of a deployment agrees."""
    import hashlib

    digest = hashlib.blake2b(b"chat:1", digest_size=16).hexdigest()
    default = PostgresBackend({"DATABASE": ALIAS}, Inbox())
    assert default._channel("chat:1") == f"wsviews_{digest}"
    assert (
        PostgresBackend({"DATABASE": ALIAS, "PREFIX": "app"}, Inbox())._channel(
            "chat:1"
        )
        == f"app_{digest}"
    )


async def test_foreign_notify_dropped(
    backends: Any, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A NOTIFY that is not a django-wsviews message is logged and dropped."""
    import psycopg

    inbox = Inbox()
    receiver = backends(inbox)
    await receiver.subscribe(["g"])
    params = connection_params(options)
    with caplog.at_level(logging.WARNING, "django_wsviews.backends.postgres"):
        async with await psycopg.AsyncConnection.connect(
            **params, autocommit=True
        ) as other:
            for garbage in ("no colons", "a:b:c:d", "x:0:1:not base64!"):
                await other.execute(
                    "SELECT pg_notify(%s, %s)", [receiver._channel("g"), garbage]
                )
        await backends().publish("g", b"fine")
        assert await inbox.wait_for(1) == [b"fine"]
    assert "not a django-wsviews message part" in caplog.text
    assert "not base64" in caplog.text


async def test_listener_terminated_reconnects(
    backends: Any, application_name: str
) -> None:
    """pg_terminate_backend() on the connections: the backend reconnects and LISTENs again."""
    inbox = Inbox()
    sender, receiver = backends(), backends(inbox)
    await receiver.subscribe(["g"])
    await sender.publish("g", b"before")
    assert await inbox.wait_for(1) == [b"before"]
    with LogEvent(
        "django_wsviews.backends.postgres", "listening to 1 groups again"
    ) as back:
        assert await terminate(application_name) >= 2
        await back.wait()
    await sender.publish("g", b"after")  # a fresh NOTIFY connection, sent once
    assert await inbox.wait_for(2) == [b"before", b"after"]


def test_missing_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg, making the backend says what to install."""
    for name in [n for n in sys.modules if n == "psycopg" or n.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"pip install 'django-wsviews\[postgres\]'"):
        PostgresBackend({"DATABASE": ALIAS}, lambda payload: None)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"DATABASE": "nope"}, "not in DATABASES"),
        ({"DATABASE": "default"}, "is sqlite"),
        ({"DATABASE": ALIAS, "PREFIX": "Bad-Prefix"}, "lower-case letters"),
        ({"DATABASE": ALIAS, "CONNECTION_KWARGS": ["port"]}, "must be a dict"),
    ],
)
def test_options_checked(options: dict[str, Any], match: str) -> None:
    """Malformed options are ImproperlyConfigured when the backend is made."""
    with pytest.raises(ImproperlyConfigured, match=match):
        PostgresBackend(options, lambda payload: None)


def test_connection_params_follow_databases() -> None:
    """The backend connects with the alias's DATABASES settings, as libpq parameters."""
    params = connection_params({"DATABASE": ALIAS, "CONNECTION_KWARGS": {"port": 6543}})
    assert params["dbname"] == os.environ.get("WSVIEWS_TEST_POSTGRES_DB", "test")
    assert params["port"] == 6543
    assert params["application_name"] == "django-wsviews"
    assert "cursor_factory" not in params
    assert "context" not in params


# Through views and the façade --------------------------------------------------------


async def test_views_through_postgres(
    client: WebSocketClient,
    settings: Any,
    options: dict[str, Any],
    application_name: str,
) -> None:
    """Views' members get broadcasts through LISTEN/NOTIFY; an outage raises, sockets stay up."""
    settings.WSVIEWS_BACKEND = {"BACKEND": POSTGRES, "OPTIONS": options}
    async with (
        client.connect("/ws/room/p/") as one,
        client.connect("/ws/room/p/") as two,
    ):
        await abroadcast("room.p", "through postgres")
        await abroadcast("room.p", json={"big": "é" * 10_000})
        for ws in (one, two):
            assert await ws.receive(T) == "through postgres"
            assert await ws.receive_json(T) == {"big": "é" * 10_000}

        await sync_to_async(broadcast)("room.p", "from sync code")
        for ws in (one, two):
            assert await ws.receive(T) == "from sync code"
        burst = [f"burst {n}" for n in range(10)]
        await asyncio.gather(*(abroadcast("room.p", text) for text in burst))
        for ws in (one, two):
            assert sorted([await ws.receive(T) for _ in burst]) == sorted(burst)

        with LogEvent(
            "django_wsviews.backends.postgres", "listening to 1 groups again"
        ) as back:
            # Two connections, one listening and one publishing, even after
            # ten broadcasts at once.
            assert await terminate(application_name) == 2
            await back.wait()
        await one.send("groups")
        assert await one.receive(T) == "room.p"
        await abroadcast("room.p", "after the outage")
        for ws in (one, two):
            assert await ws.receive(T) == "after the outage"
    await get_hub().close()


async def test_broadcast_error_through_facade(
    settings: Any, options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """abroadcast() and broadcast() raise BroadcastError, logged, when PostgreSQL is unreachable."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": POSTGRES,
        "OPTIONS": {**options, "CONNECTION_KWARGS": {"port": spare_port()}},
    }
    with caplog.at_level(logging.ERROR, "django_wsviews.groups"):
        with pytest.raises(BroadcastError):
            await abroadcast("room.p", "x")
        with pytest.raises(BroadcastError):
            await sync_to_async(broadcast)("room.p", "x")
    assert caplog.text.count("Broadcast to group 'room.p' failed") == 2
