"""
History and resume through views and the façade, in one process (the in-memory backend).

The same behaviour across processes and on Redis and PostgreSQL is in
``test_history_e2e.py``; the stores themselves in ``test_history_stores.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from django_wsviews import (
    BroadcastError,
    abroadcast,
    alast_seq,
    broadcast,
    history,
    last_seq,
)
from django_wsviews.backends import history_memory
from django_wsviews.history import choose_group, limits_for
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

pytestmark = pytest.mark.urls("tests.support.history_urls")

T = 5.0
RESET = {"event": "wsviews.reset"}


@pytest.fixture(autouse=True)
def _history() -> Iterator[None]:
    """Keep 10 messages of every hist.* group; start from an empty history and no warnings given."""
    history_memory.forget()
    history._warned_views.clear()
    with override_settings(WSVIEWS_HISTORY={"hist.*": {"MAX_MESSAGES": 10}}):
        yield
    history_memory.forget()


@pytest.fixture
def client() -> WebSocketClient:
    """Return a test client with a 5-second bound on every wait."""
    return WebSocketClient(timeout=T)


async def received(ws: WebSocketTestConnection, count: int) -> list[Any]:
    """Return the next ``count`` messages, decoded."""
    return [await ws.receive_json() for _ in range(count)]


async def send_some(group: str, numbers: range) -> None:
    """Broadcast ``{"n": i}`` for each i."""
    for n in numbers:
        await abroadcast(group, json={"n": n})


async def test_members_get_the_seq(client: WebSocketClient) -> None:
    """A broadcast to a history group reaches members with "seq", numbered 1, 2, ..."""
    async with client.connect("/ws/hist/a/") as ws:
        await send_some("hist.a", range(2))
        first, second = await received(ws, 2)
    epoch = first["seq"].partition(":")[0]
    assert first == {"seq": f"{epoch}:1", "n": 0}
    assert second == {"seq": f"{epoch}:2", "n": 1}


async def test_resume_replays_then_live(client: WebSocketClient) -> None:
    """Reconnecting with last_seq= gives the missed messages in order, then live ones."""
    async with client.connect("/ws/hist/a/") as ws:
        await send_some("hist.a", range(2))
        seen = await received(ws, 2)
    await send_some("hist.a", range(2, 7))
    async with client.connect("/ws/hist/a/", last_seq=seen[-1]["seq"]) as ws:
        assert [m["n"] for m in await received(ws, 5)] == [2, 3, 4, 5, 6]
        await send_some("hist.a", range(7, 8))
        assert [m["n"] for m in await received(ws, 1)] == [7]
        await ws.assert_no_message()


async def test_live_only_messages_are_never_replayed(client: WebSocketClient) -> None:
    """history=False reaches members live, without a seq, of any content, and is not kept."""
    async with client.connect("/ws/hist/a/") as ws:
        await send_some("hist.a", range(1))
        [seen] = await received(ws, 1)
        await abroadcast("hist.a", "typing", history=False)
        assert await ws.receive(T) == "typing"
    await abroadcast("hist.a", json={"typing": True}, history=False)
    await send_some("hist.a", range(1, 3))
    async with client.connect("/ws/hist/a/", last_seq=seen["seq"]) as ws:
        assert [m["n"] for m in await received(ws, 2)] == [1, 2]
        await ws.assert_no_message()


def test_live_only_messages_skip_the_history_rules() -> None:
    """Only kept messages must be JSON objects; a live-only one may be any text or bytes."""
    with pytest.raises(TypeError, match="JSON objects"):
        broadcast("hist.a", "plain text")
    broadcast("hist.a", "plain text", history=False)
    broadcast("hist.a", b"\x00", history=False)
    assert last_seq("hist.a") is None


async def test_replay_goes_through_receive_group(client: WebSocketClient) -> None:
    """Replayed messages pass through the view's receive_group(), as live ones do."""
    async with client.connect("/ws/even/a/") as ws:
        await send_some("hist.a", range(1))
        [seen] = await received(ws, 1)
    await send_some("hist.a", range(1, 6))
    async with client.connect("/ws/even/a/", last_seq=seen["seq"]) as ws:
        assert [m["n"] for m in await received(ws, 2)] == [2, 4]
        await ws.assert_no_message()


@pytest.mark.parametrize(
    "last", ["nonsense", "abc:", ":5", "ABC:1", "abc:-1", "x" * 2000, "abc:1"]
)
async def test_malformed_or_foreign_seq_gives_a_reset(
    client: WebSocketClient, last: str
) -> None:
    """A wsviews_last that names no place in this group's history gets a reset, then live."""
    await send_some("hist.a", range(1))
    async with client.connect("/ws/hist/a/", last_seq=last) as ws:
        assert await ws.receive_json() == RESET
        await send_some("hist.a", range(1, 2))
        assert [m["n"] for m in await received(ws, 1)] == [1]


async def test_trimmed_history_gives_a_reset(client: WebSocketClient) -> None:
    """Missing more than MAX_MESSAGES gives a reset."""
    async with client.connect("/ws/hist/a/") as ws:
        await send_some("hist.a", range(1))
        [seen] = await received(ws, 1)
    await send_some("hist.a", range(1, 12))
    async with client.connect("/ws/hist/a/", last_seq=seen["seq"]) as ws:
        assert await ws.receive_json() == RESET
        await ws.assert_no_message()


async def test_restart_gives_a_reset(client: WebSocketClient) -> None:
    """A seq from before the history was lost (a restart) gets a reset."""
    async with client.connect("/ws/hist/a/") as ws:
        await send_some("hist.a", range(1))
        [seen] = await received(ws, 1)
    history_memory.forget()
    await send_some("hist.a", range(1, 3))
    async with client.connect("/ws/hist/a/", last_seq=seen["seq"]) as ws:
        assert await ws.receive_json() == RESET


async def test_view_without_history_ignores_the_parameter(
    client: WebSocketClient,
) -> None:
    """A view whose groups keep no history ignores wsviews_last: no reset, live messages."""
    async with client.connect("/ws/plain/", last_seq="abc:1") as ws:
        await abroadcast("plain.room", "hello")
        assert await ws.receive_text() == "hello"


async def test_resume_without_history_warns_once(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A client asking to resume a view whose groups keep no history is ignored, with one warning naming WSVIEWS_HISTORY."""
    with caplog.at_level(logging.WARNING, "django_wsviews.history"):
        for last in ("abc:1", "abc:2"):
            async with client.connect("/ws/plain/", last_seq=last) as ws:
                await abroadcast("plain.room", "hello")
                assert await ws.receive_text() == "hello"
        async with client.connect("/ws/plain/"):
            pass  # no wsviews_last: nothing to warn about
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "none of its groups (plain.room) keeps history" in warnings[0]
    assert "WSVIEWS_HISTORY" in warnings[0]


async def test_explicit_history_group_resumes_that_group(
    client: WebSocketClient,
) -> None:
    """get_history_group() names the group a connection resumes."""
    async with client.connect("/ws/chosen/a/") as ws:
        await send_some("hist.a-b", range(1))
        [seen] = await received(ws, 1)
    await send_some("hist.a-b", range(1, 3))
    async with client.connect("/ws/chosen/a/", last_seq=seen["seq"]) as ws:
        assert [m["n"] for m in await received(ws, 2)] == [1, 2]


async def test_ambiguous_view_warns_once(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A view in two history groups without history_group resumes the first and warns, once."""
    with caplog.at_level(logging.WARNING, "django_wsviews.history"):
        for _ in range(2):
            async with client.connect("/ws/two/zz/", last_seq="abc:1") as ws:
                assert await ws.receive_json() == RESET
    warnings = [r for r in caplog.records if "several groups with history" in r.message]
    assert len(warnings) == 1
    assert "history_group" in warnings[0].getMessage()


def test_choose_group_rules() -> None:
    """The explicit group if it keeps history and is joined; else the first with history."""
    assert choose_group("V1", None, ["plain", "hist.a", "hist.b"]) == "hist.a"
    assert choose_group("V2", None, ["plain"]) is None
    assert choose_group("V3", "hist.b", ["hist.a", "hist.b"]) == "hist.b"
    assert choose_group("V4", "hist.c", ["hist.a"]) is None
    assert choose_group("V5", "plain", ["plain"]) is None


def test_user_groups_never_keep_history() -> None:
    """Names starting with @ match no pattern, even "*"."""
    with override_settings(WSVIEWS_HISTORY={"*": {}}):
        assert limits_for("@user:1") is None
        assert limits_for("room") is not None


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        (("text",), {}, "JSON objects"),
        (("[1, 2]",), {}, "JSON objects"),
        ((b"{}",), {}, "not bytes"),
        ((), {"json": [1]}, "JSON objects"),
        ((), {"json": {"seq": 1}}, "reserved"),
        (('{"seq": 1}',), {}, "reserved"),
    ],
)
def test_history_group_refuses_other_messages(
    args: tuple[Any, ...], kwargs: dict[str, Any], words: str
) -> None:
    """A broadcast to a history group that is not a JSON object without "seq" raises TypeError."""
    with pytest.raises(TypeError, match=words):
        broadcast("hist.a", *args, **kwargs)


def test_history_group_accepts_json_object_text() -> None:
    """JSON object text, even with whitespace around it, is accepted."""
    broadcast("hist.a", '  {"a": 1} ')
    broadcast("hist.a", json={})
    seq = last_seq("hist.a")
    assert seq is not None
    assert seq.endswith(":2")  # both kept, numbered 1 and 2


def test_last_seq() -> None:
    """last_seq() is None before any broadcast, then the seq of the latest; ValueError without history."""
    assert last_seq("hist.a") is None
    broadcast("hist.a", json={"n": 0})
    broadcast("hist.a", json={"n": 1})
    seq = last_seq("hist.a")
    assert seq is not None
    assert seq.endswith(":2")
    with pytest.raises(ValueError, match="keeps no history"):
        last_seq("plain.room")


async def test_page_rendered_with_last_seq_misses_nothing(
    client: WebSocketClient,
) -> None:
    """A first connection with alast_seq() read before gets what was said since."""
    await send_some("hist.a", range(2))
    seq = await alast_seq("hist.a")
    await send_some("hist.a", range(2, 4))  # between the render and the connection
    async with client.connect("/ws/hist/a/", last_seq=seq) as ws:
        assert [m["n"] for m in await received(ws, 2)] == [2, 3]


async def test_unreadable_history_gives_a_reset(
    client: WebSocketClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A history that cannot be read (the server unreachable) gives a reset and a warning."""

    async def unreachable(*args: Any) -> Any:
        raise BroadcastError("Redis at redis://db is unreachable")

    await send_some("hist.a", range(1))
    monkeypatch.setattr(history_memory.MemoryHistory, "read", unreachable)
    with caplog.at_level(logging.WARNING, "django_wsviews.history"):
        async with client.connect("/ws/hist/a/", last_seq="abc:1") as ws:
            assert await ws.receive_json() == RESET
    assert any("Cannot resume group 'hist.a'" in r.getMessage() for r in caplog.records)
