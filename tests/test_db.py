"""
Tests for django_wsviews.db: database connections of hooks follow Django's rules.

The test client turns hygiene off (a test's transaction must survive), so
these tests connect through :class:`ServerConnection`, which leaves it on,
as a real server does. PostgreSQL and real servers: tests/e2e/test_db_hygiene.py.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.urls import path

from django_wsviews import CloseCode, WebSocketView, db
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection, _Connecting

from .test_performance import CALLS_PER_MESSAGE

#: What each view saw of its connection's worker thread, by view class name.
seen: dict[str, db.ConnectionThread | None] = {}


class Seeing(WebSocketView):
    """Note the connection's ConnectionThread as connect() sees it."""

    async def connect(self) -> None:
        seen[type(self).__name__] = db.connection_thread.get()
        await self.accept()


class EchoView(Seeing):
    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class OrmView(Seeing):
    """Answer with the number of users, counted with the async ORM."""

    async def receive(self, message: str | bytes) -> None:
        await self.send(str(await User.objects.acount()))


class QueryThenFailView(Seeing):
    """Count the users with the async ORM, then raise."""

    async def receive(self, message: str | bytes) -> None:
        await User.objects.acount()
        raise RuntimeError("after a query")


class PlainView(Seeing):
    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        self.send(str(User.objects.count()))


urlpatterns: list[object] = []

ws_urlpatterns = [
    path("echo/", EchoView.as_view()),
    path("orm/", OrmView.as_view()),
    path("query-then-fail/", QueryThenFailView.as_view()),
    path("plain/", PlainView.as_view()),
]

pytestmark = pytest.mark.urls(__name__)


class ServerConnection(WebSocketTestConnection):
    """A test client's connection with database hygiene on, as under a server."""

    async def _run(self) -> None:
        await self._application(self.scope, self._to_app.get, self._app_send)


def connect(path: str) -> _Connecting:
    """Open a :class:`ServerConnection` to ``path``."""
    client = WebSocketClient()
    return _Connecting(
        ServerConnection(client.application, client._scope(path, None, ()), 5.0)
    )


@pytest.fixture(autouse=True)
def _clear_seen() -> Iterator[None]:
    seen.clear()
    yield
    seen.clear()


@pytest.fixture
def tidies(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool, bool]]:
    """
    Record each close_old_connections() of django_wsviews.db: its thread, and
    whether the thread's default database connection was open before and after.
    """
    calls: list[tuple[int, bool, bool]] = []
    original = db.django_close_old_connections

    def recording() -> None:
        was_open = connections["default"].connection is not None
        original()
        calls.append(
            (
                threading.get_ident(),
                was_open,
                connections["default"].connection is not None,
            )
        )

    monkeypatch.setattr(db, "django_close_old_connections", recording)
    return calls


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every sync_to_async call made while the test runs."""
    hops: list[Any] = []
    original = SyncToAsync.__call__

    async def counting(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(self.func)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    return hops


@pytest.mark.django_db(transaction=True)
async def test_async_orm_connection_closed_after_each_message(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """An async hook's query runs between two tidies in its thread; none stays open."""
    async with connect("/orm/") as ws:
        for _ in range(3):
            await ws.send("count")
            assert await ws.receive() == "0"
    thread = seen["OrmView"]
    assert thread is not None
    assert thread.used
    assert not thread.dirty
    # Before each message's query (nothing open), after it (closed).
    assert [(opened, still_open) for _, opened, still_open in tidies] == [
        (False, False),
        (True, False),
    ] * 3
    assert len({ident for ident, _, _ in tidies}) == 1
    assert tidies[0][0] != threading.get_ident()


@pytest.mark.django_db(transaction=True)
async def test_persistent_connections_are_kept(
    tidies: list[tuple[int, bool, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CONN_MAX_AGE = None, the hook's connection is kept between messages."""
    # (Every thread's connection is made from this one dict.)
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", None)
    async with connect("/orm/") as ws:
        for _ in range(2):
            await ws.send("count")
            assert await ws.receive() == "0"
    assert [(opened, still_open) for _, opened, still_open in tidies] == [
        (False, False),
        (True, True),
        (True, True),
        (True, True),
    ]


async def test_hooks_that_use_no_thread_cost_nothing(
    tidies: list[tuple[int, bool, bool]], thread_hops: list[Any]
) -> None:
    """Echoing through async hooks starts no thread, hops to none, tidies nothing."""
    async with connect("/echo/") as ws:
        for i in range(100):
            await ws.send(str(i))
            assert await ws.receive() == str(i)
        thread = seen["EchoView"]
        assert thread is not None
        assert not thread.used
    assert thread_hops == []
    assert tidies == []


async def test_python_calls_per_message_as_without_hygiene() -> None:
    """With hygiene on, as in a server, an echo costs the calls test_performance allows."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            filename = frame.f_code.co_filename
            in_library = "django_wsviews" in filename and "testing" not in filename
            if in_library or "/django/" in filename:
                calls += 1

    async with connect("/echo/") as ws:
        await ws.send("warm-up")
        await ws.receive()
        sys.setprofile(profile)
        try:
            for _ in range(200):
                await ws.send("x")
                await ws.receive()
        finally:
            sys.setprofile(None)
    assert calls / 200 <= CALLS_PER_MESSAGE, calls / 200


@pytest.mark.django_db(transaction=True)
async def test_plain_hooks_tidy_in_their_own_call(
    tidies: list[tuple[int, bool, bool]], thread_hops: list[Any]
) -> None:
    """A plain hook costs one thread call per message: no second one to tidy."""
    async with connect("/plain/") as ws:
        for _ in range(3):
            await ws.send("count")
            assert await ws.receive() == "0"
    assert [hop.__name__ for hop in thread_hops] == ["run_with_hygiene"] * 3
    assert all(not still_open for _, _, still_open in tidies)
    thread = seen["PlainView"]
    assert thread is not None
    assert not thread.dirty


@pytest.mark.django_db(transaction=True)
async def test_a_failing_hook_is_tidied_after_handle_exception(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """A hook that queried and raised leaves no connection open behind the 1011."""
    async with connect("/query-then-fail/") as ws:
        await ws.send("go")
        assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR
    thread = seen["QueryThenFailView"]
    assert thread is not None
    assert not thread.dirty
    assert tidies[-1][2] is False


@pytest.mark.django_db(transaction=True)
async def test_the_test_client_keeps_its_connections(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """Under the test client, hygiene is off: nothing is tidied during the test."""
    async with WebSocketClient().connect("/orm/") as ws:
        await ws.send("count")
        assert await ws.receive() == "0"
    assert seen["OrmView"] is None
    assert tidies == []


async def test_a_thread_never_used_is_dropped_unstarted() -> None:
    """database_hygiene() takes back an unused thread, so asgiref has none to end."""
    executors = SyncToAsync.context_to_thread_executor
    async with ThreadSensitiveContext() as context:
        async with db.database_hygiene(context):
            thread = db.connection_thread.get()
            assert isinstance(thread, db.ConnectionThread)
            assert executors[context] is thread
        assert context not in executors
        assert db.connection_thread.get() is None
    assert not thread.used


async def test_a_used_thread_closes_its_connections_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At the end, every connection of a used thread is closed, in that thread."""
    closed_in: list[int] = []
    monkeypatch.setattr(
        db, "close_connections", lambda: closed_in.append(threading.get_ident())
    )
    async with ThreadSensitiveContext() as context:
        async with db.database_hygiene(context):
            worker = await sync_to_async(threading.get_ident)()
        assert closed_in == [worker]
        assert context in SyncToAsync.context_to_thread_executor  # asgiref ends it


async def test_an_outer_context_is_left_alone() -> None:
    """Inside another thread-sensitive context, no thread of its own is installed."""
    async with ThreadSensitiveContext():
        inner = ThreadSensitiveContext()
        async with inner, db.database_hygiene(inner):
            assert db.connection_thread.get() is None
            assert inner not in SyncToAsync.context_to_thread_executor
