"""The lifecycle: hooks one at a time, group delivery, threads (django_wsviews.lifecycle)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from django_wsviews import CloseCode, abroadcast
from django_wsviews.exceptions import HandshakeRejected, HandshakeTimeout, InvalidState
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .support import lifecycle_views
from .support.groups_support import eventually

pytestmark = pytest.mark.urls("tests.support.lifecycle_views")

T = 5.0


async def assert_nothing_arrives(ws: WebSocketTestConnection) -> None:
    """Assert the application sent nothing to ``ws`` (within a short bound)."""
    with pytest.raises(HandshakeTimeout):
        await ws.receive(0.05)


@pytest.fixture(autouse=True)
def _forget_instances() -> Iterator[None]:
    yield
    lifecycle_views.GatedView.instances.clear()
    lifecycle_views.HeldView.instances.clear()
    lifecycle_views.BusySyncView.release.set()
    lifecycle_views.BusySyncView.release.clear()
    lifecycle_views.BusySyncView.started.clear()


async def test_receive_group_waits_for_a_running_receive() -> None:
    """By default a group message is delivered after the receive() that is running ends."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/gated/") as ws:
        [view] = lifecycle_views.GatedView.instances
        await ws.send("wait")
        await asyncio.wait_for(view.started.wait(), T)
        await abroadcast("gated", "news")
        # Taken off the queue, then held at the gate: receive() still runs.
        gate = view._lifecycle.gate  # type: ignore[union-attr]
        await eventually(lambda: len(gate.waiting) == 1)
        await assert_nothing_arrives(ws)
        view.release.set()
        assert await ws.receive(T) == "done"
        assert await ws.receive(T) == "group:'news'"


async def test_receive_group_concurrently_opts_out() -> None:
    """With receive_group_concurrently, a group message goes out while receive() waits."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/gated-concurrent/") as ws:
        [view] = lifecycle_views.GatedView.instances
        await ws.send("wait")
        await asyncio.wait_for(view.started.wait(), T)
        await abroadcast("gated", "news")
        assert await ws.receive(T) == "group:'news'"
        view.release.set()
        assert await ws.receive(T) == "done"


async def test_group_messages_keep_their_order_behind_a_hook() -> None:
    """Several group messages queued behind a hook come out in order, after it."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/gated/") as ws:
        [view] = lifecycle_views.GatedView.instances
        await ws.send("wait")
        await asyncio.wait_for(view.started.wait(), T)
        for n in range(5):
            await abroadcast("gated", str(n))
        view.release.set()
        assert await ws.receive(T) == "done"
        assert [await ws.receive(T) for _ in range(5)] == [
            f"group:'{n}'" for n in range(5)
        ]


@override_settings(WSVIEWS_SEND_QUEUE_SIZE=2)
async def test_overflow_behind_a_slow_hook_blames_the_view(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A queue that overflows while the view's own hook runs says the view is slow, not the client."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/busy-sync/") as ws:
        await ws.send("work")
        started = lifecycle_views.BusySyncView.started
        await asyncio.wait_for(asyncio.to_thread(started.wait, T), T + 1)
        with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
            # One taken off the queue to wait at the gate, two queued, one over.
            for n in range(4):
                await abroadcast("busy", str(n))
        lifecycle_views.BusySyncView.release.set()
        assert await ws.wait_closed() == CloseCode.TRY_AGAIN_LATER
    [record] = [r for r in caplog.records if "1013" in r.getMessage()]
    assert "view's hooks are too slow" in record.getMessage()
    assert "client reads too slowly" not in record.getMessage()


async def test_send_from_a_plain_thread_is_refused() -> None:
    """send() from a thread that runs no hook of the connection raises InvalidState naming the ways in."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/held/") as ws:
        [view] = lifecycle_views.HeldView.instances
        errors: list[BaseException] = []

        def from_a_thread() -> None:
            try:
                view.send("hi")
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=from_a_thread)
        thread.start()
        await asyncio.to_thread(thread.join, T)
        [error] = errors
        assert isinstance(error, InvalidState)
        assert "close_soon()" in str(error)
        assert "broadcast()" in str(error)
        await assert_nothing_arrives(ws)


async def test_close_soon_from_a_plain_thread_closes() -> None:
    """close_soon() is the way in from another thread: it closes the connection."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/held/") as ws:
        [view] = lifecycle_views.HeldView.instances
        thread = threading.Thread(
            target=view.close_soon, args=(CloseCode.GOING_AWAY, "bye")
        )
        thread.start()
        await asyncio.to_thread(thread.join, T)
        assert await ws.wait_closed() == CloseCode.GOING_AWAY


async def test_every_task_is_gone_after_the_connection() -> None:
    """The lifecycle's task set is empty once a connection that used groups and read-ahead ends."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/gated/") as ws:
        [view] = lifecycle_views.GatedView.instances
        life = view._lifecycle
        assert life is not None
        await ws.send("wait")
        await asyncio.wait_for(view.started.wait(), T)
        await abroadcast("gated", "x")
        assert life.tasks  # group delivery, the suspended hook, the read ahead
    await eventually(lambda: not life.tasks)


async def test_call_hook_runs_a_plain_helper_in_a_worker_thread() -> None:
    """A view's own plain-def method called through call_hook() runs off the loop, like a hook."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/own-helper/") as ws:
        await ws.send('{"text": "hi"}')
        assert json.loads(await ws.receive(T)) == {
            "echo": {"text": "hi"},
            "on_loop": False,
        }


async def test_a_view_is_freed_without_the_garbage_collector() -> None:
    """No reference cycle keeps a view (and its runtime) alive once its connection ends."""
    client = WebSocketClient(timeout=T)
    lifecycle_views.WeakHeldView.refs.clear()
    gc.collect()
    gc.disable()
    try:
        async with client.connect("/ws/weak/") as ws:
            await ws.send("x")
            assert await ws.receive(T) == "x"
        await ws.wait_closed()
        [ref] = lifecycle_views.WeakHeldView.refs
        await eventually(lambda: ref() is None)
    finally:
        gc.enable()


# What disconnect() is told, and what it may do (docs/views.rst) --------------


async def test_disconnect_gets_1005_when_the_client_gave_no_code(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """A client close without a code reaches disconnect() as 1005."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.accept":
            await incoming.put({"type": "websocket.disconnect"})  # no code

    await incoming.put({"type": "websocket.connect"})
    scope = {
        "type": "websocket",
        "path": "/ws/scripted/",
        "headers": [(b"host", b"testserver")],
        "query_string": b"",
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    await asyncio.wait_for(client_ws.application(scope, incoming.get, send), 5)
    assert [m["type"] for m in sent] == ["websocket.accept"]
    assert promise_urls["scripted"][0] == ("disconnect", 1005)


async def test_disconnect_gets_1006_when_the_handshake_was_refused(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """A view that refuses the handshake is told 1006 by disconnect()."""
    with pytest.raises(HandshakeRejected) as refused:
        await client_ws.connect("/ws/reject/")
    assert refused.value.status == 403
    assert promise_urls["scripted"][0] == ("disconnect", 1006)


async def test_nothing_can_be_sent_from_disconnect(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """send() in disconnect() raises ConnectionClosed; nothing reaches the client."""
    async with client_ws.connect("/ws/scripted/") as ws:
        await ws.send("hello")
        await ws.assert_no_message(timeout=0.05)
    assert promise_urls["scripted"] == [
        ("receive", "hello"),
        ("disconnect", CloseCode.NORMAL_CLOSURE),
        ("send", "ConnectionClosed"),
    ]


class ServerFuture(asyncio.Future[Any]):
    """What granian's receive() returns: a future of the server's own, recording who waits on it."""

    waiters: list[Any] = []

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        ServerFuture.waiters.append(fn)
        super().add_done_callback(fn, context=context)


@pytest.mark.urls("tests.support.urls")
async def test_nothing_of_the_connection_waits_on_the_servers_own_futures() -> None:
    """
    A server whose receive() returns a future of its own (granian's native
    one) gets only asyncio tasks' wake-ups as callbacks, never the
    library's: granian keeps some of those futures alive past the connection,
    and with them every view whose callback they held.
    """
    from django.core.handlers.asgi import ASGIHandler

    from django_wsviews.asgi import WebSocketMiddleware

    app = WebSocketMiddleware(ASGIHandler())
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in (
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "one"},
        {"type": "websocket.receive", "text": "two"},
        {"type": "websocket.disconnect", "code": 1000},
    ):
        inbox.put_nowait(message)
    sent: list[Any] = []
    fillers: list[asyncio.Future[None]] = []
    ServerFuture.waiters = []

    def receive() -> ServerFuture:
        future = ServerFuture()

        async def fill() -> None:
            message = await inbox.get()
            if not future.done():
                future.set_result(message)

        fillers.append(asyncio.ensure_future(fill()))
        return future

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # the hook suspends in send(), so the loop reads ahead
        sent.append(message.get("text") or message.get("status") or message["type"])

    scope = {
        "type": "websocket",
        "path": "/ws/echo/",
        "headers": [(b"host", b"testserver")],
        "query_string": b"",
        "subprotocols": [],
        "asgi": {"version": "3.0"},
        "extensions": {"websocket.http.response": {}},
    }
    await asyncio.wait_for(app(scope, receive, send), 5)  # type: ignore[arg-type]
    assert sent == ["websocket.accept", "one", "two"]
    assert ServerFuture.waiters  # the server's futures were waited on
    assert [
        waiter
        for waiter in ServerFuture.waiters
        if not isinstance(getattr(waiter, "__self__", None), asyncio.Task)
    ] == []
