"""
End-to-end: database connections follow Django's rules, however a hook queries.

Real servers serve the test project with a ``pg`` database on PostgreSQL.
Sockets query it from plain-def hooks, from async hooks through
``sync_to_async``, and with the async ORM; the server's connections are
counted in ``pg_stat_activity`` by an ``application_name`` unique to the
test, so that other users of the database do not count. With the default
``CONN_MAX_AGE = 0`` none is left open once the hooks have returned, even
while their sockets stay open; nor is a thread held (the server's threads
are counted in Linux's ``/proc``); and after a restart of PostgreSQL, an old
socket's next query works.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from django_wsviews.db import workers
from tests.support.groups_support import PostgresServer
from tests.support.services import postgres_database, services_required

from .helpers import SERVER_PARAMS, Server, drain, recv, ws_connect

SOCKETS = 2000
CONCURRENCY = 20
#: Sockets that each make one query and then stay open.
IDLE_SOCKETS = 50
#: Sockets whose plain hook queried, open together while the server's threads are counted.
THREAD_SOCKETS = 1000
#: Seconds the server has to close the connections its hooks no longer need
#: (and to end the threads its pool does not keep).
CLOSE_DEADLINE = 5.0


def open_connections(
    application_name: str, database: dict[str, Any] | None = None
) -> int:
    """Return how many PostgreSQL connections carry ``application_name``."""
    import psycopg

    db = postgres_database() if database is None else database
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        connect_timeout=5,
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def until_closed(
    application_name: str, database: dict[str, Any] | None = None
) -> None:
    """Wait until no connection carries ``application_name``; fail after CLOSE_DEADLINE."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_DEADLINE
    while (count := open_connections(application_name, database)) != 0:
        if loop.time() > deadline:
            pytest.fail(
                f"{count} database connections still open {CLOSE_DEADLINE} s "
                "after the hooks that opened them returned"
            )
        await asyncio.sleep(0.05)


def server_threads(server: Server) -> int:
    """Return the number of threads of ``server``'s process, from ``/proc``."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    match = re.search(r"^Threads:\s+(\d+)$", status, re.MULTILINE)
    assert match is not None, status
    return int(match[1])


async def ask(ws: ClientConnection) -> str:
    """Send a message to ``/ws/orm/``; return the pid of the connection it queried on."""
    await ws.send("pid?")
    answer = await recv(ws)
    assert isinstance(answer, str)
    assert answer.isdigit(), answer
    return answer


@pytest.fixture
def application_name() -> str:
    """Return a name unique to this run, to count the server's connections by."""
    try:
        open_connections("probe")
    except Exception as exc:  # psycopg.OperationalError, or no psycopg
        if services_required():
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    return f"wsviews-e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_pg_server(
    application_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Server]]:
    """
    Return a factory of servers of the project with the ``pg`` database.

    ``start(name, **environ)`` starts server ``name`` with ``environ`` added
    to its environment (``WSVIEWS_TEST_POSTGRES_*``, ``E2E_PG_*``: see
    settings_postgres.py). Each is stopped at teardown.
    """
    started: list[Server] = []

    def start(name: str = "uvicorn", **environ: str) -> Server:
        server = Server(
            name,
            tmp_path_factory.mktemp(f"{name}-pg"),
            settings="tests.e2e.project.settings_postgres",
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("E2E_PG_APPLICATION_NAME", application_name)
            for key, value in environ.items():
                patch.setenv(key, value)
            server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop_or_kill()


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """Return a running PostgreSQL server of the test's own, which it may restart."""
    postgres = PostgresServer()
    try:
        postgres.start()
        yield postgres
    finally:
        postgres.remove()


async def test_no_database_connection_outlives_its_socket(
    start_pg_server: Callable[..., Server], application_name: str
) -> None:
    """After thousands of querying sockets, the server holds no database connection."""
    pg_server = start_pg_server()

    async def worker(count: int) -> None:
        for _ in range(count):
            async with ws_connect(pg_server, "/ws/query/") as ws:
                await ws.send("q")
                assert await recv(ws) == "q"

    await asyncio.gather(*(worker(SOCKETS // CONCURRENCY) for _ in range(CONCURRENCY)))
    await drain(pg_server)
    assert open_connections(application_name) == 0

    # The same holds while a socket is open: it holds none between messages.
    async with ws_connect(pg_server, "/ws/query/") as ws:
        await ws.send("q")
        assert await recv(ws) == "q"
        await until_closed(application_name)
    await drain(pg_server)
    assert open_connections(application_name) == 0


@pytest.mark.parametrize("server_name", SERVER_PARAMS)
async def test_idle_sockets_hold_no_database_connection(
    start_pg_server: Callable[..., Server], application_name: str, server_name: str
) -> None:
    """Sockets that made an async ORM query and stay open hold no connection."""
    server = start_pg_server(server_name)
    async with contextlib.AsyncExitStack() as sockets:
        opened = [
            await sockets.enter_async_context(ws_connect(server, "/ws/orm/"))
            for _ in range(IDLE_SOCKETS)
        ]
        await asyncio.gather(*(ask(ws) for ws in opened))
        await until_closed(application_name)
        # And each still queries: a connection of its own again, closed again.
        await asyncio.gather(*(ask(ws) for ws in opened))
        await until_closed(application_name)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads are counted in /proc"
)
async def test_idle_sockets_hold_no_thread(
    start_pg_server: Callable[..., Server], application_name: str
) -> None:
    """A thousand open sockets whose plain connect() queried hold no server thread."""
    server = start_pg_server()
    before = server_threads(server)
    # The pool's idle workers (as many on this machine as in the server).
    bound = before + workers.max_idle
    gate = asyncio.Semaphore(CONCURRENCY)  # PostgreSQL's max_connections

    async def opened(sockets: contextlib.AsyncExitStack) -> None:
        async with gate:
            ws = await sockets.enter_async_context(ws_connect(server, "/ws/query/"))
            await ws.send("q")  # an async hook's sync_to_async() query too
            assert await recv(ws) == "q"

    async with contextlib.AsyncExitStack() as sockets:
        await asyncio.gather(*(opened(sockets) for _ in range(THREAD_SOCKETS)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_DEADLINE
        while (threads := server_threads(server)) > bound:
            if loop.time() > deadline:
                pytest.fail(
                    f"{threads - before} threads more with {THREAD_SOCKETS} idle "
                    f"sockets open; at most {workers.max_idle} (idle workers) expected"
                )
            await asyncio.sleep(0.05)
        await until_closed(application_name)


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param({}, id="conn_max_age_0"),
        pytest.param(
            {"E2E_PG_CONN_MAX_AGE": "none", "E2E_PG_CONN_HEALTH_CHECKS": "1"},
            id="persistent_with_health_checks",
        ),
    ],
)
async def test_async_query_after_a_database_restart(
    start_pg_server: Callable[..., Server],
    private_postgres: PostgresServer,
    application_name: str,
    rules: dict[str, str],
) -> None:
    """An old socket's async ORM query works once PostgreSQL is back from a crash."""
    database = private_postgres.database()
    server = start_pg_server(
        WSVIEWS_TEST_POSTGRES_HOST=database["HOST"],
        WSVIEWS_TEST_POSTGRES_PORT=database["PORT"],
        WSVIEWS_TEST_POSTGRES_DB=database["NAME"],
        **rules,
    )
    async with ws_connect(server, "/ws/orm/") as ws:
        before = await ask(ws)
        if rules.get("E2E_PG_CONN_MAX_AGE") == "none":
            # A persistent connection is kept, as for a plain hook and a request.
            assert open_connections(application_name, database) == 1
        private_postgres.kill()
        private_postgres.start()
        assert await ask(ws) != before
