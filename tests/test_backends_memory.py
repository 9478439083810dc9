"""
The in-memory backend's own behaviour: every event loop of the process, no server.

What every backend promises is pinned in ``test_backend_contract.py``.
"""

from __future__ import annotations

import asyncio
import threading

from django_wsviews.backends.memory import MemoryBackend, _subscribers


async def test_close_forgets_the_subscriptions() -> None:
    """close() takes the backend out of the process's registry; empty groups go."""
    backend = MemoryBackend({}, lambda p: None)
    other = MemoryBackend({}, lambda p: None)
    await backend.subscribe(["a", "b"])
    await other.subscribe(["b"])
    await backend.close()
    assert "a" not in _subscribers
    assert _subscribers["b"] == {other}
    await other.close()
    assert "b" not in _subscribers


async def test_publish_from_another_loop() -> None:
    """A publish from another thread's event loop reaches this loop, in order."""
    received: list[bytes] = []
    done = asyncio.Event()

    def on_message(payload: bytes) -> None:
        received.append(payload)
        if len(received) == 3:
            done.set()

    backend = MemoryBackend({}, on_message)
    await backend.subscribe(["g"])

    def publish_elsewhere() -> None:
        async def main() -> None:
            sender = MemoryBackend({}, lambda p: None)
            for n in range(3):
                await sender.publish("g", str(n).encode())

        asyncio.run(main())

    thread = threading.Thread(target=publish_elsewhere)
    thread.start()
    await asyncio.wait_for(done.wait(), 5)
    thread.join(5)
    assert received == [b"0", b"1", b"2"]
    await backend.close()


async def test_closed_loop_is_forgotten() -> None:
    """A subscriber whose event loop has closed is dropped at the next publish."""
    stale = MemoryBackend({}, lambda p: None)
    thread = threading.Thread(target=asyncio.run, args=(stale.subscribe(["g"]),))
    thread.start()
    thread.join(5)
    await MemoryBackend({}, lambda p: None).publish("g", b"x")
    assert "g" not in _subscribers
