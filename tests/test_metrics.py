"""Tests for django_wsviews.metrics: the process counters and their snapshot."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from django_wsviews import metrics
from django_wsviews.metrics import ClosedBy, ConnectionStats, RejectReason
from django_wsviews.status import CloseCode


class ChatView:
    """A stand-in for a view: what the events read of one."""

    def __init__(self, path: str = "/ws/chat/") -> None:
        self.request = SimpleNamespace(path=path)


class NewsView(ChatView):
    pass


CHAT = f"{__name__}.ChatView"
NEWS = f"{__name__}.NewsView"


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


async def opened(view: Any) -> ConnectionStats:
    stats = ConnectionStats()
    await metrics.connection_opened(view, stats)
    return stats


def test_fresh_snapshot_is_all_zero() -> None:
    """After reset, nothing is open or counted, and every refusal reason reads 0."""
    snap = metrics.snapshot()
    assert snap.open_connections == {}
    assert snap.handshakes_accepted == 0
    assert snap.handshakes_rejected == {reason.value: 0 for reason in RejectReason}
    assert (snap.messages_in, snap.messages_out, snap.bytes_in, snap.bytes_out) == (
        0,
        0,
        0,
        0,
    )
    assert snap.closes == {}
    assert snap.close_codes == {}
    assert snap.closed_by == {}
    assert snap.group_messages_delivered == 0
    assert snap.group_messages_dropped == 0
    assert snap.broadcast_errors == 0


async def test_opened_counts_by_dotted_view_name() -> None:
    """Each opened connection counts as open under its view's dotted class name."""
    await opened(ChatView())
    await opened(ChatView())
    news = await opened(NewsView())
    snap = metrics.snapshot()
    assert snap.open_connections == {CHAT: 2, NEWS: 1}
    assert snap.handshakes_accepted == 3
    assert news.view == NEWS
    assert news.opened_at > 0


async def test_opening_the_same_stats_twice_counts_once() -> None:
    """connection_opened() is idempotent for one connection's stats."""
    view = ChatView()
    stats = await opened(view)
    await metrics.connection_opened(view, stats)
    snap = metrics.snapshot()
    assert snap.open_connections == {CHAT: 1}
    assert snap.handshakes_accepted == 1


async def test_snapshot_includes_open_connections_counts() -> None:
    """Messages of connections still open show in the snapshot at once."""
    stats = await opened(ChatView())
    stats.messages_in += 3
    stats.bytes_in += 30
    stats.messages_out += 2
    stats.bytes_out += 7
    snap = metrics.snapshot()
    assert (snap.messages_in, snap.bytes_in) == (3, 30)
    assert (snap.messages_out, snap.bytes_out) == (2, 7)
    stats.messages_in += 1
    assert metrics.snapshot().messages_in == 4


async def test_closing_folds_counts_into_totals() -> None:
    """A closed connection's counts stay in the totals; its view stays listed with 0."""
    view = ChatView()
    stats = await opened(view)
    stats.messages_in, stats.bytes_in = 5, 50
    stats.messages_out, stats.bytes_out = 4, 40
    stats.closed_by = ClosedBy.CLIENT
    await metrics.connection_closed(view, stats, 1000)
    snap = metrics.snapshot()
    assert snap.open_connections == {CHAT: 0}
    assert (snap.messages_in, snap.bytes_in, snap.messages_out, snap.bytes_out) == (
        5,
        50,
        4,
        40,
    )
    assert snap.closes == {(1000, "client"): 1}


async def test_totals_add_closed_and_open_connections() -> None:
    """The totals are the closed connections' counts plus the open ones'."""
    first, second = ChatView(), ChatView()
    closed = await opened(first)
    still_open = await opened(second)
    closed.messages_in = 2
    still_open.messages_in = 3
    await metrics.connection_closed(first, closed, 1000)
    assert metrics.snapshot().messages_in == 5


async def test_closing_twice_or_unopened_counts_nothing() -> None:
    """connection_closed() counts a connection once, and never one not opened."""
    view = ChatView()
    stats = await opened(view)
    stats.messages_in = 1
    await metrics.connection_closed(view, stats, 1000)
    await metrics.connection_closed(view, stats, 1000)
    await metrics.connection_closed(view, ConnectionStats(), 1001)
    snap = metrics.snapshot()
    assert snap.closes == {(1000, "server"): 1}
    assert snap.messages_in == 1
    assert snap.open_connections == {CHAT: 0}


async def test_nobody_closing_counts_as_server() -> None:
    """A connection whose closed_by was never set (a cancelled task) is closed by the server."""
    view = ChatView()
    await metrics.connection_closed(view, await opened(view), 1006)
    assert metrics.snapshot().closes == {(1006, "server"): 1}


async def test_closed_by_as_a_plain_string() -> None:
    """closed_by set to a ClosedBy value string counts as that member."""
    view = ChatView()
    stats = await opened(view)
    stats.closed_by = "view"  # type: ignore[assignment]
    await metrics.connection_closed(view, stats, 4000)
    assert metrics.snapshot().closes == {(4000, "view"): 1}


async def test_close_code_as_intenum_is_counted_as_int() -> None:
    """A CloseCode member counts under its int value."""
    view = ChatView()
    stats = await opened(view)
    stats.closed_by = ClosedBy.VIEW
    await metrics.connection_closed(view, stats, CloseCode.GOING_AWAY)
    (key,) = metrics.snapshot().closes
    assert key == (1001, "view")
    assert type(key[0]) is int


async def test_close_codes_and_closed_by_aggregate_closes() -> None:
    """close_codes and closed_by are the closes summed by code and by side."""
    for code, side in [
        (1000, ClosedBy.CLIENT),
        (1000, ClosedBy.VIEW),
        (1001, ClosedBy.CLIENT),
        (1012, ClosedBy.SERVER),
    ]:
        view = ChatView()
        stats = await opened(view)
        stats.closed_by = side
        await metrics.connection_closed(view, stats, code)
    snap = metrics.snapshot()
    assert snap.close_codes == {1000: 2, 1001: 1, 1012: 1}
    assert snap.closed_by == {"client": 2, "view": 1, "server": 1}


async def test_handshake_rejected_counts_by_reason() -> None:
    """Refusals count under their reason's value; a plain value string is accepted."""
    await metrics.handshake_rejected(ChatView, "/ws/chat/", 403, RejectReason.ORIGIN)
    await metrics.handshake_rejected(None, "/nope/", 404, RejectReason.NOT_FOUND)
    await metrics.handshake_rejected(ChatView, "/ws/chat/", 403, "origin")  # type: ignore[arg-type]
    rejected = metrics.snapshot().handshakes_rejected
    assert rejected["origin"] == 2
    assert rejected["not_found"] == 1
    assert rejected["error"] == 0


async def test_handshake_rejected_refuses_an_unknown_reason() -> None:
    """A reason outside RejectReason raises ValueError and counts nothing."""
    with pytest.raises(ValueError, match="teapot"):
        await metrics.handshake_rejected(None, "/", 418, "teapot")  # type: ignore[arg-type]
    assert sum(metrics.snapshot().handshakes_rejected.values()) == 0


def test_group_counters() -> None:
    """Group deliveries, drops and broadcast errors add up, n at a time."""
    metrics.group_message_delivered()
    metrics.group_message_delivered(10)
    metrics.group_message_dropped()
    metrics.group_message_dropped(2)
    metrics.broadcast_error()
    snap = metrics.snapshot()
    assert snap.group_messages_delivered == 11
    assert snap.group_messages_dropped == 3
    assert snap.broadcast_errors == 1


async def test_snapshot_is_a_frozen_copy() -> None:
    """A snapshot cannot be changed, and changing its mappings changes no counter."""
    await opened(ChatView())
    snap = metrics.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.handshakes_accepted = 7  # type: ignore[misc]
    snap.open_connections[CHAT] = 99  # type: ignore[index]
    snap.handshakes_rejected["origin"] = 99  # type: ignore[index]
    later = metrics.snapshot()
    assert later.open_connections == {CHAT: 1}
    assert later.handshakes_rejected["origin"] == 0


async def test_reset_forgets_open_connections() -> None:
    """After reset, a connection opened before it is neither open nor counted on close."""
    view = ChatView()
    stats = await opened(view)
    metrics.reset()
    stats.messages_in = 5
    assert metrics.snapshot().messages_in == 0
    await metrics.connection_closed(view, stats, 1000)
    snap = metrics.snapshot()
    assert snap.closes == {}
    assert snap.open_connections == {}


def test_connection_stats_has_slots() -> None:
    """ConnectionStats is a slotted object: no instance dict, no stray attributes."""
    stats = ConnectionStats()
    assert not hasattr(stats, "__dict__")
    with pytest.raises(AttributeError):
        stats.messages = 1  # type: ignore[attr-defined]
    assert (stats.messages_in, stats.bytes_in, stats.messages_out, stats.bytes_out) == (
        0,
        0,
        0,
        0,
    )
    assert stats.closed_by is None
    assert "not opened" in repr(stats)


def test_events_from_many_threads_add_up() -> None:
    """Counters changed from several threads at once lose no increment."""
    threads = [
        threading.Thread(
            target=lambda: [metrics.group_message_delivered() for _ in range(2000)]
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.snapshot().group_messages_delivered == 16000


def test_connections_on_many_event_loops_add_up() -> None:
    """Connections opened and closed on several loops at once, past a fold, are all counted."""
    per_thread = 3 * metrics._FOLD_EVERY + 7

    def serve() -> None:
        async def connections() -> None:
            view = ChatView()
            for n in range(per_thread):
                stats = await opened(view)
                stats.messages_in = 2
                await metrics.connection_closed(view, stats, 1000 + n % 2)

        asyncio.run(connections())

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = metrics.snapshot()
    total = 4 * per_thread
    assert snap.handshakes_accepted == total
    assert snap.messages_in == 2 * total
    assert sum(snap.closes.values()) == total
    assert snap.open_connections == {CHAT: 0}


async def test_events_without_receivers_never_suspend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no receiver connected, the events finish in one step and read no user."""

    def no_user_lookup(request: Any) -> None:
        raise AssertionError("the user is looked up with nobody listening")

    monkeypatch.setattr("django_wsviews.auth.loaded_user", no_user_lookup)
    view = ChatView()
    stats = ConnectionStats()
    for coro in [
        metrics.connection_opened(view, stats),
        metrics.connection_closed(view, stats, 1000),
        metrics.handshake_rejected(ChatView, "/ws/chat/", 403, RejectReason.VIEW),
    ]:
        with pytest.raises(StopIteration):
            coro.send(None)
    snap = metrics.snapshot()
    assert snap.handshakes_accepted == 1
    assert snap.closes == {(1000, "server"): 1}
    assert snap.handshakes_rejected["view"] == 1


def test_snapshot_from_another_thread_while_connections_change() -> None:
    """A snapshot taken in another thread never sees a connection counted twice or lost."""
    stop = threading.Event()
    seen: list[int] = []

    def scrape() -> None:
        while not stop.is_set():
            seen.append(metrics.snapshot().messages_in)

    async def churn() -> None:
        for _ in range(300):
            view = ChatView()
            stats = await opened(view)
            stats.messages_in = 1
            await metrics.connection_closed(view, stats, 1000)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        asyncio.run(churn())
    finally:
        stop.set()
        scraper.join()
    assert seen == sorted(seen)  # never goes down: nothing lost, nothing doubled
    assert all(count <= 300 for count in seen)
    assert metrics.snapshot().messages_in == 300
