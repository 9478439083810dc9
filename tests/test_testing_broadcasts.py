"""Unit tests of django_wsviews.testing.broadcasts: capture_broadcasts() and its assertions."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.urls import path

from django_wsviews import (
    BroadcastError,
    CloseCode,
    GroupMessage,
    WebSocketView,
    abroadcast,
    aclose_user_sockets,
    asend_to_user,
    broadcast,
    close_user_sockets,
    send_to_user,
)
from django_wsviews import groups as groups_module
from django_wsviews.backends.memory import MemoryBackend
from django_wsviews.testing import (
    BroadcastCapture,
    CapturedBroadcast,
    WebSocketClient,
    capture_broadcasts,
)

#: Generous bound for "returns quickly".
QUICK = 2.0


class Announcer(WebSocketView):
    """Join "room.lobby"; broadcast every message to it as JSON, and forward what the group gets."""

    group_names = ["room.lobby"]

    async def receive(self, message: str | bytes) -> None:
        await abroadcast(
            "room.lobby", json={"said": message}, sender=self.connection_id
        )

    async def receive_group(self, message: GroupMessage) -> None:
        await self.send(message.data)


class PlainAnnouncer(WebSocketView):
    """Broadcast every message to "room.plain" from a plain hook (sync broadcast())."""

    def receive(self, message: str | bytes) -> None:
        broadcast("room.plain", message)


class FailingBackend(MemoryBackend):
    """A backend whose server is down: every publish fails."""

    async def publish(self, group: str, payload: bytes) -> None:
        raise BroadcastError("the server is down")


urlpatterns: list[object] = []

ws_urlpatterns = [
    path("announce/", Announcer.as_view()),
    path("announce-plain/", PlainAnnouncer.as_view()),
]

own_urls = pytest.mark.urls(__name__)


class User:
    """A stand-in for a user: what send_to_user() needs is the primary key."""

    def __init__(self, pk: int) -> None:
        self.pk = pk

    def __repr__(self) -> str:
        return f"<User {self.pk}>"


# Recording ------------------------------------------------------------------------


def test_records_every_kind_from_sync_code() -> None:
    """broadcast(), send_to_user() and close_user_sockets() from sync code are recorded, typed, in order."""
    ada = User(7)
    with capture_broadcasts() as sent:
        broadcast("room.a", "hi")
        broadcast("room.b", json={"x": [1, 2]}, sender="conn-1", meta={"kind": "n"})
        broadcast("room.c", b"\x00\x01")
        send_to_user(ada, json={"note": 1})
        close_user_sockets(ada, CloseCode.FORBIDDEN, "banned")
    assert [record.group for record in sent] == [
        "room.a",
        "room.b",
        "room.c",
        "@user:7",
        "@user:7",
    ]
    text, as_json, binary, to_user, close = sent
    assert text == CapturedBroadcast("room.a", "message", "hi")
    assert as_json.json() == {"x": [1, 2]}
    assert isinstance(as_json.data, str)
    assert as_json.sender == "conn-1"
    assert dict(as_json.meta) == {"kind": "n"}
    assert binary.data == b"\x00\x01"
    assert (to_user.user, to_user.json()) == (ada, {"note": 1})
    assert (close.kind, close.code, close.reason, close.user) == (
        "close",
        4403,
        "banned",
        ada,
    )
    assert text.user is None
    assert text.code is None


async def test_records_from_async_code() -> None:
    """abroadcast(), asend_to_user() and aclose_user_sockets() are recorded, under async with."""
    async with capture_broadcasts() as sent:
        await abroadcast("room.a", json={"n": 1})
        await asend_to_user(3, "to a pk")
        await aclose_user_sockets(3)
    assert [(r.group, r.kind) for r in sent] == [
        ("room.a", "message"),
        ("@user:3", "message"),
        ("@user:3", "close"),
    ]
    assert sent[1].user == 3
    assert sent[2].code == CloseCode.UNAUTHORIZED


def test_json_of_binary_or_close_is_a_value_error() -> None:
    """json() of binary data or of a close raises ValueError saying what it was."""
    with capture_broadcasts() as sent:
        broadcast("room.a", b"\xff")
        close_user_sockets(1)
    for record in sent:
        with pytest.raises(ValueError, match="not JSON"):
            record.json()


def test_group_filter() -> None:
    """capture_broadcasts(group) records that group's broadcasts only; a bad name is refused."""
    with capture_broadcasts("room.a") as sent:
        broadcast("room.a", "yes")
        broadcast("room.b", "no")
    assert [record.data for record in sent] == ["yes"]
    with pytest.raises(ValueError, match="Invalid group name"):
        capture_broadcasts("not a name!")


def test_only_while_active_and_nothing_left_behind() -> None:
    """Nothing is recorded before entering or after leaving; leaving removes the capture's hook; the records stay."""
    capture = capture_broadcasts()
    broadcast("room.a", "before")
    with capture:
        broadcast("room.a", "during")
        assert groups_module.publish_observers == [capture._record]
    broadcast("room.a", "after")
    assert [record.data for record in capture] == ["during"]
    assert groups_module.publish_observers == []
    with capture, pytest.raises(RuntimeError, match="already active"):
        capture.__enter__()
    assert groups_module.publish_observers == []


def test_nested_captures_each_record() -> None:
    """Two captures active at once both record what is sent while each is active."""
    with capture_broadcasts() as outer:
        broadcast("room.a", "1")
        with capture_broadcasts() as inner:
            broadcast("room.a", "2")
        broadcast("room.a", "3")
    assert [r.data for r in outer] == ["1", "2", "3"]
    assert [r.data for r in inner] == ["2"]


def test_a_failed_broadcast_is_not_recorded(settings: Any) -> None:
    """A broadcast the backend refused (BroadcastError) raises as usual and is not recorded."""
    settings.WSVIEWS_BACKEND = {"BACKEND": f"{__name__}.FailingBackend"}
    with capture_broadcasts() as sent, pytest.raises(BroadcastError):
        broadcast("room.a", "lost")
    assert len(sent) == 0


def test_capture_is_a_sequence() -> None:
    """A capture supports len(), indexing, slicing, iteration, clear() and a repr."""
    with capture_broadcasts() as sent:
        broadcast("room.a", "1")
        broadcast("room.a", "2")
    assert isinstance(sent, BroadcastCapture)
    assert len(sent) == 2
    assert sent[-1].data == "2"
    assert [r.data for r in sent[:1]] == ["1"]
    assert repr(sent) == "<BroadcastCapture: 2 captured>"
    sent.clear()
    assert list(sent) == []


# Capturing changes nothing -----------------------------------------------------------


@own_urls
async def test_captured_broadcasts_are_still_delivered() -> None:
    """While a capture is active, the members of a group still get its broadcasts."""
    client = WebSocketClient()
    async with client.connect("/announce/") as ws, capture_broadcasts() as sent:
        await ws.send("hello")
        assert await ws.receive_json() == {"said": "hello"}
    record = sent.assert_broadcast("room.lobby", json={"said": "hello"})
    assert record.sender is not None


# Assertions --------------------------------------------------------------------------


def test_assert_broadcast_matches_and_returns_the_record() -> None:
    """assert_broadcast() matches by group, json, text, data, sender or user, and returns the first match."""
    with capture_broadcasts() as sent:
        broadcast("room.a", json={"n": 1}, sender="me")
        broadcast("room.a", "plain text")
        broadcast("room.b", b"bytes")
        send_to_user(User(5), json={"private": True})
    assert sent.assert_broadcast("room.a") is sent[0]
    assert sent.assert_broadcast("room.a", json={"n": 1}) is sent[0]
    assert sent.assert_broadcast("room.a", text="plain text") is sent[1]
    assert sent.assert_broadcast("room.b", data=b"bytes") is sent[2]
    assert sent.assert_broadcast("room.a", data="plain text") is sent[1]
    assert sent.assert_broadcast(sender="me") is sent[0]
    assert sent.assert_broadcast(user=User(5), json={"private": True}) is sent[3]
    assert sent.assert_broadcast(json={"private": True}) is sent[3]


@pytest.mark.parametrize(
    "criteria",
    [
        {"group": "room.b"},
        {"group": "room.a", "json": {"n": 2}},
        {"group": "room.a", "text": "other"},
        {"group": "room.a", "data": b"plain text"},
        {"group": "room.a", "sender": "someone"},
        {"user": User(1)},
    ],
)
def test_assert_broadcast_fails_listing_what_was_sent(criteria: dict[str, Any]) -> None:
    """A broadcast that was not sent fails with what was looked for and everything sent."""
    with capture_broadcasts() as sent:
        broadcast("room.a", json={"n": 1}, sender="me")
        broadcast("room.a", "plain text")
    with pytest.raises(AssertionError) as info:
        sent.assert_broadcast(**criteria)
    message = str(info.value)
    assert message.startswith("Expected a broadcast")
    assert """'room.a': text '{"n": 1}' (sender 'me')""" in message
    assert "'room.a': text 'plain text'" in message


def test_assert_broadcast_with_nothing_sent() -> None:
    """With nothing sent, the failure says so."""
    with capture_broadcasts() as sent:
        pass
    with pytest.raises(AssertionError, match="nothing was sent"):
        sent.assert_broadcast("room.a", json=None)


def test_assert_broadcast_refuses_several_contents() -> None:
    """json=, text= and data= are alternatives; group and user= too."""
    with capture_broadcasts() as sent:
        broadcast("room.a", "x")
    with pytest.raises(TypeError, match="json= and text="):
        sent.assert_broadcast("room.a", text="x", json="x")
    with pytest.raises(TypeError, match="not both"):
        sent.assert_broadcast("room.a", user=User(1))
    with pytest.raises(TypeError, match="use data= for bytes"):
        sent.assert_broadcast("room.a", text=b"x")  # type: ignore[arg-type]


def test_assert_broadcast_ignores_closes() -> None:
    """A close request is not a broadcast message."""
    with capture_broadcasts() as sent:
        close_user_sockets(User(1))
    with pytest.raises(AssertionError, match="close 4401"):
        sent.assert_broadcast(user=User(1))


def test_assert_no_broadcast() -> None:
    """assert_no_broadcast() passes for a silent group or user and fails listing what was sent there."""
    with capture_broadcasts() as sent:
        broadcast("room.a", "x")
        close_user_sockets(User(2), reason="bye")
    sent.assert_no_broadcast("room.b")
    sent.assert_no_broadcast(user=User(3))
    with pytest.raises(
        AssertionError, match=r"to 'room.a', got 1:\n  'room.a': text 'x'"
    ):
        sent.assert_no_broadcast("room.a")
    with pytest.raises(AssertionError, match="close 4401 'bye'"):
        sent.assert_no_broadcast(user=User(2))
    with pytest.raises(AssertionError, match="at all, got 2"):
        sent.assert_no_broadcast()
    with capture_broadcasts() as silent:
        pass
    silent.assert_no_broadcast()


def test_assert_user_sockets_closed() -> None:
    """assert_user_sockets_closed() finds a close of the user's sockets, by code and reason too."""
    with capture_broadcasts() as sent:
        send_to_user(User(1), "not a close")
        close_user_sockets(User(1), CloseCode.FORBIDDEN, "banned")
    record = sent.assert_user_sockets_closed(User(1))
    assert record.code == 4403
    assert (
        sent.assert_user_sockets_closed(User(1), code=4403, reason="banned") is record
    )
    with pytest.raises(AssertionError, match=r"(?s)code=4401.*close 4403 'banned'"):
        sent.assert_user_sockets_closed(User(1), code=CloseCode.UNAUTHORIZED)
    with pytest.raises(AssertionError, match="'@user:2'"):
        sent.assert_user_sockets_closed(User(2))


# Waiting for a broadcast ----------------------------------------------------------------


@own_urls
async def test_wait_for_a_broadcast_a_view_makes() -> None:
    """wait_for() returns once a view broadcasts a match, sync broadcast() in a plain hook included."""
    client = WebSocketClient()
    async with capture_broadcasts() as sent, client.connect("/announce-plain/") as ws:
        await ws.send("from a thread")
        record = await asyncio.wait_for(
            sent.wait_for("room.plain", text="from a thread", timeout=30), QUICK
        )
    assert record.data == "from a thread"


async def test_wait_for_returns_at_once_for_an_earlier_broadcast() -> None:
    """wait_for() finds a broadcast made before it was called, without waiting."""
    loop = asyncio.get_running_loop()
    async with capture_broadcasts() as sent:
        await abroadcast("room.a", json={"n": 1})
        started = loop.time()
        await sent.wait_for("room.a", json={"n": 1}, timeout=30)
        assert loop.time() - started < QUICK


async def test_wait_for_is_woken_from_another_thread() -> None:
    """A broadcast from another thread, made while wait_for() waits, wakes it."""
    go = threading.Event()

    def broadcast_later() -> None:
        go.wait(QUICK)
        broadcast("room.thread", "from a thread")

    worker = threading.Thread(target=broadcast_later)
    async with capture_broadcasts() as sent:
        worker.start()
        # Runs once wait_for() has checked the records and waits.
        asyncio.get_running_loop().call_soon(go.set)
        # Far longer than the bound: only a wake-up returns in time.
        record = await asyncio.wait_for(sent.wait_for("room.thread", timeout=30), QUICK)
    await asyncio.to_thread(worker.join, QUICK)
    assert record.data == "from a thread"


async def test_wait_for_fails_after_its_timeout_listing_what_was_sent() -> None:
    """wait_for() raises AssertionError after its timeout, listing what was sent."""
    loop = asyncio.get_running_loop()
    async with capture_broadcasts() as sent:
        await abroadcast("room.a", "something else")
        started = loop.time()
        with pytest.raises(AssertionError) as info:
            await sent.wait_for("room.a", text="this", timeout=0.05)
        assert loop.time() - started < QUICK
    assert "within 0.05 s" in str(info.value)
    assert "'room.a': text 'something else'" in str(info.value)
