"""
End-to-end: database connections do not outlive the sockets that opened them.

Thousands of sockets, each querying PostgreSQL from a plain-def hook and from
an async hook (through ``sync_to_async``), are served by uvicorn; afterwards
no connection of the server's is left open in ``pg_stat_activity``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.services import postgres_database, services_required

from .helpers import Server, drain, recv, ws_connect

SOCKETS = 2000
CONCURRENCY = 20


def open_connections(application_name: str) -> int:
    """Return how many PostgreSQL connections carry ``application_name``."""
    import psycopg

    db = postgres_database()
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
def pg_server(
    application_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Return uvicorn serving the project with the ``pg`` database alias."""
    os.environ["E2E_PG_APPLICATION_NAME"] = application_name
    try:
        server = Server(
            "uvicorn",
            tmp_path_factory.mktemp("uvicorn-pg"),
            settings="tests.e2e.project.settings_postgres",
        )
        server.start()
    finally:
        del os.environ["E2E_PG_APPLICATION_NAME"]
    try:
        yield server
    finally:
        server.stop_or_kill()


async def test_no_database_connection_outlives_its_socket(
    pg_server: Server, application_name: str
) -> None:
    """After thousands of querying sockets, the server holds no database connection."""

    async def worker(count: int) -> None:
        for _ in range(count):
            async with ws_connect(pg_server, "/ws/query/") as ws:
                await ws.send("q")
                assert await recv(ws) == "q"

    await asyncio.gather(*(worker(SOCKETS // CONCURRENCY) for _ in range(CONCURRENCY)))
    await drain(pg_server)
    assert open_connections(application_name) == 0

    # The same holds while sockets are open: each holds at most one.
    async with ws_connect(pg_server, "/ws/query/") as ws:
        await ws.send("q")
        assert await recv(ws) == "q"
        assert open_connections(application_name) == 1
    await drain(pg_server)
    assert open_connections(application_name) == 0
