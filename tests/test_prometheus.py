"""Tests for django_wsviews.contrib.prometheus: the counters as Prometheus metrics."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from django_wsviews import metrics
from django_wsviews.contrib import prometheus
from django_wsviews.contrib.prometheus import WebSocketCollector
from django_wsviews.metrics import ClosedBy, ConnectionStats, RejectReason


class ChatView:
    """A stand-in for a view: what the events read of one."""

    def __init__(self) -> None:
        self.request = SimpleNamespace(path="/ws/chat/")


CHAT = f"{__name__}.ChatView"


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
def registry() -> CollectorRegistry:
    """Return a registry with a WebSocketCollector registered."""
    registry = CollectorRegistry()
    registry.register(WebSocketCollector())
    return registry


async def traffic() -> None:
    """Open two connections, close one, refuse a handshake, count group events."""
    first, second = ChatView(), ChatView()
    closing, staying = ConnectionStats(), ConnectionStats()
    await metrics.connection_opened(first, closing)
    await metrics.connection_opened(second, staying)
    closing.messages_in, closing.bytes_in = 2, 20
    closing.messages_out, closing.bytes_out = 1, 5
    staying.messages_in, staying.bytes_in = 1, 3
    closing.closed_by = ClosedBy.CLIENT
    await metrics.connection_closed(first, closing, 1001)
    await metrics.handshake_rejected(ChatView, "/ws/chat/", 403, RejectReason.ORIGIN)
    metrics.group_message_delivered(4)
    metrics.group_message_dropped()
    metrics.broadcast_error()


async def test_samples_follow_the_snapshot(registry: CollectorRegistry) -> None:
    """Each counter of the snapshot is a sample, with its labels."""
    await traffic()
    value = registry.get_sample_value
    assert value("wsviews_connections_open", {"view": CHAT}) == 1
    assert value("wsviews_handshakes_accepted_total") == 2
    assert value("wsviews_handshakes_rejected_total", {"reason": "origin"}) == 1
    assert value("wsviews_messages_total", {"direction": "in"}) == 3
    assert value("wsviews_messages_total", {"direction": "out"}) == 1
    assert value("wsviews_message_bytes_total", {"direction": "in"}) == 23
    assert value("wsviews_message_bytes_total", {"direction": "out"}) == 5
    assert (
        value(
            "wsviews_connections_closed_total", {"code": "1001", "closed_by": "client"}
        )
        == 1
    )
    assert value("wsviews_group_messages_delivered_total") == 4
    assert value("wsviews_group_messages_dropped_total") == 1
    assert value("wsviews_broadcast_errors_total") == 1


def documented_reasons() -> list[str]:
    """Return the ``reason`` values docs/metrics.rst lists, in its order."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "metrics.rst").read_text(
        encoding="utf-8"
    )
    table = page.split("Why a handshake was refused", 1)[1].split("How receivers", 1)[0]
    header, *reasons = re.findall(r"^   \* - ``(\w+)``$", table, re.M)
    assert header == "reason"
    return reasons


def test_every_reason_is_exposed_from_the_start(registry: CollectorRegistry) -> None:
    """Each documented refusal reason is a label with a sample at 0 before it first happens."""
    samples = {
        sample.labels["reason"]: sample.value
        for family in registry.collect()
        if family.name == "wsviews_handshakes_rejected"
        for sample in family.samples
        if sample.name == "wsviews_handshakes_rejected_total"
    }
    assert len(documented_reasons()) >= 9  # the table was found
    assert samples == dict.fromkeys(documented_reasons(), 0)


async def test_exposition_text(registry: CollectorRegistry) -> None:
    """generate_latest() renders typed, documented metric families."""
    await traffic()
    text = generate_latest(registry).decode()
    assert "# TYPE wsviews_connections_open gauge" in text
    # (Newer prometheus_client versions name a counter's type line with _total.)
    assert re.search(
        r"^# TYPE wsviews_handshakes_rejected(_total)? counter$", text, re.M
    )
    assert "# HELP wsviews_messages_total WebSocket messages received" in text
    assert f'wsviews_connections_open{{view="{CHAT}"}} 1.0' in text
    assert 'wsviews_handshakes_rejected_total{reason="origin"} 1.0' in text


async def test_each_scrape_reads_the_counters_now(registry: CollectorRegistry) -> None:
    """A scrape reflects the counters at that moment, open connections included."""
    view = ChatView()
    stats = ConnectionStats()
    await metrics.connection_opened(view, stats)
    labels = {"direction": "in"}
    assert registry.get_sample_value("wsviews_messages_total", labels) == 0
    stats.messages_in += 5
    assert registry.get_sample_value("wsviews_messages_total", labels) == 5


def test_namespace() -> None:
    """namespace= prefixes every metric name."""
    registry = CollectorRegistry()
    registry.register(WebSocketCollector(namespace="chat"))
    assert registry.get_sample_value("chat_handshakes_accepted_total") == 0
    assert registry.get_sample_value("wsviews_handshakes_accepted_total") is None


def test_registering_twice_is_refused() -> None:
    """describe() names the metrics, so a second collector on one registry is refused."""
    registry = CollectorRegistry()
    collector = WebSocketCollector()
    registry.register(collector)
    names = {metric.name for metric in collector.describe()}
    assert "wsviews_connections_open" in names
    assert all(not metric.samples for metric in collector.describe())
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(WebSocketCollector())


def test_without_prometheus_client_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The module imports without prometheus_client; making a collector says what to install."""
    for name in list(sys.modules):
        if name == "prometheus_client" or name.startswith("prometheus_client."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    try:
        module = importlib.reload(prometheus)
        with pytest.raises(ImportError, match=r"django-wsviews\[prometheus\]"):
            module.WebSocketCollector()
    finally:
        monkeypatch.undo()
        importlib.reload(prometheus)
