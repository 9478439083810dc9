"""Backend loading from WSVIEWS_BACKEND, and what the backends share (``backends.base``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_wsviews.backends import (
    Backoff,
    ListeningBackend,
    StateSignal,
    base,
    get_backend_config,
    number_option,
)
from django_wsviews.backends.memory import MemoryBackend

from .support.groups_support import RecordingBackend


def test_default_is_memory() -> None:
    """Without the setting, the in-memory backend is used, with no options."""
    config = get_backend_config()
    assert config.backend_class is MemoryBackend
    assert config.options == {}


def test_loaded_once_and_reset_on_change(settings: Any) -> None:
    """The setting is loaded once, and again after it changes."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "tests.support.groups_support.RecordingBackend",
        "OPTIONS": {"TAG": "x"},
    }
    first = get_backend_config()
    assert get_backend_config() is first
    assert first.backend_class is RecordingBackend
    assert first.options == {"TAG": "x"}
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.memory.MemoryBackend"
    }
    assert get_backend_config().backend_class is MemoryBackend


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ({}, "needs a 'BACKEND' dotted path"),
        ({"BACKEND": 42}, "needs a 'BACKEND' dotted path"),
        ({"BACKEND": "no.such.Backend"}, "does not import"),
        ({"BACKEND": "django_wsviews.views.WebSocketView"}, "not a subclass"),
        (
            {"BACKEND": "django_wsviews.backends.memory.MemoryBackend", "URL": "x"},
            "unknown keys",
        ),
        (
            {"BACKEND": "django_wsviews.backends.memory.MemoryBackend", "OPTIONS": []},
            "must be a dict",
        ),
        (
            {
                "BACKEND": "django_wsviews.backends.memory.MemoryBackend",
                "OPTIONS": {"URL": "x"},
            },
            r"unknown keys \['URL'\] for MemoryBackend; it accepts: none",
        ),
    ],
)
def test_misconfiguration(settings: Any, setting: dict[str, Any], match: str) -> None:
    """A malformed setting is ImproperlyConfigured, naming the fix."""
    settings.WSVIEWS_BACKEND = setting
    with pytest.raises(ImproperlyConfigured, match=match):
        get_backend_config()


def test_backoff_doubles_to_a_cap() -> None:
    """Delays double from the initial one up to the maximum, with jitter, and reset."""
    backoff = Backoff(initial=1.0, maximum=4.0)
    delays = [backoff.next() for _ in range(5)]
    for delay, nominal in zip(delays, [1, 2, 4, 4, 4], strict=True):
        assert nominal / 2 <= delay <= nominal
    backoff.reset()
    assert backoff.next() <= 1.0


def test_backoff_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the first delay is 0.1 s and the cap 10 s (before the jitter, which takes off up to half)."""
    monkeypatch.setattr(base.random, "uniform", lambda low, high: high)
    backoff = Backoff()
    delays = [backoff.next() for _ in range(20)]
    assert delays[0] == 0.1
    assert max(delays) == 10


async def test_state_signal() -> None:
    """wait_until() returns True once the condition holds, False after the timeout."""
    signal = StateSignal()
    state = {"ready": False}

    async def later() -> None:
        state["ready"] = True
        signal.notify()

    waiter = asyncio.ensure_future(signal.wait_until(lambda: state["ready"], 5))
    await asyncio.sleep(0)
    await later()
    assert await waiter is True
    assert await signal.wait_until(lambda: False, 0.01) is False


@pytest.mark.parametrize("value", [0, -1, "5", True, None])
def test_number_option_checked(value: object) -> None:
    """A timing option must be a positive number of seconds."""
    with pytest.raises(ImproperlyConfigured, match="positive number of seconds"):
        number_option({"X": value}, "X", 1.0)


def test_number_option_default() -> None:
    """A missing timing option takes its default."""
    assert number_option({}, "X", 2) == 2.0


class StuckBackend(ListeningBackend[str]):
    """
    A listening backend over no server: its connection, once open, holds the
    listener in a call that ignores cancellation until ``unstick`` is set, as
    a driver waiting on a server that stopped answering may.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(options, lambda payload: None)
        self.stuck = asyncio.Event()
        self.unstick = asyncio.Event()
        self.released = False

    def _channel(self, group: str) -> str:
        return group

    def _where(self) -> str:
        return "the fake server"

    async def _open(self) -> Any:
        return object()

    async def _resubscribe(self, connection: Any) -> None:
        self._active |= self._channels

    async def _receive(self, connection: Any) -> None:
        self.stuck.set()
        while not self.unstick.is_set():
            try:
                await self.unstick.wait()
            except asyncio.CancelledError:
                continue  # what a driver cleaning up after a cancel may do

    async def _close_connection(self, connection: Any) -> None:
        pass

    async def _request_subscribe(self, channels: set[str]) -> None:
        self._active |= channels
        self._signal.notify()

    async def _request_unsubscribe(self, channels: set[str]) -> None:
        self._active -= channels

    async def _release(self) -> None:
        self.released = True

    async def publish(self, group: str, payload: bytes) -> None:
        raise self._unreachable(group, OSError("no server"))


async def test_close_gives_up_on_a_stuck_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """close() waits close_timeout for the listener, warns, releases the rest and returns."""
    tasks = asyncio.all_tasks()
    backend = StuckBackend()
    backend.close_timeout = 0.05
    await backend.subscribe(["g"])
    await asyncio.wait_for(backend.stuck.wait(), 5)
    await asyncio.wait_for(backend.close(), 5)
    assert "The listening connection to the fake server did not end within" in (
        caplog.text
    )
    assert backend.released
    await asyncio.wait_for(backend.close(), 5)  # again: nothing more to wait for
    left = asyncio.all_tasks() - tasks
    assert len(left) == 1
    assert left <= base._left_behind  # kept while it runs: the loop holds tasks weakly
    backend.unstick.set()  # the listener left behind ends
    await asyncio.wait(left, timeout=5)
    assert all(task.done() for task in left)
    await asyncio.sleep(0)  # the done callbacks run
    # Kept until it ended (so it was not collected while running), then let go.
    assert not left & base._left_behind


async def test_listening_options_default_as_documented() -> None:
    """Without options: health checks every 15 s, reconnects back off to 10 s, subscribes wait 5 s, close waits 5 s."""
    backend = StuckBackend()
    delays = [backend._backoff.next() for _ in range(20)]
    assert (backend._health, backend._subscribe_timeout) == (15, 5)
    assert 5 <= max(delays) <= 10  # the cap (with jitter: half to all of it)
    assert backend.close_timeout == 5
    await backend.close()


async def test_listening_options_given_are_used() -> None:
    """HEALTH_CHECK_INTERVAL, RECONNECT_MAX_DELAY and SUBSCRIBE_TIMEOUT, when given, replace the defaults."""
    backend = StuckBackend(
        HEALTH_CHECK_INTERVAL=2, RECONNECT_MAX_DELAY=0.3, SUBSCRIBE_TIMEOUT=3
    )
    delays = [backend._backoff.next() for _ in range(20)]
    assert (backend._health, backend._subscribe_timeout) == (2, 3)
    assert 0.15 <= max(delays) <= 0.3
    await backend.close()
