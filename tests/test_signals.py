"""Tests for django_wsviews.signals, as the metrics events send them."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.dispatch import Signal
from django.utils.functional import SimpleLazyObject

from django_wsviews import metrics, signals
from django_wsviews.metrics import ConnectionStats
from django_wsviews.signals import ClosedBy, RejectReason


class ChatView:
    """A stand-in for a view: what the events read of one."""

    def __init__(self, request: Any = None) -> None:
        self.request = request or SimpleNamespace(path="/ws/chat/")


class OtherView(ChatView):
    pass


def request_with(**attributes: Any) -> SimpleNamespace:
    return SimpleNamespace(path="/ws/chat/", **attributes)


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
def received() -> Iterator[list[dict[str, Any]]]:
    """Connect a receiver to the three signals; return what it gets."""
    calls: list[dict[str, Any]] = []

    def receiver(signal: Signal, **kwargs: Any) -> None:
        calls.append({"signal": signal, **kwargs})

    for signal in (
        signals.connection_opened,
        signals.connection_closed,
        signals.handshake_rejected,
    ):
        signal.connect(receiver)
    yield calls
    for signal in (
        signals.connection_opened,
        signals.connection_closed,
        signals.handshake_rejected,
    ):
        signal.disconnect(receiver)


async def test_connection_opened_arguments(received: list[dict[str, Any]]) -> None:
    """connection_opened gets the view class as sender, the view, its path and no user."""
    view = ChatView()
    await metrics.connection_opened(view, ConnectionStats())
    assert received == [
        {
            "signal": signals.connection_opened,
            "sender": ChatView,
            "view": view,
            "path": "/ws/chat/",
            "user_id": None,
        }
    ]


async def test_connection_closed_arguments(received: list[dict[str, Any]]) -> None:
    """connection_closed gets the code, who closed, the duration and the counts."""
    view = ChatView()
    stats = ConnectionStats()
    await metrics.connection_opened(view, stats)
    stats.opened_at = time.monotonic() - 5  # opened five seconds ago
    stats.messages_in, stats.bytes_in = 3, 30
    stats.messages_out, stats.bytes_out = 2, 20
    stats.closed_by = ClosedBy.CLIENT
    await metrics.connection_closed(view, stats, 1001)
    closed = received[-1]
    duration = closed.pop("duration")
    assert closed == {
        "signal": signals.connection_closed,
        "sender": ChatView,
        "view": view,
        "path": "/ws/chat/",
        "user_id": None,
        "code": 1001,
        "closed_by": ClosedBy.CLIENT,
        "messages_in": 3,
        "messages_out": 2,
        "bytes_in": 30,
        "bytes_out": 20,
    }
    assert isinstance(duration, float)
    assert 5 <= duration < 60


async def test_connection_closed_sent_once(received: list[dict[str, Any]]) -> None:
    """Closing a connection twice sends connection_closed once."""
    view = ChatView()
    stats = ConnectionStats()
    await metrics.connection_opened(view, stats)
    await metrics.connection_closed(view, stats, 1000)
    await metrics.connection_closed(view, stats, 1000)
    sent = [call["signal"] for call in received]
    assert sent == [signals.connection_opened, signals.connection_closed]


async def test_handshake_rejected_arguments(received: list[dict[str, Any]]) -> None:
    """handshake_rejected gets the status, the reason as a RejectReason, and the request."""
    request = request_with()
    await metrics.handshake_rejected(
        ChatView, "/ws/chat/", 403, RejectReason.ORIGIN, request
    )
    await metrics.handshake_rejected(None, "/nowhere/", 404, "not_found")  # type: ignore[arg-type]
    assert received == [
        {
            "signal": signals.handshake_rejected,
            "sender": ChatView,
            "path": "/ws/chat/",
            "status": 403,
            "reason": RejectReason.ORIGIN,
            "request": request,
        },
        {
            "signal": signals.handshake_rejected,
            "sender": None,
            "path": "/nowhere/",
            "status": 404,
            "reason": RejectReason.NOT_FOUND,
            "request": None,
        },
    ]
    assert received[1]["reason"] is RejectReason.NOT_FOUND


async def test_user_id_of_a_loaded_user(received: list[dict[str, Any]]) -> None:
    """user_id is the pk of an authenticated user the request has already loaded."""
    user = SimpleNamespace(pk=42, is_authenticated=True)
    view = ChatView(request_with(_cached_user=user))
    await metrics.connection_opened(view, ConnectionStats())
    assert received[0]["user_id"] == 42


async def test_user_id_of_an_anonymous_user(received: list[dict[str, Any]]) -> None:
    """user_id is None for an anonymous user, loaded or not."""
    anonymous = SimpleNamespace(pk=None, is_authenticated=False)
    view = ChatView(request_with(_cached_user=anonymous))
    await metrics.connection_opened(view, ConnectionStats())
    assert received[0]["user_id"] is None


async def test_user_never_loaded_for_the_signal(received: list[dict[str, Any]]) -> None:
    """A lazy user not loaded yet gives None, and stays unloaded (no query)."""

    def load() -> Any:
        raise AssertionError("the user was loaded for a signal")

    view = ChatView(request_with(user=SimpleLazyObject(load)))
    await metrics.connection_opened(view, ConnectionStats())
    assert received[0]["user_id"] is None


async def test_user_loaded_during_the_connection(
    received: list[dict[str, Any]],
) -> None:
    """connection_closed sees a user loaded after the connection opened."""
    request = request_with()
    view = ChatView(request)
    stats = ConnectionStats()
    await metrics.connection_opened(view, stats)
    request._cached_user = SimpleNamespace(pk=7, is_authenticated=True)
    await metrics.connection_closed(view, stats, 1000)
    assert [call["user_id"] for call in received] == [None, 7]


async def test_receivers_for_one_sender() -> None:
    """A receiver connected with sender=View hears only that view's connections."""
    heard: list[type] = []

    def receiver(sender: type, **kwargs: Any) -> None:
        heard.append(sender)

    signals.connection_opened.connect(receiver, sender=OtherView)
    try:
        await metrics.connection_opened(ChatView(), ConnectionStats())
        await metrics.connection_opened(OtherView(), ConnectionStats())
    finally:
        signals.connection_opened.disconnect(receiver, sender=OtherView)
    assert heard == [OtherView]


async def test_sync_receivers_run_off_the_event_loop() -> None:
    """A plain-function receiver runs in a worker thread, where blocking code belongs."""
    threads: list[int] = []

    def receiver(**kwargs: Any) -> None:
        threads.append(threading.get_ident())

    signals.connection_opened.connect(receiver)
    try:
        await metrics.connection_opened(ChatView(), ConnectionStats())
    finally:
        signals.connection_opened.disconnect(receiver)
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()


async def test_async_receivers_are_awaited() -> None:
    """An async receiver runs to its end, on the event loop, before the event returns."""
    done: list[bool] = []
    loop = asyncio.get_running_loop()

    async def receiver(**kwargs: Any) -> None:
        await asyncio.sleep(0)
        done.append(asyncio.get_running_loop() is loop)

    signals.handshake_rejected.connect(receiver)
    try:
        await metrics.handshake_rejected(None, "/x/", 404, RejectReason.NOT_FOUND)
    finally:
        signals.handshake_rejected.disconnect(receiver)
    assert done == [True]


async def test_a_failing_receiver_is_logged_and_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A receiver's exception is logged with its traceback; the others run and the event returns."""
    after: list[bool] = []

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver broke")

    def fine(**kwargs: Any) -> None:
        after.append(True)

    signals.connection_closed.connect(broken)
    signals.connection_closed.connect(fine)
    view = ChatView()
    stats = ConnectionStats()
    try:
        await metrics.connection_opened(view, stats)
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            await metrics.connection_closed(view, stats, 1000)
    finally:
        signals.connection_closed.disconnect(broken)
        signals.connection_closed.disconnect(fine)
    assert after == [True]
    (record,) = [r for r in caplog.records if r.name == "django.dispatch"]
    assert record.exc_info is not None
    assert "receiver broke" in str(record.exc_info[1])
    assert metrics.snapshot().closes == {(1000, "server"): 1}


async def test_send_without_asend_robust_uses_send_robust_in_a_thread() -> None:
    """On Django 4.2 (no asend_robust), receivers run through send_robust, off the loop."""

    class OldSignal(Signal):
        asend_robust = None  # as on Django 4.2

    old = OldSignal()
    threads: list[int] = []

    def receiver(sender: Any, value: int, **kwargs: Any) -> None:
        threads.append(value)
        threads.append(threading.get_ident())

    old.connect(receiver)
    await signals.send(old, ChatView, value=3)
    assert threads[0] == 3
    assert threads[1] != threading.get_ident()


async def test_every_argument_sent_is_documented(
    received: list[dict[str, Any]],
) -> None:
    """Each keyword argument a signal is sent with is named in the signals module's docstring."""
    view = ChatView()
    stats = ConnectionStats()
    await metrics.connection_opened(view, stats)
    await metrics.connection_closed(view, stats, 1000)
    await metrics.handshake_rejected(None, "/x/", 404, RejectReason.NOT_FOUND)
    doc = signals.__doc__ or ""
    for call in received:
        for name in set(call) - {"signal"}:
            assert re.search(rf"``{name}``", doc), name


def test_reasons_and_sides_are_documented() -> None:
    """Every RejectReason and ClosedBy value is listed on the docs page (docs/metrics.rst)."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "metrics.rst").read_text(
        encoding="utf-8"
    )
    for member in [*RejectReason, *ClosedBy]:
        assert f"``{member.value}``" in page, member
