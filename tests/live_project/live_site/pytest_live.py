"""
The live server under pytest, with the ``ws_live_server`` fixture.

The test database is SQLite in memory (settings.py): the fixture serves it
from a file while the test runs, and brings it back afterwards. Run in order.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client

from django_wsviews.testing.live import LiveServer

TIMEOUT = 5.0

#: The threads that run before any live server.
_threads_before = set(threading.enumerate())


@pytest.mark.django_db(transaction=True)
async def test_asgiref_thread_connects_first() -> None:
    """asgiref's thread (async tests' ORM calls) connects to the in-memory database."""
    assert await sync_to_async(User.objects.count)() == 0


async def test_async_orm_data_seen_by_the_server(ws_live_server: LiveServer) -> None:
    """Rows an async test creates (asgiref's thread) are the server's."""
    user = await sync_to_async(User.objects.create)(username="ada")
    client = Client()
    await sync_to_async(client.force_login)(user)
    async with ws_live_server.ws("/ws/whoami/", cookies=client.cookies) as ws:
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ada"
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "1"


def test_sync_data_seen_by_the_server(ws_live_server: LiveServer) -> None:
    """Rows a plain test creates are the server's; the previous test's are gone."""
    User.objects.create(username="ada")
    User.objects.create(username="bea")
    with ws_live_server.ws_sync("/ws/whoami/") as ws:
        assert ws.recv(timeout=TIMEOUT) == ""
        assert ws.recv(timeout=TIMEOUT) == "2"
    assert not connection.is_in_memory_db()


@pytest.mark.django_db(transaction=True)
async def test_in_memory_database_is_back() -> None:
    """After the fixture, every thread's connection is to the in-memory database again."""
    assert connection.is_in_memory_db()

    def in_asgiref_thread() -> tuple[bool, int]:
        return connection.is_in_memory_db(), User.objects.count()

    assert await sync_to_async(in_asgiref_thread)() == (True, 0)


def test_nothing_left_running() -> None:
    """Every thread the live servers started has ended."""
    # asgiref's process-wide thread is the async test's (its ORM calls).
    asgiref = set(getattr(SyncToAsync.single_thread_executor, "_threads", ()))
    new = set(threading.enumerate()) - _threads_before - asgiref
    for thread in new:
        thread.join(TIMEOUT)
    assert [t.name for t in new if t.is_alive()] == []


@pytest.mark.django_db
def test_inside_a_transaction() -> None:
    """Inside the test's transaction the server could not see its data: a clear refusal."""
    hosts = list(settings.ALLOWED_HOSTS)
    with pytest.raises(ImproperlyConfigured, match=r"transaction=True"):
        LiveServer().start()
    assert connection.is_in_memory_db()
    assert hosts == settings.ALLOWED_HOSTS
