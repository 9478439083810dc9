"""
Capturing broadcasts in tests: what was sent to which group, without a socket.

:func:`capture_broadcasts` records every broadcast, message to a user and
close request made through :mod:`django_wsviews.groups` (``broadcast()``,
``send_to_user()``, ``close_user_sockets()`` and their ``a``-twins), by any
code, in any thread, on any backend, while it is active::

    with capture_broadcasts() as sent:
        post_message(room="lobby", text="hi")  # code that broadcasts
    sent.assert_broadcast("room.lobby", json={"text": "hi"})

Capturing changes nothing: each broadcast is still published, and members
still get it. A record is taken once the backend took the broadcast (one
that raised :exc:`~django_wsviews.exceptions.BroadcastError` was not sent,
and is not recorded). In async code, ``await sent.wait_for(...)`` waits for
a broadcast a view makes meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Literal, overload

from .. import groups
from ..envelope import CloseRequest, decode
from ..groups import user_group_name, validate_group_name
from .client import DEFAULT_TIMEOUT

__all__ = ["BroadcastCapture", "CapturedBroadcast", "capture_broadcasts"]

_MISSING: Any = object()
_EMPTY: Mapping[str, Any] = MappingProxyType({})

# How much of a record's data a failure message shows.
_SHOWN_CHARACTERS = 120


@dataclass(frozen=True)
class CapturedBroadcast:
    """
    One broadcast, message to a user, or close request, as it was sent.

    ``kind`` is ``"message"`` (``broadcast()``, ``send_to_user()``) or
    ``"close"`` (``close_user_sockets()``). ``data`` is what members get:
    ``str`` for text (JSON content arrives encoded), ``bytes`` for binary,
    ``""`` for a close. ``sender`` and ``meta`` are what the sender passed.
    ``code`` and ``reason`` are a close's (``code`` is None for a message).
    ``user`` is the user (or primary key) that ``send_to_user()`` or
    ``close_user_sockets()`` was given, else None; ``group`` is then that
    user's group.
    """

    group: str
    kind: Literal["message", "close"]
    data: str | bytes = ""
    sender: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    code: int | None = None
    reason: str = ""
    user: Any = None

    def json(self) -> Any:
        """Decode ``data`` as JSON; raise ValueError for a close or binary data."""
        if self.kind != "message" or not isinstance(self.data, str):
            raise ValueError(f"{self.describe()} is not JSON text.")
        return jsonlib.loads(self.data)

    def describe(self) -> str:
        """Return one line saying what was sent, for failure messages."""
        if self.kind == "close":
            what = f"close {self.code}" + (f" {self.reason!r}" if self.reason else "")
        else:
            kind = "text" if isinstance(self.data, str) else "bytes"
            shown = repr(self.data)
            if len(shown) > _SHOWN_CHARACTERS:
                shown = shown[: _SHOWN_CHARACTERS - 3] + "..."
            what = f"{kind} {shown}"
        sender = f" (sender {self.sender!r})" if self.sender is not None else ""
        return f"{self.group!r}: {what}{sender}"


class BroadcastCapture(Sequence[CapturedBroadcast]):
    """
    The broadcasts sent while it is active, in the order they were sent.

    Use it with ``with`` or ``async with`` (:func:`capture_broadcasts` makes
    one); it is a sequence of :class:`CapturedBroadcast`, and keeps what it
    recorded once left. ``group``, if given, records only that group's.
    Safe to fill from any thread.
    """

    def __init__(self, group: str | None = None) -> None:
        self.group = None if group is None else validate_group_name(group)
        self._records: list[CapturedBroadcast] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._active = False

    # Capturing --------------------------------------------------------------

    def __enter__(self) -> BroadcastCapture:
        if self._active:
            raise RuntimeError("This capture is already active.")
        self._active = True
        groups.publish_observers.append(self._record)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        groups.publish_observers.remove(self._record)

    async def __aenter__(self) -> BroadcastCapture:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _record(self, payload: bytes, user: Any) -> None:
        sent = decode(payload)
        if self.group is not None and sent.group != self.group:
            return
        if isinstance(sent, CloseRequest):
            record = CapturedBroadcast(
                sent.group, "close", code=sent.code, reason=sent.reason, user=user
            )
        else:
            record = CapturedBroadcast(
                sent.group, "message", sent.data, sent.sender, sent.meta, user=user
            )
        with self._lock:
            self._records.append(record)
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                loop.call_soon_threadsafe(_wake, waiter)

    # The records --------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> CapturedBroadcast: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[CapturedBroadcast]: ...

    def __getitem__(
        self, index: int | slice
    ) -> CapturedBroadcast | Sequence[CapturedBroadcast]:
        with self._lock:
            return self._records[index]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[CapturedBroadcast]:
        with self._lock:
            return iter(list(self._records))

    def __repr__(self) -> str:
        return f"<BroadcastCapture: {len(self)} captured>"

    def clear(self) -> None:
        """Forget what was recorded so far (to assert on what comes next)."""
        with self._lock:
            self._records.clear()

    # Assertions -----------------------------------------------------------------

    def assert_broadcast(
        self,
        group: str | None = None,
        *,
        user: Any = None,
        json: Any = _MISSING,
        text: str | None = None,
        data: str | bytes | None = None,
        sender: str | None = _MISSING,
    ) -> CapturedBroadcast:
        """
        Assert that a message was sent to ``group`` (or to ``user``); return it.

        With ``json``, its data must decode to that; with ``text``, be that
        text; with ``data``, be that ``str`` or ``bytes`` (give one of the
        three, or none to match any message); with ``sender``, come from that
        sender. The first match is returned. Raise AssertionError listing
        what was sent when nothing matches.
        """
        matches = _matcher(
            self._target(group, user), "message", json, text, data, sender
        )
        for record in self:
            if matches(record):
                return record
        raise AssertionError(
            self._failure(_wanted(group, user, json, text, data, sender))
        )

    def assert_no_broadcast(
        self, group: str | None = None, *, user: Any = None
    ) -> None:
        """
        Assert that nothing was sent to ``group`` (or ``user``), or at all.

        Closes count. Raise AssertionError listing what was sent.
        """
        target = self._target(group, user)
        sent = [record for record in self if target is None or record.group == target]
        if sent:
            where = "at all" if target is None else f"to {target!r}"
            raise AssertionError(
                f"Expected no broadcast {where}, got {len(sent)}:\n"
                + "\n".join(f"  {record.describe()}" for record in sent)
            )

    def assert_user_sockets_closed(
        self, user: Any, *, code: int | None = None, reason: str | None = None
    ) -> CapturedBroadcast:
        """
        Assert that ``close_user_sockets(user)`` was called; return its record.

        With ``code`` or ``reason``, the close must have that code or reason.
        Raise AssertionError listing what was sent when none matches.
        """
        target = user_group_name(user)
        for record in self:
            if (
                record.kind == "close"
                and record.group == target
                and (code is None or record.code == code)
                and (reason is None or record.reason == reason)
            ):
                return record
        details = "" if code is None else f", code={int(code)}"
        details += "" if reason is None else f", reason={reason!r}"
        raise AssertionError(
            self._failure(f"a close of the sockets of {target!r}{details}")
        )

    async def wait_for(
        self,
        group: str | None = None,
        *,
        user: Any = None,
        json: Any = _MISSING,
        text: str | None = None,
        data: str | bytes | None = None,
        sender: str | None = _MISSING,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> CapturedBroadcast:
        """
        Wait until a message matching as for :meth:`assert_broadcast` is sent; return it.

        Return at once if one was sent already. Raise AssertionError listing
        what was sent if none is within ``timeout`` seconds.
        """
        matches = _matcher(
            self._target(group, user), "message", json, text, data, sender
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = 0
        while True:
            with self._lock:
                records = self._records[checked:]
                checked = len(self._records)
                waiter = loop.create_future()
                self._waiters.append((loop, waiter))
            for record in records:
                if matches(record):
                    waiter.cancel()
                    return record
            remaining = deadline - loop.time()
            if remaining > 0:
                await asyncio.wait({waiter}, timeout=remaining)
            if not waiter.done():
                waiter.cancel()
                with self._lock:
                    if (loop, waiter) in self._waiters:
                        self._waiters.remove((loop, waiter))
                    late = self._records[checked:]
                for record in late:
                    if matches(record):
                        return record
                wanted = _wanted(group, user, json, text, data, sender)
                raise AssertionError(self._failure(f"{wanted} within {timeout} s"))

    # Helpers ----------------------------------------------------------------------

    def _target(self, group: str | None, user: Any) -> str | None:
        if group is not None and user is not None:
            raise TypeError("Pass a group or user=, not both.")
        if user is not None:
            return user_group_name(user)
        return None if group is None else validate_group_name(group)

    def _failure(self, wanted: str) -> str:
        records = list(self)
        if not records:
            return f"Expected {wanted}; nothing was sent."
        listed = "\n".join(f"  {record.describe()}" for record in records)
        return f"Expected {wanted}; sent instead ({len(records)}):\n{listed}"


def capture_broadcasts(group: str | None = None) -> BroadcastCapture:
    """
    Return a :class:`BroadcastCapture`: use it with ``with`` or ``async with``.

    While active, it records what :mod:`django_wsviews.groups` sends, to
    ``group`` only if given; the broadcasts still go out as usual. Raise
    ValueError for an invalid group name.
    """
    return BroadcastCapture(group)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _matcher(
    target: str | None,
    kind: str,
    json: Any,
    text: str | None,
    data: str | bytes | None,
    sender: str | None,
) -> Callable[[CapturedBroadcast], bool]:
    """Return a test of a record against the criteria of :meth:`assert_broadcast`."""
    given = [] if json is _MISSING else ["json="]
    given.extend(
        f"{name}="
        for name, value in (("text", text), ("data", data))
        if value is not None
    )
    if len(given) > 1:
        raise TypeError(
            f"Pass one of json=, text= and data=, not {' and '.join(given)}."
        )
    if text is not None and not isinstance(text, str):
        raise TypeError(
            f"text= is a str, not {type(text).__name__}; use data= for bytes."
        )

    def matches(record: CapturedBroadcast) -> bool:
        if record.kind != kind or (target is not None and record.group != target):
            return False
        if sender is not _MISSING and record.sender != sender:
            return False
        if json is not _MISSING:
            try:
                return bool(record.json() == json)
            except ValueError:
                return False
        if text is not None:
            return isinstance(record.data, str) and record.data == text
        if data is not None:
            return type(record.data) is type(data) and record.data == data
        return True

    return matches


def _wanted(
    group: str | None,
    user: Any,
    json: Any,
    text: str | None,
    data: str | bytes | None,
    sender: str | None,
) -> str:
    """Say what an assertion looked for."""
    if user is not None:
        where = f" to {user_group_name(user)!r}"
    elif group is not None:
        where = f" to {group!r}"
    else:
        where = ""
    details = [] if json is _MISSING else [f"json={json!r}"]
    details.extend(
        f"{name}={value!r}"
        for name, value in (("text", text), ("data", data))
        if value is not None
    )
    if sender is not _MISSING:
        details.append(f"sender={sender!r}")
    return f"a broadcast{where}" + (f" with {', '.join(details)}" if details else "")
