"""
Broadcasts that wait for the transaction (``on_commit=True``), with real transactions.

On SQLite (the test database, through pytest-django's transactional tests)
and on PostgreSQL (the ``wsviews_postgres`` alias: the shared server's own
database, no test database). A broadcast is seen when the backend takes it
(:func:`~django_wsviews.testing.capture_broadcasts`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.test import override_settings

from django_wsviews import abroadcast, broadcast, send_to_user
from django_wsviews.testing import capture_broadcasts

from .support.groups_support import spare_port, unavailable


class Boom(Exception):
    """Raised in a test to roll a transaction back."""


@pytest.fixture(
    params=[
        pytest.param("default", marks=pytest.mark.django_db(transaction=True)),
        "wsviews_postgres",
    ]
)
def using(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[str]:
    """Return a database alias with real transactions: SQLite, then PostgreSQL."""
    alias = str(request.param)
    if alias == "default":
        yield alias
        return
    with django_db_blocker.unblock():
        try:
            connections[alias].ensure_connection()
        except Exception as exc:
            unavailable(f"No PostgreSQL server for {alias!r} ({exc})")
        yield alias
        connections[alias].close()


def write(using: str) -> None:
    """Make the transaction real: a statement that takes a write lock."""
    with connections[using].cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS t_on_commit (n integer)")
        cursor.execute("INSERT INTO t_on_commit VALUES (1)")


def test_sent_once_the_transaction_commits(using: str) -> None:
    """Nothing is sent inside the transaction; the message goes once it commits."""
    with capture_broadcasts() as sent:
        with transaction.atomic(using=using):
            write(using)
            broadcast("room.a", json={"n": 1}, on_commit=True, using=using)
            assert len(sent) == 0
        sent.assert_broadcast("room.a", json={"n": 1})


def rolled_back(using: str, body: Callable[[], object]) -> None:
    """Run ``body`` in an atomic block on ``using`` that then rolls back."""

    def fail() -> None:
        with transaction.atomic(using=using):
            body()
            raise Boom

    with pytest.raises(Boom):
        fail()


def test_nothing_sent_on_rollback(using: str) -> None:
    """A transaction that rolls back sends nothing."""

    def body() -> None:
        write(using)
        broadcast("room.a", json={"n": 1}, on_commit=True, using=using)
        send_to_user(7, json={"n": 2}, on_commit=True, using=using)

    with capture_broadcasts() as sent:
        rolled_back(using, body)
    assert len(sent) == 0


def test_savepoint_rollback_drops_only_its_broadcasts(using: str) -> None:
    """A nested atomic block that rolls back drops its broadcasts; the outer ones go on commit."""
    with capture_broadcasts() as sent:
        with transaction.atomic(using=using):
            write(using)
            broadcast("room.a", json={"n": "outer"}, on_commit=True, using=using)
            rolled_back(
                using,
                lambda: broadcast(
                    "room.a", json={"n": "inner"}, on_commit=True, using=using
                ),
            )
            with transaction.atomic(using=using):
                broadcast("room.a", json={"n": "kept"}, on_commit=True, using=using)
            assert len(sent) == 0
        assert [record.json() for record in sent] == [{"n": "outer"}, {"n": "kept"}]


def test_inner_commit_waits_for_the_outer_block(using: str) -> None:
    """A nested block that commits still waits for the outermost; its rollback drops all."""

    def body() -> None:
        write(using)
        with transaction.atomic(using=using):
            broadcast("room.a", json={"n": 1}, on_commit=True, using=using)
        assert len(sent) == 0

    with capture_broadcasts() as sent:
        rolled_back(using, body)
    assert len(sent) == 0


def test_sent_now_outside_a_transaction(using: str) -> None:
    """With no transaction open, on_commit=True sends at once."""
    with capture_broadcasts() as sent:
        broadcast("room.a", json={"n": 1}, on_commit=True, using=using)
        sent.assert_broadcast("room.a", json={"n": 1})


@pytest.mark.django_db(transaction=True)
def test_other_database_does_not_hold_it() -> None:
    """A transaction on another database does not hold a broadcast for ``using``."""
    with capture_broadcasts() as sent, transaction.atomic(using="default"):
        write("default")
        broadcast("room.a", json={"n": 1}, on_commit=True, using="wsviews_postgres")
        sent.assert_broadcast("room.a", json={"n": 1})


def test_without_on_commit_sent_inside_the_transaction(using: str) -> None:
    """Without on_commit, a broadcast inside a transaction goes at once, even if it rolls back."""

    def body() -> None:
        write(using)
        broadcast("room.a", json={"n": 1}, using=using)
        sent.assert_broadcast("room.a", json={"n": 1})

    with capture_broadcasts() as sent:
        rolled_back(using, body)
    assert len(sent) == 1


def test_send_to_user_on_commit(using: str) -> None:
    """send_to_user(on_commit=True) waits for the commit too."""
    user = get_user_model()(pk=42)
    with capture_broadcasts() as sent:
        with transaction.atomic(using=using):
            write(using)
            send_to_user(user, json={"n": 1}, on_commit=True, using=using)
            assert len(sent) == 0
        sent.assert_broadcast(user=user, json={"n": 1})


def test_bad_content_raises_at_the_call(using: str) -> None:
    """A message that cannot be sent raises when broadcast() is called, not at commit."""
    with capture_broadcasts() as sent:
        with transaction.atomic(using=using):
            write(using)
            with pytest.raises(TypeError):
                broadcast("room.a", json={"n": object()}, on_commit=True, using=using)
            with pytest.raises(ValueError, match="Invalid group name"):
                broadcast("bad name", "x", on_commit=True, using=using)
        assert len(sent) == 0


def test_failure_after_commit_is_logged_not_raised(
    using: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend that is down at commit time: the commit stands, the failure is logged."""
    backend = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": f"redis://127.0.0.1:{spare_port()}/0"},
    }
    with override_settings(WSVIEWS_BACKEND=backend), caplog.at_level(logging.ERROR):
        with transaction.atomic(using=using):
            write(using)
            broadcast("room.a", json={"n": 1}, on_commit=True, using=using)
        assert connections[using].in_atomic_block is False
    assert any(
        "Broadcast to group 'room.a' failed" in record.getMessage()
        for record in caplog.records
    )


async def test_async_sends_now_outside_a_transaction() -> None:
    """abroadcast(on_commit=True) on the event loop, where no transaction is open, sends now."""
    with capture_broadcasts() as sent:
        await abroadcast("room.a", json={"n": 1}, on_commit=True)
        sent.assert_broadcast("room.a", json={"n": 1})
