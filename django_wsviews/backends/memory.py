"""
The in-memory group backend, the default: one process, no server.

Every event loop of the process that has members of a group gets each
message published to it, from any thread: a sync ``broadcast()`` in a worker
thread or a management command running in the server process reaches the
server's connections. Other processes (more server workers, a Celery worker,
``manage.py shell``) are not reached: use Redis or PostgreSQL for those.

Messages published on the loop that has the members are handed to them
before ``publish()`` returns, and ``publish()`` then yields to the loop once,
as a network backend would, so the members' delivery tasks run between two
broadcasts: a burst of broadcasts does not pile up in fast clients' queues.
Messages from another thread are handed to the members' loop with
``call_soon_threadsafe``, in order.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection

from ..log import get_logger
from .base import BaseBackend

__all__ = ["MemoryBackend"]

logger = get_logger("django_wsviews.backends.memory")

_lock = threading.Lock()
_subscribers: dict[str, set[MemoryBackend]] = {}


class MemoryBackend(BaseBackend):
    """Deliver group messages within this process. No options."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def subscribe(self, groups: Collection[str]) -> None:
        """Receive the messages of ``groups``; effective at once."""
        self._loop = asyncio.get_running_loop()
        with _lock:
            for group in groups:
                _subscribers.setdefault(group, set()).add(self)

    async def unsubscribe(self, groups: Collection[str]) -> None:
        """Stop receiving the messages of ``groups``."""
        with _lock:
            for group in groups:
                _discard(group, self)

    async def close(self) -> None:
        """Unsubscribe from every group."""
        with _lock:
            for group in [
                g for g, backends in _subscribers.items() if self in backends
            ]:
                _discard(group, self)

    async def publish(self, group: str, payload: bytes) -> None:
        """Hand ``payload`` to every loop of the process subscribed to ``group``."""
        if self.hand_out(group, payload):
            await asyncio.sleep(0)  # let the members' delivery tasks send it

    def hand_out(self, group: str, payload: bytes) -> bool:
        """
        Hand ``payload`` to the subscribers of ``group`` now, without yielding.

        Return whether a subscriber on the running loop got it (its members
        then need the loop for a moment). For callers that must publish
        under a lock of their own, such as the in-memory history.
        """
        with _lock:
            targets = tuple(_subscribers.get(group, ()))
        running = asyncio.get_running_loop()
        local = False
        for backend in targets:
            loop = backend._loop
            if loop is running:
                backend.on_message(payload)
                local = True
            elif loop is not None:
                try:
                    loop.call_soon_threadsafe(backend.on_message, payload)
                except RuntimeError:  # that loop has closed: forget it
                    logger.debug("Dropping the subscriptions of a closed event loop.")
                    with _lock:
                        for name in [
                            g for g, b in _subscribers.items() if backend in b
                        ]:
                            _discard(name, backend)
        return local


def _discard(group: str, backend: MemoryBackend) -> None:
    backends = _subscribers.get(group)
    if backends is not None:
        backends.discard(backend)
        if not backends:
            del _subscribers[group]
