"""Signals and counters as real connections open, talk, close and are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from django_wsviews import CloseCode, ClosedBy, RejectReason, metrics, signals
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient

T = 5.0


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
def sent() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record every lifecycle signal sent during the test."""
    events: list[tuple[str, dict[str, Any]]] = []

    def receiver(name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            events.append((name, {"sender": sender, **kwargs}))

        return receive

    receivers = {
        signals.connection_opened: receiver("opened"),
        signals.connection_closed: receiver("closed"),
        signals.handshake_rejected: receiver("rejected"),
    }
    for signal, function in receivers.items():
        signal.connect(function)
    yield events
    for signal, function in receivers.items():
        signal.disconnect(function)


async def test_an_echo_connection_is_counted_and_signalled(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """Opened, two messages each way, closed by the client: signals and snapshot agree."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/echo/") as ws:
        assert metrics.snapshot().open_connections == {
            "tests.support.views.EchoView": 1
        }
        for text in ("hi", "there"):
            await ws.send(text)
            assert await ws.receive(T) == text
    [opened] = [kwargs for name, kwargs in sent if name == "opened"]
    [closed] = [kwargs for name, kwargs in sent if name == "closed"]
    assert opened["path"] == "/ws/echo/"
    assert closed["closed_by"] is ClosedBy.CLIENT
    assert closed["code"] == CloseCode.NORMAL_CLOSURE
    assert (closed["messages_in"], closed["messages_out"]) == (2, 2)
    assert (closed["bytes_in"], closed["bytes_out"]) == (7, 7)
    assert closed["duration"] >= 0
    snap = metrics.snapshot()
    assert snap.open_connections == {"tests.support.views.EchoView": 0}
    assert snap.handshakes_accepted == 1
    assert (snap.messages_in, snap.messages_out) == (2, 2)
    assert snap.closes == {(1000, "client"): 1}


async def test_a_message_too_big_is_closed_by_the_server(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """The size limit's 1009 counts as closed by django-wsviews, not the view."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/small/") as ws:
        await ws.send("x" * 100)
        assert await ws.wait_closed() == CloseCode.MESSAGE_TOO_BIG
    [closed] = [kwargs for name, kwargs in sent if name == "closed"]
    assert closed["closed_by"] is ClosedBy.SERVER
    assert metrics.snapshot().closes == {(1009, "server"): 1}


async def test_a_view_that_closes_is_counted_as_the_view(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """A close() of the view's own counts as closed by the view."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/close/") as ws:
        await ws.send("4000 done")
        assert await ws.wait_closed() == 4000
    [closed] = [kwargs for name, kwargs in sent if name == "closed"]
    assert closed["closed_by"] is ClosedBy.VIEW
    assert metrics.snapshot().closes == {(4000, "view"): 1}


async def test_an_idle_close_is_the_servers(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """The idle timeout's 1001 counts as closed by django-wsviews, as its limits do."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/idle/") as ws:
        assert await ws.wait_closed() == CloseCode.GOING_AWAY
    [closed] = [kwargs for name, kwargs in sent if name == "closed"]
    assert closed["closed_by"] is ClosedBy.SERVER
    assert metrics.snapshot().closes == {(1001, "server"): 1}


@pytest.mark.parametrize(
    ("path", "headers", "status", "reason"),
    [
        ("/ws/nowhere/", {}, 404, RejectReason.NOT_FOUND),
        ("/ws/echo/", {"Origin": "https://evil.example"}, 403, RejectReason.ORIGIN),
        ("/ws/echo/", {"Host": "evil.example"}, 400, RejectReason.HOST),
        ("/ws/login-required/", {}, 403, RejectReason.PERMISSION),
        ("/ws/reject/", {}, 403, RejectReason.VIEW),
        ("/ws/connect-error/", {}, 500, RejectReason.ERROR),
    ],
)
async def test_refusals_name_their_reason(
    sent: list[tuple[str, dict[str, Any]]],
    path: str,
    headers: dict[str, str],
    status: int,
    reason: RejectReason,
) -> None:
    """Each kind of refused handshake is counted and signalled with its reason and status."""
    client = WebSocketClient(timeout=T, headers=headers, raise_view_exceptions=False)
    with pytest.raises(HandshakeRejected) as refused:
        await client.connect(path)
    assert refused.value.status == status
    [rejected] = [kwargs for name, kwargs in sent if name == "rejected"]
    assert (rejected["status"], rejected["reason"]) == (status, reason)
    assert rejected["path"] == path
    assert metrics.snapshot().handshakes_rejected[reason.value] == 1
    assert [name for name, _ in sent] == ["rejected"]


async def test_a_middleware_refusal_is_the_middlewares(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """A response from the handshake's middleware is counted with reason MIDDLEWARE."""
    with override_settings(
        WSVIEWS_MIDDLEWARE=[
            *settings.MIDDLEWARE,
            "tests.support.middleware.ViewRecorder",
        ]
    ):
        client = WebSocketClient(timeout=T)
        with pytest.raises(HandshakeRejected):
            await client.connect("/ws/refused-by-middleware/")
    [rejected] = [kwargs for name, kwargs in sent if name == "rejected"]
    assert rejected["reason"] is RejectReason.MIDDLEWARE


async def test_text_is_counted_in_characters(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """bytes_in and bytes_out count a text frame's characters (not encoded to measure), a binary frame's bytes."""
    client = WebSocketClient(timeout=T)
    async with client.connect("/ws/echo/") as ws:
        await ws.send("h\u00e9\U0001f600")  # 3 characters, 7 bytes of UTF-8
        assert await ws.receive(T) == "h\u00e9\U0001f600"
        await ws.send(b"\x00\xff")
        assert await ws.receive(T) == b"\x00\xff"
    [closed] = [kwargs for name, kwargs in sent if name == "closed"]
    assert (closed["bytes_in"], closed["bytes_out"]) == (5, 5)
    assert (metrics.snapshot().bytes_in, metrics.snapshot().bytes_out) == (5, 5)


async def test_the_status_asked_for_is_signalled_where_the_server_sends_403(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """On a server without the denial extension (daphne) the client gets 403; the signal has the 418 asked for."""
    client = WebSocketClient(timeout=T, extensions={})
    with pytest.raises(HandshakeRejected) as refused:
        await client.connect("/ws/reject-418/")
    assert refused.value.status == 403
    [rejected] = [kwargs for name, kwargs in sent if name == "rejected"]
    assert (rejected["status"], rejected["reason"]) == (418, "view")


async def test_a_malformed_handshake_is_a_bad_request_without_a_request(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """A query string that is not UTF-8: 400, reason bad_request, and no request to pass."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "websocket",
        "path": "/ws/echo/",
        "headers": [(b"host", b"testserver")],
        "query_string": b"q=\xff",
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    await asyncio.wait_for(WebSocketClient().application(scope, receive, send), T)
    assert messages[0]["status"] == 400
    [rejected] = [kwargs for name, kwargs in sent if name == "rejected"]
    assert (rejected["status"], rejected["reason"], rejected["request"]) == (
        400,
        "bad_request",
        None,
    )
    assert metrics.snapshot().handshakes_rejected["bad_request"] == 1


@pytest.mark.django_db(transaction=True)
async def test_too_many_connections_is_signalled_with_its_reason(
    sent: list[tuple[str, dict[str, Any]]],
) -> None:
    """A user over max_connections_per_user is refused with 429, reason too_many_connections."""
    client = WebSocketClient(timeout=T)
    await client.aforce_login(await User.objects.acreate(username="many"))
    async with client.connect("/ws/per-user/"), client.connect("/ws/per-user/"):
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/per-user/")
    assert refused.value.status == 429
    [rejected] = [kwargs for name, kwargs in sent if name == "rejected"]
    assert (rejected["status"], rejected["reason"]) == (429, "too_many_connections")
