"""
What a backend's errors say: which server failed, never its secrets.

A failed broadcast raises ``BroadcastError`` naming the server the backend
could not reach (and the backends log the same name when their listening
connection drops), so an operator reading it knows which one to look at.
These need no server: the error is built from the backend's options.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_wsviews.backends.base import ListeningBackend

REFUSED = ConnectionRefusedError(111, "Connection refused")


def message(backend: ListeningBackend[Any]) -> str:
    """Return the error a broadcast to group "g" gets when the backend's server refused it."""
    return str(backend._unreachable("g", REFUSED))


def expected(where: str) -> str:
    return (
        f"Could not broadcast to group 'g': {where} is unreachable "
        "([Errno 111] Connection refused). Open connections stay up; the "
        "backend reconnects on its own."
    )


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({}, "Redis at redis://127.0.0.1:6379/0"),
        (
            {"URL": "redis://:s3cret@cache.internal:6380/2"},
            "Redis at redis://cache.internal:6380/2",
        ),
        (
            {"URL": "rediss://app:s3cret@cache.internal/0"},
            "Redis at rediss://cache.internal/0",
        ),
        ({"URL": "unix:///run/redis.sock?db=1"}, "Redis at unix:///run/redis.sock"),
        (
            {"SENTINELS": [("sentinel.internal", 26379)], "SERVICE_NAME": "primary"},
            "Redis (Sentinel service 'primary')",
        ),
    ],
)
def test_redis_error_names_the_server(options: dict[str, Any], where: str) -> None:
    """The URL's scheme, host, port and database; a Sentinel's service; never the password."""
    pytest.importorskip("redis")
    from django_wsviews.backends.redis import RedisBackend

    assert message(RedisBackend(options, lambda payload: None)) == expected(where)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"host": "db.internal", "port": 6543}, "PostgreSQL at db.internal:6543"),
        # libpq's defaults when DATABASES leaves them empty.
        ({"host": "", "port": ""}, "PostgreSQL at localhost:5432"),
    ],
)
def test_postgres_error_names_the_server(extra: dict[str, Any], where: str) -> None:
    """The host and port libpq is given, or its defaults; the database; never the password."""
    pytest.importorskip("psycopg")
    from django.db import connections

    from django_wsviews.backends.postgres import PostgresBackend

    backend = PostgresBackend(
        {
            "DATABASE": "wsviews_postgres",
            "CONNECTION_KWARGS": {**extra, "password": "s3cret"},
        },
        lambda payload: None,
    )
    database = connections["wsviews_postgres"].settings_dict["NAME"]
    assert message(backend) == expected(f"{where} (database {database!r})")


def test_nats_error_names_every_server() -> None:
    """Each server of the cluster, in order, without its user and password."""
    pytest.importorskip("nats")
    from django_wsviews.backends.nats import NatsBackend

    backend = NatsBackend(
        {"SERVERS": ["nats://app:s3cret@n1.internal:4222", "tls://n2.internal:4443"]},
        lambda payload: None,
    )
    assert message(backend) == expected(
        "NATS at nats://n1.internal:4222, tls://n2.internal:4443"
    )
