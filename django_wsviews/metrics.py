"""
Process-wide counters of WebSocket connections, and the signals' sender.

The connection's lifecycle reports its events here: ``connection_opened()``
and ``connection_closed()``, ``handshake_rejected()``, and the groups'
``group_message_delivered()``, ``group_message_dropped()`` and
``broadcast_error()``. Each updates the counters and, for the first three,
sends the signal of the same name (:mod:`django_wsviews.signals`) when it
has receivers. :func:`snapshot` reads the counters::

    from django_wsviews.metrics import snapshot

    stats = snapshot()
    stats.open_connections  # {"chat.views.RoomView": 12}
    stats.close_codes  # Counter({1000: 40, 1001: 3})

Cost: messages are counted on the per-message path by the lifecycle itself,
as attribute increments on the connection's :class:`ConnectionStats`, not
function calls. The functions here run at the rare events only (a
handshake, a close, a group message); with no signal receiver they build
nothing and never suspend.

Threads: a connection's :class:`ConnectionStats` is written only by the
event loop serving it. Opening and closing a connection take no lock: an
opened connection's stats join a set of the live ones, a closed one's a
list, both changed by single operations that are atomic in CPython; the
closed ones are folded into the totals under a lock, in batches and at each
:func:`snapshot`. The other counters are changed under that lock, so events
from other threads (``broadcast()`` in a management command, a second event
loop) are counted exactly. :func:`snapshot` may be called from any thread
(a metrics server's, say): a live connection's counts may then be a message
behind, never counted twice.

Counts are per process: with several worker processes, each has its own.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import signals
from .auth import loaded_user
from .signals import ClosedBy, RejectReason

__all__ = [
    "ClosedBy",
    "ConnectionStats",
    "RejectReason",
    "Snapshot",
    "ViewLike",
    "broadcast_error",
    "connection_closed",
    "connection_opened",
    "group_message_delivered",
    "group_message_dropped",
    "handshake_rejected",
    "reset",
    "snapshot",
]


class ViewLike(Protocol):
    """What the events need of a view: its ``request`` (with ``path``)."""

    @property
    def request(self) -> Any:
        """The handshake's request."""


class ConnectionStats:
    """
    One open connection's counts, kept by its lifecycle.

    The lifecycle increments the counters inline, on the loop serving the
    connection: ``messages_in`` and ``bytes_in`` per message received,
    ``messages_out`` and ``bytes_out`` per message sent. Sizes are the
    payload's ``len()``: bytes for a binary frame, characters for a text
    frame (its size in bytes for ASCII text, less than it otherwise: text
    is not encoded just to be measured).

    ``closed_by`` is set where the connection is closed (the first closer
    wins); ``None`` until then. ``view`` (the view's dotted class name) and
    ``opened_at`` (``time.monotonic()``) are set by
    :func:`connection_opened`.
    """

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "close_code",
        "closed_by",
        "messages_in",
        "messages_out",
        "opened_at",
        "view",
    )

    def __init__(self) -> None:
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        self.opened_at = 0.0
        self.closed_by: ClosedBy | None = None
        self.close_code = 0  # set by connection_closed()
        self.view = ""

    def __repr__(self) -> str:
        return (
            f"<ConnectionStats {self.view or '(not opened)'}: "
            f"in {self.messages_in} ({self.bytes_in}), "
            f"out {self.messages_out} ({self.bytes_out})>"
        )


@dataclass(frozen=True)
class Snapshot:
    """
    The process's counters at one moment, from :func:`snapshot`.

    Every count is since the process started (or :func:`reset`), and only
    grows, but ``open_connections``.
    """

    #: Open connections by view (dotted class name). A view that has had
    #: connections stays listed, with 0, once they are closed.
    open_connections: Mapping[str, int]
    #: Handshakes accepted (connections opened).
    handshakes_accepted: int
    #: Handshakes refused, by :class:`~django_wsviews.RejectReason`
    #: value; every reason is listed, with 0 until it happens.
    handshakes_rejected: Mapping[str, int]
    #: Messages received, by closed and open connections alike.
    messages_in: int
    #: Messages sent, by closed and open connections alike.
    messages_out: int
    #: The size of the messages received (see :class:`ConnectionStats`).
    bytes_in: int
    #: The size of the messages sent.
    bytes_out: int
    #: Closed connections by ``(close code, ClosedBy value)``.
    closes: Mapping[tuple[int, str], int]
    #: Group messages handed to a connection's ``receive_group()``.
    group_messages_delivered: int
    #: Group messages a connection's full queue dropped
    #: (``WSVIEWS_SEND_QUEUE_OVERFLOW``).
    group_messages_dropped: int
    #: Broadcasts the group backend could not take (``BroadcastError``).
    broadcast_errors: int

    @property
    def close_codes(self) -> collections.Counter[int]:
        """Return the closed connections by close code."""
        codes: collections.Counter[int] = collections.Counter()
        for (code, _), count in self.closes.items():
            codes[code] += count
        return codes

    @property
    def closed_by(self) -> collections.Counter[str]:
        """Return the closed connections by :class:`~django_wsviews.ClosedBy` value."""
        sides: collections.Counter[str] = collections.Counter()
        for (_, side), count in self.closes.items():
            sides[side] += count
        return sides


class _Totals:
    """The process's counters; changed under ``_lock`` only."""

    def __init__(self) -> None:
        # Of the connections closed and folded so far; the open ones are _live.
        self.open: collections.Counter[str] = collections.Counter()
        self.accepted = 0
        self.rejected: collections.Counter[str] = collections.Counter(
            {reason.value: 0 for reason in RejectReason}
        )
        # Of the connections closed so far; the open ones' are in _live.
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.closes: collections.Counter[tuple[int, str]] = collections.Counter()
        self.delivered = 0
        self.dropped = 0
        self.broadcast_errors = 0


_lock = threading.Lock()
_totals = _Totals()
# The stats of every open connection, for a live snapshot.
_live: set[ConnectionStats] = set()
# The stats of connections closed since the last fold into _totals.
_closed: list[ConnectionStats] = []
# Fold the closed connections into the totals once this many wait.
_FOLD_EVERY = 256


_view_names: dict[type, str] = {}


def _view_name(view_class: type) -> str:
    try:
        return _view_names[view_class]
    except KeyError:
        name = _view_names[view_class] = (
            f"{view_class.__module__}.{view_class.__qualname__}"
        )
        return name


def _user_id(request: Any) -> Any:
    """Return the pk of the request's user if loaded and authenticated, else None."""
    user = loaded_user(request)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.pk


async def connection_opened(view: ViewLike, stats: ConnectionStats) -> None:
    """
    Count ``view``'s connection as open, from now on, with ``stats``.

    Call it once ``websocket.accept`` is sent; sends ``connection_opened``
    if it has receivers. Calling it again for the same ``stats`` does
    nothing.
    """
    if stats.view:  # opened already: the name is set once, here
        return
    view_class = type(view)
    stats.view = _view_name(view_class)
    stats.opened_at = time.monotonic()
    _live.add(stats)
    if signals.connection_opened.receivers:
        request = view.request
        await signals.send(
            signals.connection_opened,
            view_class,
            view=view,
            path=request.path,
            user_id=_user_id(request),
        )


async def connection_closed(view: ViewLike, stats: ConnectionStats, code: int) -> None:
    """
    Count ``view``'s connection, opened with ``stats``, as closed with ``code``.

    Folds its counts into the process totals. Who closed it is
    ``stats.closed_by``, or :attr:`~django_wsviews.ClosedBy.SERVER` if nobody closed it (its
    task was cancelled). Sends ``connection_closed`` if it has receivers.
    Does nothing for ``stats`` not opened, or already closed, so the signal
    goes out once per connection.
    """
    if stats not in _live:
        return
    _live.discard(stats)  # before it is listed closed: never counted twice
    closed_by = stats.closed_by = stats.closed_by or ClosedBy.SERVER
    stats.close_code = int(code)
    _closed.append(stats)
    if len(_closed) >= _FOLD_EVERY:
        with _lock:
            _fold()
    if signals.connection_closed.receivers:
        now = time.monotonic()
        request = view.request
        await signals.send(
            signals.connection_closed,
            type(view),
            view=view,
            path=request.path,
            user_id=_user_id(request),
            code=int(code),
            closed_by=closed_by,
            duration=now - stats.opened_at,
            messages_in=stats.messages_in,
            messages_out=stats.messages_out,
            bytes_in=stats.bytes_in,
            bytes_out=stats.bytes_out,
        )


async def handshake_rejected(
    view_class: type | None,
    path: str,
    status: int,
    reason: RejectReason,
    request: Any = None,
) -> None:
    """
    Count a refused handshake; send ``handshake_rejected`` if it has receivers.

    ``view_class`` is None when no route matched; ``request`` is the
    handshake's request, if one was built. Raise ValueError for a
    ``reason`` that is not a :class:`~django_wsviews.RejectReason` value.
    """
    reason = RejectReason(reason)
    with _lock:
        _totals.rejected[reason.value] += 1
    if signals.handshake_rejected.receivers:
        await signals.send(
            signals.handshake_rejected,
            view_class,
            path=path,
            status=int(status),
            reason=reason,
            request=request,
        )


def group_message_delivered(n: int = 1) -> None:
    """Count ``n`` group messages handed to a connection's ``receive_group()``."""
    with _lock:
        _totals.delivered += n


def group_message_dropped(n: int = 1) -> None:
    """Count ``n`` group messages dropped by a connection's full queue."""
    with _lock:
        _totals.dropped += n


def broadcast_error() -> None:
    """Count a broadcast the group backend could not take."""
    with _lock:
        _totals.broadcast_errors += 1


def _fold() -> None:
    """Add the closed connections' counts to the totals; call it holding ``_lock``."""
    totals = _totals
    while _closed:
        try:
            stats = _closed.pop()
        except IndexError:  # another thread took the last one
            break
        totals.open.setdefault(stats.view, 0)  # a view stays listed, with 0
        totals.accepted += 1
        totals.messages_in += stats.messages_in
        totals.messages_out += stats.messages_out
        totals.bytes_in += stats.bytes_in
        totals.bytes_out += stats.bytes_out
        # A ClosedBy is a str: it counts under its value, e.g. 'client'.
        totals.closes[stats.close_code, stats.closed_by or ClosedBy.SERVER] += 1


def snapshot() -> Snapshot:
    """
    Return the counters now, the open connections' current counts included.

    Cheap enough for every scrape: one pass over the open connections.
    Safe from any thread.
    """
    with _lock:
        _fold()
        live = list(_live)
        totals = _totals
        open_connections = dict(totals.open)
        accepted = totals.accepted + len(live)
        rejected = dict(totals.rejected)
        messages_in = totals.messages_in
        messages_out = totals.messages_out
        bytes_in = totals.bytes_in
        bytes_out = totals.bytes_out
        closes = dict(totals.closes)
        delivered = totals.delivered
        dropped = totals.dropped
        broadcast_errors = totals.broadcast_errors
    for stats in live:
        open_connections[stats.view] = open_connections.get(stats.view, 0) + 1
        messages_in += stats.messages_in
        messages_out += stats.messages_out
        bytes_in += stats.bytes_in
        bytes_out += stats.bytes_out
    return Snapshot(
        open_connections=open_connections,
        handshakes_accepted=accepted,
        handshakes_rejected=rejected,
        messages_in=messages_in,
        messages_out=messages_out,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        closes=closes,
        group_messages_delivered=delivered,
        group_messages_dropped=dropped,
        broadcast_errors=broadcast_errors,
    )


def reset() -> None:
    """Set every counter to zero and forget the open connections (for tests)."""
    global _totals
    with _lock:
        _totals = _Totals()
        _live.clear()
        _closed.clear()
