"""
The WebSocket counters as Prometheus metrics (``pip install 'django-wsviews[prometheus]'``).

Register the collector once per process, e.g. in an ``AppConfig.ready()``::

    from prometheus_client import REGISTRY
    from django_wsviews.contrib.prometheus import WebSocketCollector

    REGISTRY.register(WebSocketCollector())

Each scrape reads :func:`django_wsviews.metrics.snapshot`; nothing is
counted twice and nothing is kept between scrapes. The metrics, with the
default ``namespace``:

- ``wsviews_connections_open{view}`` (gauge): open connections by view.
- ``wsviews_handshakes_accepted_total``: handshakes accepted.
- ``wsviews_handshakes_rejected_total{reason}``: handshakes refused, by
  :class:`~django_wsviews.RejectReason`.
- ``wsviews_messages_total{direction}`` and
  ``wsviews_message_bytes_total{direction}``: messages and their sizes,
  ``direction`` being ``in`` (received) or ``out`` (sent).
- ``wsviews_connections_closed_total{code, closed_by}``: closed connections
  by close code and :class:`~django_wsviews.ClosedBy`.
- ``wsviews_group_messages_delivered_total``,
  ``wsviews_group_messages_dropped_total`` and
  ``wsviews_broadcast_errors_total``.

``prometheus_client`` is imported when a collector is made, not with this
module: without it, :class:`WebSocketCollector` raises ImportError naming
the extra to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..metrics import Snapshot, snapshot

if TYPE_CHECKING:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.metrics_core import Metric

__all__ = ["WebSocketCollector"]


def _families() -> tuple[type[CounterMetricFamily], type[GaugeMetricFamily]]:
    """Return prometheus_client's counter and gauge families; explain a missing extra."""
    try:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    except ImportError as exc:
        raise ImportError(
            "WebSocketCollector needs prometheus_client: install it with "
            "pip install 'django-wsviews[prometheus]'."
        ) from exc
    return CounterMetricFamily, GaugeMetricFamily


class WebSocketCollector:
    """
    A Prometheus collector of the process's WebSocket counters.

    Register it on a ``CollectorRegistry`` (``prometheus_client.REGISTRY``
    by default). ``namespace`` prefixes every metric name. Raise
    ImportError, naming the ``prometheus`` extra, without
    ``prometheus_client``.
    """

    def __init__(self, namespace: str = "wsviews") -> None:
        _families()  # fail here, where the collector is made, not at a scrape
        self.namespace = namespace

    def describe(self) -> Iterator[Metric]:
        """Yield the metrics without samples, so registering reads no counters."""
        return self._metrics(None)

    def collect(self) -> Iterator[Metric]:
        """Yield the metrics, read from one :func:`~django_wsviews.metrics.snapshot`."""
        return self._metrics(snapshot())

    def _metrics(self, stats: Snapshot | None) -> Iterator[Metric]:
        counter, gauge = _families()

        def name(suffix: str) -> str:
            return f"{self.namespace}_{suffix}" if self.namespace else suffix

        open_connections = gauge(
            name("connections_open"), "Open WebSocket connections.", labels=["view"]
        )
        accepted = counter(
            name("handshakes_accepted"), "WebSocket handshakes accepted."
        )
        rejected = counter(
            name("handshakes_rejected"),
            "WebSocket handshakes refused, by reason.",
            labels=["reason"],
        )
        messages = counter(
            name("messages"),
            "WebSocket messages received (in) and sent (out).",
            labels=["direction"],
        )
        message_bytes = counter(
            name("message_bytes"),
            "Size of the WebSocket messages received (in) and sent (out); "
            "text counted in characters.",
            labels=["direction"],
        )
        closed = counter(
            name("connections_closed"),
            "WebSocket connections closed, by close code and by who closed them.",
            labels=["code", "closed_by"],
        )
        delivered = counter(
            name("group_messages_delivered"),
            "Group messages handed to a connection's receive_group().",
        )
        dropped = counter(
            name("group_messages_dropped"),
            "Group messages dropped by a connection's full queue.",
        )
        broadcast_errors = counter(
            name("broadcast_errors"),
            "Broadcasts the group backend could not take.",
        )
        if stats is not None:
            for view, count in sorted(stats.open_connections.items()):
                open_connections.add_metric([view], count)
            accepted.add_metric([], stats.handshakes_accepted)
            for reason, count in sorted(stats.handshakes_rejected.items()):
                rejected.add_metric([reason], count)
            messages.add_metric(["in"], stats.messages_in)
            messages.add_metric(["out"], stats.messages_out)
            message_bytes.add_metric(["in"], stats.bytes_in)
            message_bytes.add_metric(["out"], stats.bytes_out)
            for (code, closed_by), count in sorted(stats.closes.items()):
                closed.add_metric([str(code), closed_by], count)
            delivered.add_metric([], stats.group_messages_delivered)
            dropped.add_metric([], stats.group_messages_dropped)
            broadcast_errors.add_metric([], stats.broadcast_errors)
        yield open_connections
        yield accepted
        yield rejected
        yield messages
        yield message_bytes
        yield closed
        yield delivered
        yield dropped
        yield broadcast_errors
