"""
The base classes of group backends, and the helpers they share.

:class:`BaseBackend` is the interface. :class:`ListeningBackend` is what the
Redis and PostgreSQL backends have in common, written once so that it cannot
drift: the options every server backend takes, a listening connection kept
open by a task that reconnects with backoff and subscribes every group
again, a bounded ``close()``, and the failure policy stated in
:mod:`django_wsviews.backends`.

This module reads no settings.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

from ..exceptions import BroadcastError
from ..log import get_logger

__all__ = [
    "Backoff",
    "BaseBackend",
    "ListeningBackend",
    "MessageCallback",
    "StateSignal",
    "number_option",
]

MessageCallback = Callable[[bytes], None]

#: A backend's name for a group on its server: ``bytes`` or ``str``.
ChannelT = TypeVar("ChannelT", bytes, str)

# Tasks that close() stopped waiting for, kept until they end: the event
# loop holds only weak references to tasks.
_left_behind: set[asyncio.Future[Any]] = set()


class BaseBackend(abc.ABC):
    """
    The interface of a group backend.

    ``options`` is the setting's ``OPTIONS``; ``on_message`` is called, on
    the event loop, with the bytes of every message published to a group
    this backend is subscribed to, in the order they were published by each
    sender. A backend instance belongs to one event loop. Making one does no
    I/O (the system checks make one to check the options).
    """

    #: The ``OPTIONS`` keys the backend accepts; others are a configuration error.
    option_names: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: Mapping[str, Any], on_message: MessageCallback) -> None:
        self.options = dict(options)
        self.on_message = on_message

    async def connect(self) -> None:  # noqa: B027  (optional to override)
        """
        Start listening: called at lifespan startup, else before the first subscribe.

        Log, do not raise, if the server is unreachable; keep retrying.
        """

    async def close(self) -> None:  # noqa: B027  (optional to override)
        """
        Stop listening and release every connection; called at the end.

        Return in bounded time, even if the server stopped answering. A
        second call does nothing more.
        """

    @abc.abstractmethod
    async def subscribe(self, groups: Collection[str]) -> None:
        """
        Receive the messages of ``groups`` from now on.

        Return once the server has confirmed it, or at once if the server is
        unreachable (the backend subscribes when it is back).
        """

    @abc.abstractmethod
    async def unsubscribe(self, groups: Collection[str]) -> None:
        """Stop receiving the messages of ``groups``."""

    @abc.abstractmethod
    async def publish(self, group: str, payload: bytes) -> None:
        """
        Send ``payload`` to every process subscribed to ``group``, once.

        Raise :class:`~django_wsviews.exceptions.BroadcastError` if it could
        not be sent.
        """


class ListeningBackend(BaseBackend, Generic[ChannelT]):
    """
    A backend that holds one listening connection to a server.

    A task (the listener) opens the connection, subscribes every wanted
    channel, then reads until the connection fails; it logs the failure,
    waits a backoff, and starts again. Subclasses say how, in the methods
    marked abstract: name a group's channel, open, subscribe, read and close
    the listening connection, and release the publishing connections; and
    they implement ``publish()``, raising :meth:`_unreachable`'s error.
    They keep ``_active``, the channels subscribed on the live connection,
    as the server confirms them, and call ``_signal.notify()`` after a
    change: ``subscribe()`` returns once its channels are in ``_active``
    (or the connection is lost, or ``SUBSCRIBE_TIMEOUT`` has passed).

    Options: ``HEALTH_CHECK_INTERVAL`` (15 s), ``RECONNECT_MAX_DELAY``
    (10 s), ``SUBSCRIBE_TIMEOUT`` (5 s); subclasses add their own.
    """

    option_names = frozenset(
        {"HEALTH_CHECK_INTERVAL", "RECONNECT_MAX_DELAY", "SUBSCRIBE_TIMEOUT"}
    )
    #: Seconds close() waits for the listener to stop, and as long for the
    #: connections to close; past them it logs a warning and returns.
    close_timeout: float = 5.0
    #: The listening connection, as the logs name it: "No <name> connection to ...".
    listener_name: ClassVar[str] = "listening"
    #: Logged with the group count once the listener is back.
    resubscribed_text: ClassVar[str] = "re-subscribed %d groups"
    _log: ClassVar[logging.Logger] = get_logger("django_wsviews.backends")

    def __init__(self, options: Mapping[str, Any], on_message: MessageCallback) -> None:
        super().__init__(options, on_message)
        self._health = number_option(options, "HEALTH_CHECK_INTERVAL", 15)
        self._backoff = Backoff(
            maximum=number_option(options, "RECONNECT_MAX_DELAY", 10)
        )
        self._subscribe_timeout = number_option(options, "SUBSCRIBE_TIMEOUT", 5)
        self._channels: set[ChannelT] = set()  # wanted
        self._active: set[ChannelT] = set()  # subscribed on the live connection
        self._connected = False  # the listening connection is open
        self._tried = False  # a connection attempt has finished, for better or worse
        self._signal = StateSignal()
        self._listener: asyncio.Task[None] | None = None

    # The interface --------------------------------------------------------------

    async def connect(self) -> None:
        """Start the listener; wait for its first attempt, but never raise for it."""
        if self._listener is None:
            self._listener = asyncio.ensure_future(self._listen())
        await self._signal.wait_until(lambda: self._tried, self._subscribe_timeout)

    async def close(self) -> None:
        """
        Stop the listener and release every connection; calling it again does nothing more.

        Wait at most :attr:`close_timeout` for the listener to stop, and as
        long for the connections to close: a server that stopped answering
        may hold a driver in a network call. Past that, log a warning and
        return; what is left ends on its own.
        """
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await self._bounded(listener, f"The {self.listener_name} connection")
        release = asyncio.ensure_future(self._release())
        await self._bounded(release, "Closing the publishing connections")

    async def subscribe(self, groups: Collection[str]) -> None:
        """Subscribe the groups' channels; return once in place, or the server is unreachable."""
        channels = {self._channel(group) for group in groups}
        if not channels:
            return
        self._channels |= channels
        if self._listener is None:
            await self.connect()
        await self._request_subscribe(channels)
        in_place = await self._signal.wait_until(
            lambda: channels <= self._active or not self._connected,
            self._subscribe_timeout,
        )
        if not in_place:
            self._log.warning(
                "%s did not confirm a subscription within %s s; messages may be missed "
                "until it does.",
                self._where(),
                self._subscribe_timeout,
            )

    async def unsubscribe(self, groups: Collection[str]) -> None:
        """Unsubscribe the groups' channels."""
        channels = {self._channel(group) for group in groups}
        if channels:
            self._channels -= channels
            await self._request_unsubscribe(channels)

    # For subclasses ------------------------------------------------------------------

    @abc.abstractmethod
    def _channel(self, group: str) -> ChannelT:
        """Return the server's channel for ``group``."""

    @abc.abstractmethod
    def _where(self) -> str:
        """Return the server, for logs and errors ("Redis at ..."), without secrets."""

    @abc.abstractmethod
    async def _open(self) -> Any:
        """Open and return a listening connection; raise if the server is unreachable."""

    @abc.abstractmethod
    async def _resubscribe(self, connection: Any) -> None:
        """Subscribe every channel of ``_channels`` on a new ``connection``."""

    @abc.abstractmethod
    async def _receive(self, connection: Any) -> None:
        """Hand the messages of ``connection`` to ``on_message`` until it fails; then raise."""

    @abc.abstractmethod
    async def _close_connection(self, connection: Any) -> None:
        """Close a listening connection, whatever its state."""

    @abc.abstractmethod
    async def _request_subscribe(self, channels: set[ChannelT]) -> None:
        """Have the live connection, if any, subscribe ``channels``; never raise."""

    @abc.abstractmethod
    async def _request_unsubscribe(self, channels: set[ChannelT]) -> None:
        """Have the live connection, if any, unsubscribe ``channels``; never raise."""

    @abc.abstractmethod
    async def _release(self) -> None:
        """Close the publishing connections."""

    def _unreachable(self, group: str, exc: Exception) -> BroadcastError:
        """Return the error of a broadcast to ``group`` that failed with ``exc``."""
        return BroadcastError(
            f"Could not broadcast to group {group!r}: {self._where()} is "
            f"unreachable ({exc}). Open connections stay up; the backend "
            "reconnects on its own."
        )

    async def _quietly(self, awaitable: Awaitable[Any]) -> None:
        """Await ``awaitable``, logging (at debug level) rather than raising its error."""
        try:
            await awaitable
        except Exception:
            self._log.debug(
                "Error closing a connection to %s", self._where(), exc_info=True
            )

    # The listener ---------------------------------------------------------------------

    async def _listen(self) -> None:
        lost = False
        # Until close(): also ends a listener whose driver swallowed the cancellation.
        while self._listener is asyncio.current_task():
            delay = 0.0
            connection: Any = None
            try:
                connection = await self._open()
                self._connected = True
                self._backoff.reset()
                await self._resubscribe(connection)
                if lost:
                    self._log.warning(
                        "Reconnected to %s; " + self.resubscribed_text + ".",
                        self._where(),
                        len(self._channels),
                    )
                lost = False
                self._tried = True
                self._signal.notify()
                await self._receive(connection)
                raise ConnectionError("the connection ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._listener is not asyncio.current_task():
                    return  # closed meanwhile: no retry to announce
                delay = self._backoff.next()
                log = self._log.debug if lost else self._log.warning
                log(
                    "No %s connection to %s (%s); retrying in %.1f s.",
                    self.listener_name,
                    self._where(),
                    str(exc).strip(),
                    delay,
                )
                lost = True
            finally:
                self._connected = False
                self._active.clear()
                self._tried = True
                self._signal.notify()
                if connection is not None:
                    await self._quietly(self._close_connection(connection))
            await asyncio.sleep(delay)

    async def _bounded(self, task: asyncio.Future[Any], what: str) -> None:
        """Wait up to close_timeout for ``task``; past it, warn and keep it until it ends."""
        _, pending = await asyncio.wait({task}, timeout=self.close_timeout)
        if pending:
            self._log.warning(
                "%s to %s did not end within %s s; closing without waiting for it.",
                what,
                self._where(),
                self.close_timeout,
            )
            _left_behind.add(task)
            task.add_done_callback(_forget)
        elif not task.cancelled() and task.exception() is not None:
            self._log.debug(
                "Error closing the backend for %s",
                self._where(),
                exc_info=task.exception(),
            )


def _forget(task: asyncio.Future[Any]) -> None:
    _left_behind.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: close() has said it gave up on the task


class Backoff:
    """Delays between reconnection attempts: doubling from ``initial`` up to ``maximum``, with jitter."""

    def __init__(self, initial: float = 0.1, maximum: float = 10.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def reset(self) -> None:
        """Start again from the initial delay (after a successful connection)."""
        self._next = self.initial

    def next(self) -> float:
        """Return the next delay in seconds."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * random.uniform(0.5, 1.0)


class StateSignal:
    """Wake the coroutines waiting for a backend's state to change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter; each re-checks its condition."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true; return False if ``timeout`` passed first."""

        async def until() -> None:
            while not predicate():
                await self._event.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            return False
        return True


def number_option(options: Mapping[str, Any], name: str, default: float) -> float:
    """Return option ``name`` as a positive number; raise ImproperlyConfigured otherwise."""
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND['OPTIONS']['{name}'] must be a positive number of "
            f"seconds, not {value!r}."
        )
    return float(value)
