"""
Tests for django_wsviews.db: database connections of hooks follow Django's
rules, and a connection holds a worker thread only while a hook call needs one.

The test client turns hygiene off (a test's transaction must survive), so
these tests connect through :class:`ServerConnection`, which leaves it on,
as a real server does. PostgreSQL and real servers: tests/e2e/test_db_hygiene.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from asgiref.sync import (
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)
from django.contrib.auth.models import User
from django.db import connections
from django.urls import path

from django_wsviews import CloseCode, WebSocketView, db
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection, _Connecting

from .test_performance import CALLS_PER_MESSAGE

#: What each view saw of its connection's worker thread, by view class name.
seen: dict[str, db.ConnectionThread | None] = {}

#: Sockets of the idle-thread test; plain hooks that run together in a batch.
IDLE_SOCKETS = 1000
BATCH = 50
#: Seconds a test waits for something the library does in another thread.
DEADLINE = 5.0


class Gates:
    """The events a test and its views wait on; new for each test."""

    def __init__(self) -> None:
        #: Set by TwoCallsView once its first call has run; it then waits for ``go_on``.
        self.first_call_done = asyncio.Event()
        self.go_on = asyncio.Event()
        #: Set by ThreadsView as it blocks; it then waits for ``unblock``.
        self.blocked = threading.Event()
        self.unblock = threading.Event()


gates = Gates()


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


class TwoCallsView(Seeing):
    """Answer with the threads of two calls and a query between them, across a wait."""

    async def receive(self, message: str | bytes) -> None:
        first = await sync_to_async(threading.get_ident)()
        if message == "wait":
            gates.first_call_done.set()
            await asyncio.wait_for(gates.go_on.wait(), DEADLINE)
        await User.objects.acount()
        second = await sync_to_async(threading.get_ident)()
        await self.send(json.dumps([first, second]))


async def _thread_of_async_orm() -> int:
    await User.objects.acount()
    return await sync_to_async(threading.get_ident)()


class ThreadsView(Seeing):
    """
    Answer, from a plain hook, with its thread as it starts, the thread of
    an async ORM query made through async_to_sync, its thread as it ends,
    and a count; on "block", wait for the test in between.
    """

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        start = threading.get_ident()
        inner = async_to_sync(_thread_of_async_orm)()
        if message == "block":
            gates.blocked.set()
            gates.unblock.wait(DEADLINE)
        count = User.objects.count()
        self.send(json.dumps([start, inner, threading.get_ident(), count]))


urlpatterns: list[object] = []

ws_urlpatterns = [
    path("echo/", EchoView.as_view()),
    path("orm/", OrmView.as_view()),
    path("query-then-fail/", QueryThenFailView.as_view()),
    path("plain/", PlainView.as_view()),
    path("two-calls/", TwoCallsView.as_view()),
    path("threads/", ThreadsView.as_view()),
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


async def until(condition: Callable[[], bool], failure: Callable[[], str]) -> None:
    """Wait until ``condition()`` holds; fail with ``failure()`` after DEADLINE."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        if loop.time() > deadline:
            pytest.fail(failure())
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    """Forget what views saw; give each test new gates, and open them at its end."""
    global gates
    seen.clear()
    gates = Gates()
    yield
    gates.unblock.set()  # a hook still blocked ends
    seen.clear()


@pytest.fixture
def persistent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make connections persistent (CONN_MAX_AGE = None); close the pool's at the end."""
    # (Every thread's connection is made from this one dict.)
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", None)
    yield
    db.workers.clear()


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
@pytest.mark.usefixtures("persistent")
async def test_persistent_connections_are_kept(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """With CONN_MAX_AGE = None, the hook's connection is kept between messages."""
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


async def test_the_connection_thread_is_taken_back_at_the_end() -> None:
    """connection_context() takes its executor back, so asgiref has no thread to end."""
    executors = SyncToAsync.context_to_thread_executor
    before = dict(executors)
    async with db.connection_context():
        context = SyncToAsync.thread_sensitive_context.get()
        thread = db.connection_thread.get()
        assert isinstance(thread, db.ConnectionThread)
        assert executors[context] is thread
    assert context not in executors
    assert dict(executors) == before
    assert SyncToAsync.thread_sensitive_context.get(None) is None
    assert db.connection_thread.get() is None
    assert not thread.used


async def test_a_lease_left_open_is_tidied_at_the_end(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """A call outside any hook (left dirty) is tidied as the socket ends, in its thread."""
    async with db.connection_context():
        context = SyncToAsync.thread_sensitive_context.get()
        thread = db.connection_thread.get()
        assert thread is not None
        worker = await sync_to_async(threading.get_ident)()
        assert thread.dirty
    assert context not in SyncToAsync.context_to_thread_executor
    assert not thread.dirty
    assert not thread.leased
    assert tidies[-1][0] == worker


async def test_an_outer_context_is_left_alone() -> None:
    """Inside another thread-sensitive context, no thread of its own is installed."""
    async with ThreadSensitiveContext() as outer:
        async with db.connection_context():
            assert db.connection_thread.get() is None
            assert SyncToAsync.thread_sensitive_context.get() is outer
            assert outer not in SyncToAsync.context_to_thread_executor
        assert SyncToAsync.thread_sensitive_context.get() is outer


async def test_without_hygiene_asgiref_thread_is_closed_and_ended() -> None:
    """With hygiene off, the connection's calls get asgiref's own thread, whose connections close at the end."""
    token = db.hygiene.set(False)
    try:
        async with db.connection_context():
            context = SyncToAsync.thread_sensitive_context.get()
            assert db.connection_thread.get() is None
            await sync_to_async(threading.get_ident)()
            executor = SyncToAsync.context_to_thread_executor[context]
            assert not isinstance(executor, db.ConnectionThread)
        assert context not in SyncToAsync.context_to_thread_executor
        assert SyncToAsync.thread_sensitive_context.get(None) is None
    finally:
        db.hygiene.reset(token)


# Threads: leased for one hook call, none held by an idle socket -------------------


async def test_a_lease_lasts_one_hook_call() -> None:
    """Calls share a worker until tidy() (async hook) or run_with_hygiene (plain) ends."""
    pool = db.WorkerPool(max_idle=1)
    thread = db.ConnectionThread(pool)
    loop = asyncio.get_running_loop()
    try:
        first = await loop.run_in_executor(thread, threading.get_ident)
        assert thread.leased
        assert thread.dirty
        assert await loop.run_in_executor(thread, threading.get_ident) == first
        await thread.tidy()
        assert not thread.leased
        assert len(pool.idle) == 1  # given back
        plain = await loop.run_in_executor(
            thread, db.run_with_hygiene, threading.get_ident
        )
        assert plain == first  # the same worker, leased again
        assert not thread.leased
        assert not thread.dirty
    finally:
        pool.clear()


def test_the_pool_keeps_max_idle_workers_and_stops_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workers given back past max_idle end, their database connections closed first."""
    closed_in: list[int] = []
    monkeypatch.setattr(
        db, "close_connections", lambda: closed_in.append(threading.get_ident())
    )
    pool = db.WorkerPool(max_idle=2)
    leased = [pool.lease() for _ in range(4)]
    threads = [
        worker.submit(threading.current_thread).result(DEADLINE) for worker in leased
    ]
    assert len(set(threads)) == 4
    for worker in leased:
        pool.give_back(worker)
    assert pool.idle == leased[:2]
    for stopped in threads[2:]:
        stopped.join(DEADLINE)
        assert not stopped.is_alive()
    assert sorted(closed_in) == sorted(thread.ident for thread in threads[2:])
    assert all(thread.is_alive() for thread in threads[:2])
    assert pool.lease() is leased[1]  # the last given back, whose thread is warm
    pool.give_back(leased[1])
    pool.clear()
    assert pool.idle == []
    for stopped in threads[:2]:
        stopped.join(DEADLINE)
        assert not stopped.is_alive()


@pytest.mark.django_db(transaction=True)
async def test_an_async_hook_keeps_its_thread_while_others_run() -> None:
    """An async hook's calls share one thread, not lent to another socket meanwhile."""
    async with connect("/two-calls/") as waiting, connect("/threads/") as plain:
        await waiting.send("wait")
        await asyncio.wait_for(gates.first_call_done.wait(), DEADLINE)
        await plain.send("go")
        start, inner, end, count = json.loads(str(await plain.receive()))
        gates.go_on.set()
        first, second = json.loads(str(await waiting.receive()))
    assert first == second
    assert first != start
    # A plain hook, and the async ORM it calls through async_to_sync, in one thread.
    assert start == inner == end != threading.get_ident()
    assert count == 0


@pytest.mark.django_db(transaction=True)
async def test_a_blocked_plain_hook_holds_up_no_other_socket() -> None:
    """A plain hook that blocks keeps its thread; another socket's hook gets another."""
    async with connect("/threads/") as blocked, connect("/threads/") as other:
        await blocked.send("block")
        assert await asyncio.to_thread(gates.blocked.wait, DEADLINE)
        await other.send("go")
        others = json.loads(str(await other.receive()))
        gates.unblock.set()
        blockeds = json.loads(str(await blocked.receive()))
    assert blockeds[0] == blockeds[2] != others[0] == others[2]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("persistent")
async def test_a_persistent_connection_stays_with_the_pool_thread(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """With CONN_MAX_AGE = None, the next socket reuses the worker's open connection."""
    for _ in range(2):
        async with connect("/orm/") as ws:
            await ws.send("count")
            assert await ws.receive() == "0"
    assert [(opened, still_open) for _, opened, still_open in tidies] == [
        (False, False),
        (True, True),
        (True, True),  # the second socket's first call: open already
        (True, True),
    ]
    assert len({ident for ident, _, _ in tidies}) == 1


@pytest.mark.django_db(transaction=True)
async def test_idle_sockets_hold_no_thread(
    tidies: list[tuple[int, bool, bool]],
) -> None:
    """1,000 open sockets that each ran a plain hook's query hold no thread."""
    before = threading.active_count()
    bound = before + db.workers.max_idle
    sockets: list[WebSocketTestConnection] = []
    try:
        for _ in range(IDLE_SOCKETS // BATCH):
            batch = await asyncio.gather(*(connect("/plain/") for _ in range(BATCH)))
            sockets.extend(batch)
            await asyncio.gather(*(ws.send("count") for ws in batch))
            answers = await asyncio.gather(*(ws.receive() for ws in batch))
            assert answers == ["0"] * BATCH
        await until(
            lambda: threading.active_count() <= bound,
            lambda: (
                f"{threading.active_count() - before} threads more with "
                f"{len(sockets)} idle sockets open; at most "
                f"{db.workers.max_idle} (idle workers) expected"
            ),
        )
        assert all(not still_open for _, _, still_open in tidies)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
