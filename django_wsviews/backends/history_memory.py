"""
The history of the in-memory backend: a ring buffer per group, in this process.

Like the in-memory backend, it serves one process: every event loop and
thread of it shares one history per group. Its epoch is made when the
process first broadcasts to the group, so a restarted server (a new
process) has new epochs and its clients get a reset.

Cost per broadcast: a lock, an append to a bounded deque; no I/O. A read
copies the kept messages after the offset asked for.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .history_base import (
    HistoryLimits,
    HistoryRead,
    HistoryStore,
    Seq,
    new_epoch,
    with_seq,
)
from .memory import MemoryBackend

__all__ = ["MemoryHistory"]


@dataclass
class _Ring:
    epoch: str
    last: int = 0
    # (offset, monotonic time, payload), oldest first.
    entries: deque[tuple[int, float, bytes]] = field(default_factory=deque)


_lock = threading.Lock()
_rings: dict[str, _Ring] = {}


def forget() -> None:
    """Drop every group's history, as a restart would (for tests)."""
    with _lock:
        _rings.clear()


def _trim(ring: _Ring, limits: HistoryLimits, now: float) -> None:
    entries = ring.entries
    while len(entries) > limits.max_messages:
        entries.popleft()
    if limits.max_age is not None:
        oldest = now - limits.max_age
        while entries and entries[0][1] < oldest:
            entries.popleft()


class MemoryHistory(HistoryStore[MemoryBackend]):
    """Keep each group's latest messages in this process."""

    async def publish(self, group: str, payload: bytes, limits: HistoryLimits) -> Seq:
        """
        Number, keep and hand out ``payload`` under one lock, so that the
        members of every loop get a group's messages in offset order,
        whichever thread sends them.
        """
        with _lock:
            ring = _rings.get(group)
            if ring is None:
                ring = _rings[group] = _Ring(new_epoch())
            ring.last += 1
            seq = Seq(ring.epoch, ring.last)
            final = with_seq(payload, seq)
            now = time.monotonic()
            ring.entries.append((ring.last, now, final))
            _trim(ring, limits, now)
            local = self.backend.hand_out(group, final)
        if local:
            await asyncio.sleep(0)  # let the members' delivery tasks send it
        return seq

    async def read(self, group: str, after: int, limits: HistoryLimits) -> HistoryRead:
        """Return the kept messages of ``group`` after ``after``."""
        with _lock:
            ring = _rings.get(group)
            if ring is None:
                return HistoryRead(None, 0, [])
            _trim(ring, limits, time.monotonic())
            entries = [
                (offset, payload)
                for offset, _, payload in ring.entries
                if offset > after
            ]
            return HistoryRead(ring.epoch, ring.last, entries)
