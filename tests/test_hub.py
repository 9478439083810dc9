"""The per-process hub: one backend subscription per group, fan-out, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from django_wsviews import hub as hub_module
from django_wsviews.asgi import WebSocketMiddleware
from django_wsviews.envelope import GroupMessage, encode_message
from django_wsviews.hub import current_hub, get_hub
from django_wsviews.testing import WebSocketClient

from .support.groups_support import RecordingBackend, eventually

pytestmark = pytest.mark.urls("tests.support.groups_urls")

RECORDING = {
    "BACKEND": "tests.support.groups_support.RecordingBackend",
    "OPTIONS": {"TAG": "a"},
}


@pytest.fixture
def calls(settings: Any) -> list[tuple[Any, ...]]:
    """Use the recording backend; return its call log."""
    settings.WSVIEWS_BACKEND = RECORDING
    RecordingBackend.calls = []
    return RecordingBackend.calls


class FakeMember:
    """A member that records what the hub hands it."""

    def __init__(self) -> None:
        self.messages: list[GroupMessage] = []
        self.closes: list[tuple[int, str]] = []

    def deliver(self, message: GroupMessage) -> None:
        self.messages.append(message)

    def close_from_group(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))


async def test_one_subscription_per_group(calls: list[tuple[Any, ...]]) -> None:
    """Three local members of a group cost one subscribe; the last to leave unsubscribes."""
    client = WebSocketClient(timeout=5)
    connections = [await client.connect("/ws/room/x/") for _ in range(3)]
    assert calls.count(("subscribe", ["room.x"])) == 1
    for ws in connections:
        await ws.close()
    await eventually(lambda: ("unsubscribe", ["room.x"]) in calls)
    assert calls.count(("unsubscribe", ["room.x"])) == 1


async def test_backend_connects_before_first_subscribe(
    calls: list[tuple[Any, ...]],
) -> None:
    """Without lifespan, the backend connects on first use, before subscribing."""
    hub = get_hub()
    await hub.add("g", FakeMember())
    assert calls[:2] == [("connect", "a"), ("subscribe", ["g"])]


async def test_leave_then_rejoin_ends_subscribed(calls: list[tuple[Any, ...]]) -> None:
    """A group left by its last member and joined again at once stays subscribed."""
    hub = get_hub()
    first, second = FakeMember(), FakeMember()
    await hub.add("g", first)
    hub.discard("g", first)
    await hub.add("g", second)
    await eventually(lambda: not hub._changed.is_set())
    await hub.publish("g", encode_message("g", "still here"))
    assert [m.data for m in second.messages] == ["still here"]
    assert first.messages == []


async def test_fan_out_shares_one_message(calls: list[tuple[Any, ...]]) -> None:
    """Every local member gets the same decoded message object."""
    hub = get_hub()
    members = [FakeMember() for _ in range(10)]
    for member in members:
        await hub.add("g", member)
    await hub.publish("g", encode_message("g", b"\x01", sender="me", meta={"k": 1}))
    received = [member.messages[0] for member in members]
    assert all(message is received[0] for message in received)
    assert received[0] == GroupMessage("g", b"\x01", "me", {"k": 1})


async def test_malformed_message_dropped(
    calls: list[tuple[Any, ...]], caplog: pytest.LogCaptureFixture
) -> None:
    """A payload that is not a group message is logged and dropped."""
    hub = get_hub()
    member = FakeMember()
    await hub.add("g", member)
    with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
        await hub.publish("g", b"not an envelope")
    assert member.messages == []
    assert "Dropping a malformed group message" in caplog.text


class FailingBackend(RecordingBackend):
    """A backend whose subscribe() fails (a bug, not an outage)."""

    async def subscribe(self, groups: Any) -> None:
        raise RuntimeError("subscribe is broken")


async def test_subscribe_error_reaches_joiner(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected backend error is logged and raised to the joiner."""
    settings.WSVIEWS_BACKEND = {"BACKEND": "tests.test_hub.FailingBackend"}
    with (
        caplog.at_level(logging.ERROR, "django_wsviews.groups"),
        pytest.raises(RuntimeError, match="subscribe is broken"),
    ):
        await get_hub().add("g", FakeMember())
    assert "Error changing the group backend's subscriptions" in caplog.text


async def test_setting_change_makes_a_new_hub(
    settings: Any, calls: list[tuple[Any, ...]]
) -> None:
    """Changing WSVIEWS_BACKEND (override_settings) gives the loop a new hub and backend."""
    first = get_hub()
    settings.WSVIEWS_BACKEND = {**RECORDING, "OPTIONS": {"TAG": "b"}}
    second = get_hub()
    assert second is not first
    assert second.backend.options == {"TAG": "b"}
    assert get_hub() is second


async def test_closed_hub_refuses_members(calls: list[tuple[Any, ...]]) -> None:
    """Once closed (shutdown), a hub raises on join and closes its backend once."""
    hub = get_hub()
    await hub.close()
    await hub.close()
    assert calls.count(("close", "a")) == 1
    with pytest.raises(RuntimeError, match="shutting down"):
        await hub.add("g", FakeMember())
    assert get_hub() is not hub


async def lifespan(app: WebSocketMiddleware, *events: str) -> list[dict[str, Any]]:
    """Run the lifespan protocol through ``events``; return what the app sent."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in events:
        inbox.put_nowait({"type": event})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app({"type": "lifespan"}, inbox.get, send), 5)
    return sent


async def test_lifespan_connects_and_closes(calls: list[tuple[Any, ...]]) -> None:
    """Lifespan startup connects the backend; shutdown closes it after the connections."""
    from django.core.handlers.asgi import ASGIHandler

    app = WebSocketMiddleware(ASGIHandler())
    sent = await lifespan(app, "lifespan.startup", "lifespan.shutdown")
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert calls == [("connect", "a"), ("close", "a")]
    assert current_hub() is None or current_hub().closed  # type: ignore[union-attr]


async def test_lifespan_startup_fails_on_bad_backend(settings: Any) -> None:
    """A misconfigured backend fails lifespan startup with the fix in the message."""
    from django.core.handlers.asgi import ASGIHandler

    settings.WSVIEWS_BACKEND = {"BACKEND": "no.such.Backend"}
    sent = await lifespan(WebSocketMiddleware(ASGIHandler()), "lifespan.startup")
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "Fix the dotted path" in sent[0]["message"]


class CountedName(str):
    """A group name that counts how often it is hashed (looked at by a set or dict)."""

    hashes = 0

    def __hash__(self) -> int:
        CountedName.hashes += 1
        return str.__hash__(self)


async def test_reconciliation_touches_only_changed_groups(
    calls: list[tuple[Any, ...]],
) -> None:
    """With 1,000 groups subscribed, a leave and a join look at a few names, not all 1,000."""
    hub = get_hub()
    member = FakeMember()
    names = [CountedName(f"g.{n}") for n in range(1000)]
    await asyncio.gather(*(hub.add(name, member) for name in names))
    assert calls.count(("subscribe", sorted(f"g.{n}" for n in range(1000)))) == 1
    before = CountedName.hashes
    hub.discard(CountedName("g.0"), member)
    await hub.add(CountedName("new"), member)  # after the loop's turn for the discard
    assert CountedName.hashes - before < 30
    assert calls[-2:] == [("unsubscribe", ["g.0"]), ("subscribe", ["new"])]


async def test_add_all_one_subscription(calls: list[tuple[Any, ...]]) -> None:
    """add_all() subscribes the groups it needs in one call, skipping those subscribed."""
    hub = get_hub()
    first, second = FakeMember(), FakeMember()
    await hub.add("a", first)
    await hub.add_all(["a", "b", "c"], second)
    assert calls[-1] == ("subscribe", ["b", "c"])
    assert hub.members("a") == {first, second}
    await hub.add_all([], second)
    assert calls[-1] == ("subscribe", ["b", "c"])


class SwallowingBackend(RecordingBackend):
    """A backend whose unsubscribe() swallows a cancellation (as redis-py 8.1's can)."""

    entered: asyncio.Event
    release: asyncio.Event

    async def unsubscribe(self, groups: Any) -> None:
        await super().unsubscribe(groups)
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.release.wait()


async def test_close_ends_despite_a_swallowed_cancellation(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """close() stops the hub even when the backend swallowed the cancellation it got."""
    settings.WSVIEWS_BACKEND = {"BACKEND": "tests.test_hub.SwallowingBackend"}
    RecordingBackend.calls = []
    SwallowingBackend.entered = asyncio.Event()
    SwallowingBackend.release = asyncio.Event()
    hub = get_hub()
    member = FakeMember()
    await hub.add("g", member)
    hub.discard("g", member)
    await asyncio.wait_for(SwallowingBackend.entered.wait(), 5)
    with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
        await hub.close()
    assert hub._task.done()
    assert "did not stop" not in caplog.text
    assert RecordingBackend.calls[-1] == ("close", None)


class StuckBackend(SwallowingBackend):
    """A backend whose unsubscribe() swallows every cancellation until released."""

    async def unsubscribe(self, groups: Any) -> None:
        await RecordingBackend.unsubscribe(self, groups)
        self.entered.set()
        while not self.release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await self.release.wait()


async def test_close_gives_up_on_a_backend_that_never_stops(
    settings: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() waits at most CLOSE_TIMEOUT for a stuck backend, says so, and closes it."""
    monkeypatch.setattr(hub_module, "CLOSE_TIMEOUT", 0.05)
    settings.WSVIEWS_BACKEND = {"BACKEND": "tests.test_hub.StuckBackend"}
    RecordingBackend.calls = []
    StuckBackend.entered = asyncio.Event()
    StuckBackend.release = asyncio.Event()
    hub = get_hub()
    member = FakeMember()
    await hub.add("g", member)
    hub.discard("g", member)
    await asyncio.wait_for(StuckBackend.entered.wait(), 5)
    try:
        with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
            await asyncio.wait_for(hub.close(), 5)
        assert not hub._task.done()
        assert "The group hub did not stop within 0.05 s." in caplog.text
        assert RecordingBackend.calls[-1] == ("close", None)
    finally:
        StuckBackend.release.set()
    await asyncio.wait_for(hub._task, 5)
