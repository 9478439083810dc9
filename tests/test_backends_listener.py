"""
The listener that every server backend shares (``ListeningBackend``), over a scripted server.

The Redis, PostgreSQL and NATS tests show the listener against real servers,
where an outage's timing is the server's. Here each connection attempt's
outcome, each connection's end and each confirmation is the test's to give,
so the loop's every step can be checked: what it logs and at which level,
the backoff, the state ``subscribe()`` waits on, what ``close()`` waits for.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from django_wsviews.backends import Backoff, ListeningBackend, base

from .support.groups_support import eventually

T = 5.0
LOGGER = "django_wsviews.backends"


class Connection:
    """A scripted listening connection: it ends when the test says, as the test says."""

    def __init__(self) -> None:
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def end(self, error: Exception | None = None) -> None:
        if error is None:
            self.ended.set_result(None)
        else:
            self.ended.set_exception(error)


class ScriptedBackend(ListeningBackend[str]):
    """
    A listening backend whose server is the test: each ``_open()`` takes the
    next outcome the test puts in ``attempts`` (``None`` to connect, an
    exception to fail), and a subscription is confirmed at once unless
    ``confirm`` is cleared.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(options, lambda payload: None)
        self.attempts: asyncio.Queue[Exception | None] = asyncio.Queue()
        self.opened: list[Connection] = []
        self.closed: list[Connection] = []
        self.close_error: Exception | None = None
        self.release_error: Exception | None = None
        self.confirm = True
        self.requested: list[set[str]] = []
        self.resubscribed: list[set[str]] = []
        self.delays: list[float] = []
        self._backoff = RecordingBackoff(self.delays)

    def _channel(self, group: str) -> str:
        return f"ch:{group}"

    def _where(self) -> str:
        return "the scripted server"

    async def _open(self) -> Connection:
        outcome = await self.attempts.get()
        if outcome is not None:
            raise outcome
        connection = Connection()
        self.opened.append(connection)
        return connection

    async def _resubscribe(self, connection: Connection) -> None:
        self.resubscribed.append(set(self._channels))
        self._active |= self._channels

    async def _receive(self, connection: Connection) -> None:
        await connection.ended

    async def _close_connection(self, connection: Connection) -> None:
        self.closed.append(connection)
        if self.close_error is not None:
            raise self.close_error

    async def _request_subscribe(self, channels: set[str]) -> None:
        self.requested.append(channels)
        if self._connected and self.confirm:
            self._active |= channels
            self._signal.notify()

    async def _request_unsubscribe(self, channels: set[str]) -> None:
        self._active -= channels

    async def _release(self) -> None:
        if self.release_error is not None:
            raise self.release_error

    async def publish(self, group: str, payload: bytes) -> None:
        raise self._unreachable(group, OSError("not a real server"))

    async def holding(self, count: int) -> None:
        """Wait until the listener holds its ``count``-th connection."""
        await eventually(lambda: len(self.opened) == count and self._connected, T)

    @property
    def live(self) -> Connection:
        """Return the connection the listener holds now."""
        return self.opened[-1]


class RecordingBackoff(Backoff):
    """A backoff without jitter, of 10 ms doubling, that records each delay it gives."""

    def __init__(self, delays: list[float]) -> None:
        super().__init__(initial=0.01, maximum=0.04)
        self.delays = delays

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        self.delays.append(delay)
        return delay


@pytest.fixture
async def backend() -> AsyncIterator[ScriptedBackend]:
    """Return a scripted backend whose subscriptions wait up to 30 s; close it after the test."""
    made = ScriptedBackend(SUBSCRIBE_TIMEOUT=30)
    yield made
    await asyncio.wait_for(made.close(), T)


def lost(level: int, reason: str) -> tuple[int, str]:
    """Return the record of a failed attempt: its level, and its message for ``reason``."""
    return (
        level,
        f"No listening connection to the scripted server ({reason}); retrying in 0.0 s.",
    )


def records(caplog: pytest.LogCaptureFixture, text: str) -> list[tuple[int, str]]:
    """Return the level and message of each record of the backends' logger holding ``text``."""
    return [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name == LOGGER and text in record.getMessage()
    ]


async def test_connect_waits_for_the_first_attempt(backend: ScriptedBackend) -> None:
    """connect() returns once the first attempt has connected, long before SUBSCRIBE_TIMEOUT."""
    connecting = asyncio.ensure_future(backend.connect())
    await asyncio.sleep(0)
    assert not connecting.done()  # no attempt has finished
    backend.attempts.put_nowait(None)
    await asyncio.wait_for(connecting, T)
    assert backend._connected
    assert len(backend.opened) == 1


async def test_connect_returns_after_a_failed_first_attempt(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreachable server: connect() returns after the first attempt, without raising, and the listener retries."""
    caplog.set_level(logging.DEBUG, LOGGER)
    backend.attempts.put_nowait(ConnectionRefusedError("refused"))
    await asyncio.wait_for(backend.connect(), T)
    assert not backend._connected
    assert records(caplog, "No listening connection") == [
        lost(logging.WARNING, "refused")
    ]
    backend.attempts.put_nowait(None)
    await eventually(lambda: backend._connected, T)
    assert backend.delays == [0.01]
    await asyncio.wait_for(backend.connect(), T)  # again: the same listener
    assert len(backend.opened) == 1


async def test_connect_waits_at_most_subscribe_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """
    A first attempt that does not end: connect() returns after
    SUBSCRIBE_TIMEOUT, the attempt going on; a join meanwhile returns then,
    not connected, without waiting again for a confirmation.
    """
    backend = ScriptedBackend(SUBSCRIBE_TIMEOUT=0.05)
    await asyncio.wait_for(backend.connect(), T)  # no outcome is scripted: it hangs
    assert not backend._connected
    await asyncio.wait_for(backend.subscribe(["a"]), T)
    assert records(caplog, "did not confirm") == []
    backend.attempts.put_nowait(None)
    await backend.holding(1)
    await backend.close()


async def test_an_outage_is_logged_once_then_its_end(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """
    The first failure is a warning; the retries while the server stays away
    are debug records; the reconnection is a warning with the group count;
    and the next outage is a warning again.
    """
    caplog.set_level(logging.DEBUG, LOGGER)
    backend.attempts.put_nowait(None)
    await backend.subscribe(["a", "b"])
    first = backend.live

    first.end(ConnectionResetError("reset by peer"))
    backend.attempts.put_nowait(OSError("refused "))
    backend.attempts.put_nowait(OSError("refused again"))
    backend.attempts.put_nowait(None)
    await backend.holding(2)

    assert records(caplog, "No listening connection") == [
        lost(logging.WARNING, "reset by peer"),
        lost(logging.DEBUG, "refused"),
        lost(logging.DEBUG, "refused again"),
    ]
    assert records(caplog, "Reconnected") == [
        (logging.WARNING, "Reconnected to the scripted server; re-subscribed 2 groups.")
    ]
    assert backend.resubscribed == [{"ch:a", "ch:b"}, {"ch:a", "ch:b"}]
    assert backend.closed == [first]  # the broken connection, once

    caplog.clear()
    backend.live.end(ConnectionResetError("reset again"))
    backend.attempts.put_nowait(None)
    await backend.holding(3)
    assert [level for level, _ in records(caplog, "No listening connection")] == [
        logging.WARNING
    ]
    assert len(records(caplog, "Reconnected")) == 1


async def test_a_connection_that_ends_quietly_is_an_outage(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """A read loop that returns without an error is a lost connection too: logged, closed, remade."""
    backend.attempts.put_nowait(None)
    await backend.connect()
    first = backend.live
    first.end()
    backend.attempts.put_nowait(None)
    await backend.holding(2)
    assert records(caplog, "No listening connection") == [
        lost(logging.WARNING, "the connection ended")
    ]
    assert backend.closed == [first]


async def test_backoff_doubles_while_down_and_starts_again_after_a_connection(
    backend: ScriptedBackend,
) -> None:
    """The delays between attempts double to the cap while the server is away; a connection resets them."""
    for _ in range(4):
        backend.attempts.put_nowait(OSError("refused"))
    backend.attempts.put_nowait(None)
    await backend.connect()
    await eventually(lambda: backend._connected, T)
    assert backend.delays == [0.01, 0.02, 0.04, 0.04]

    backend.live.end(OSError("lost"))
    backend.attempts.put_nowait(OSError("refused"))
    backend.attempts.put_nowait(None)
    await backend.holding(2)
    assert backend.delays[4:] == [0.01, 0.02]


async def test_state_while_down(backend: ScriptedBackend) -> None:
    """While the connection is lost, nothing counts as subscribed and joins return at once."""
    backend.attempts.put_nowait(None)
    await backend.subscribe(["a"])
    assert backend._active == {"ch:a"}

    backend.live.end(OSError("lost"))
    await eventually(lambda: not backend._connected, T)
    assert backend._active == set()
    # Subscribed when the server is back; meanwhile, no wait.
    await asyncio.wait_for(backend.subscribe(["b"]), T)
    assert backend._channels == {"ch:a", "ch:b"}

    backend.attempts.put_nowait(None)
    await eventually(lambda: backend._connected, T)
    assert backend.resubscribed[-1] == {"ch:a", "ch:b"}
    assert backend._active == {"ch:a", "ch:b"}


async def test_subscribe_returns_once_confirmed(backend: ScriptedBackend) -> None:
    """subscribe() waits for the server's confirmation of its own channels, not another's."""
    backend.attempts.put_nowait(None)
    await backend.connect()
    backend.confirm = False
    joining = asyncio.ensure_future(backend.subscribe(["a", "b"]))
    await eventually(lambda: backend.requested == [{"ch:a", "ch:b"}], T)
    backend._active.add("ch:a")
    backend._signal.notify()
    await asyncio.sleep(0)
    assert not joining.done()  # "ch:b" is not confirmed yet
    backend._active.add("ch:b")
    backend._signal.notify()
    await asyncio.wait_for(joining, T)


async def test_subscribe_not_confirmed_in_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that never confirms: subscribe() returns after SUBSCRIBE_TIMEOUT with a warning."""
    backend = ScriptedBackend(SUBSCRIBE_TIMEOUT=0.05)
    backend.attempts.put_nowait(None)
    await backend.connect()
    backend.confirm = False
    await asyncio.wait_for(backend.subscribe(["a"]), T)
    assert records(caplog, "did not confirm") == [
        (
            logging.WARNING,
            "the scripted server did not confirm a subscription within 0.05 s; "
            "messages may be missed until it does.",
        )
    ]
    await backend.close()


async def test_subscribe_starts_the_listener(backend: ScriptedBackend) -> None:
    """The first subscribe() of a backend not yet connected connects it; no groups, nothing at all."""
    await asyncio.wait_for(backend.subscribe([]), T)  # no attempt: none is scripted
    assert backend.requested == []
    backend.attempts.put_nowait(None)
    await backend.subscribe(["a", "a"])
    assert backend._listener is not None
    assert backend.requested == [{"ch:a"}]
    assert backend._active == {"ch:a"}


async def test_unsubscribe(backend: ScriptedBackend) -> None:
    """unsubscribe() forgets the channels (not wanted after a reconnection either); no groups, no request."""
    backend.attempts.put_nowait(None)
    await backend.subscribe(["a", "b"])
    await backend.unsubscribe([])
    assert backend._channels == {"ch:a", "ch:b"}
    await backend.unsubscribe(["a"])
    assert backend._channels == {"ch:b"}
    assert backend._active == {"ch:b"}


async def test_closing_a_broken_connection_fails_quietly(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """An error closing a lost connection is a debug record with its traceback; the listener goes on."""
    caplog.set_level(logging.DEBUG, LOGGER)
    backend.close_error = OSError("already gone")
    backend.attempts.put_nowait(None)
    await backend.connect()
    backend.live.end(OSError("lost"))
    backend.attempts.put_nowait(None)
    await backend.holding(2)
    [record] = [r for r in caplog.records if "Error closing a connection" in r.message]
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == "Error closing a connection to the scripted server"
    assert record.exc_info is not None
    assert record.exc_info[1] is backend.close_error


async def test_close_stops_the_retries(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """close() during an outage: the listener stops at once, makes no more attempts, and logs no more."""
    backend.attempts.put_nowait(OSError("refused"))
    await backend.connect()
    listener = backend._listener
    assert listener is not None
    caplog.clear()
    await asyncio.wait_for(backend.close(), T)
    assert listener.cancelled()  # so it makes no more attempts
    assert backend.opened == []
    assert records(caplog, "No listening connection") == []
    assert records(caplog, "did not end") == []


async def test_close_with_a_live_connection(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """close() closes the live connection and the publishing ones, and logs nothing, not even at debug level."""
    caplog.set_level(logging.DEBUG, LOGGER)
    backend.attempts.put_nowait(None)
    await backend.subscribe(["a"])
    live = backend.live
    await asyncio.wait_for(backend.close(), T)
    assert backend.closed == [live]
    assert not backend._connected
    assert records(caplog, "") == []


async def test_a_driver_that_turns_the_cancellation_into_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """
    A driver that, cancelled, raises its own error: close() still ends the
    listener, and no retry is announced for a backend that was closed.
    """

    class Swallowing(ScriptedBackend):
        async def _receive(self, connection: Connection) -> None:
            try:
                await connection.ended
            except asyncio.CancelledError:
                raise ConnectionAbortedError("aborted by the driver") from None

    backend = Swallowing()
    backend.attempts.put_nowait(None)
    await backend.connect()
    listener = backend._listener
    assert listener is not None
    await asyncio.wait_for(backend.close(), T)
    assert listener.done()
    assert not listener.cancelled()
    assert records(caplog, "No listening connection") == []
    assert backend.closed == backend.opened


async def test_release_error_is_logged_not_raised(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """An error closing the publishing connections: close() returns, and logs it at debug with its traceback."""
    caplog.set_level(logging.DEBUG, LOGGER)
    backend.release_error = OSError("broken pipe")
    await asyncio.wait_for(backend.close(), T)
    [record] = [r for r in caplog.records if "Error closing the backend" in r.message]
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == "Error closing the backend for the scripted server"
    assert record.exc_info is not None
    assert record.exc_info[1] is backend.release_error
    assert records(caplog, "did not end") == []


async def test_stuck_release_is_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    """
    Publishing connections that do not close within close_timeout: a
    warning naming them, and close() returns; the task is kept until it
    ends, then let go with its error retrieved (close() has reported it).
    """
    unstick = asyncio.Event()

    class StuckRelease(ScriptedBackend):
        async def _release(self) -> None:
            await unstick.wait()
            raise OSError("closed at last")

    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: unhandled.append(context))
    try:
        backend = StuckRelease()
        backend.close_timeout = 0.05
        before = set(base._left_behind)
        await asyncio.wait_for(backend.close(), T)
        assert records(caplog, "did not end") == [
            (
                logging.WARNING,
                "Closing the publishing connections to the scripted server did not "
                "end within 0.05 s; closing without waiting for it.",
            )
        ]
        [left] = base._left_behind - before
        unstick.set()
        await asyncio.wait({left}, timeout=T)
        await asyncio.sleep(0)  # its done callbacks run
        assert left not in base._left_behind
        del left
        gc.collect()  # a task whose error was never retrieved says so when collected
        assert unhandled == []
    finally:
        loop.set_exception_handler(None)
