"""
What the history stores share: the place of a message (:class:`Seq`), a
group's limits, what a read returns, and the store interface.

A group with history (see :mod:`django_wsviews.history`) numbers its
broadcasts: each gets the next *offset* of the group (1, 2, 3, ...) and
carries the group's *epoch*, a random name that changes whenever the
history is lost (a Redis restarted without persistence, a PostgreSQL table
truncated, a new process for the in-memory store). The two make the
``seq`` a client sees: ``"<epoch>:<offset>"``.

A store assigns the offset, keeps the message and publishes it in one
atomic step, so every process sees a group's messages in offset order. The
seq travels in the message's header (``"q"``, see
:mod:`django_wsviews.envelope`); :func:`with_seq` puts it there, given the
wire form the sender made.

This module reads no settings.
"""

from __future__ import annotations

import abc
import re
import secrets
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "HistoryLimits",
    "HistoryRead",
    "HistoryStore",
    "Seq",
    "new_epoch",
    "with_seq",
]

#: An epoch: 1 to 32 lower-case letters and digits.
_EPOCH = re.compile(r"[a-z0-9]{1,32}\Z")
#: The longest offset accepted in a seq: 18 digits fit a signed 64-bit integer.
_OFFSET = re.compile(r"[0-9]{1,18}\Z")

BackendT = TypeVar("BackendT")


@dataclass(frozen=True)
class Seq:
    """A place in one group's history: its ``epoch`` and ``offset``."""

    epoch: str
    offset: int

    def __str__(self) -> str:
        return f"{self.epoch}:{self.offset}"

    @classmethod
    def parse(cls, text: object) -> Seq | None:
        """
        Return the seq that ``text`` (``"<epoch>:<offset>"``) names, or None.

        None for anything else: not a str, no colon, an epoch that is not 1
        to 32 lower-case letters and digits, an offset that is not 1 to 18
        decimal digits.
        """
        if not isinstance(text, str) or len(text) > 52:
            return None
        epoch, colon, offset = text.partition(":")
        if not colon or not _EPOCH.match(epoch) or not _OFFSET.match(offset):
            return None
        return cls(epoch, int(offset))


@dataclass(frozen=True)
class HistoryLimits:
    """How much of a group's history to keep: messages, and seconds (None: no age limit)."""

    max_messages: int
    max_age: float | None = None


@dataclass(frozen=True)
class HistoryRead:
    """
    What a store holds of a group after some offset, read at one instant.

    ``epoch`` is None when the store holds nothing for the group (no
    broadcast since the history was lost, or ever). ``last`` is the offset
    of the group's latest message. ``entries`` are the kept messages after
    the offset asked for, oldest first, as ``(offset, payload)``: kept
    within the limits, so the first may come later than the one asked for.
    """

    epoch: str | None
    last: int
    entries: list[tuple[int, bytes]]


def new_epoch() -> str:
    """Return a new random epoch (12 lower-case hex digits)."""
    return secrets.token_hex(6)


def with_seq(payload: bytes, seq: Seq | str) -> bytes:
    """
    Return ``payload`` (from :func:`~django_wsviews.envelope.encode_message`)
    with ``seq`` in its header.

    The header is a JSON object, so the seq goes first: ``{"q":"<seq>",``
    then the rest. The Redis and PostgreSQL stores do the same splice on
    the server (:func:`header_rest` gives them the rest).
    """
    return f'{{"q":"{seq}",'.encode() + header_rest(payload)


def header_rest(payload: bytes) -> bytes:
    """Return ``payload`` without the ``{`` that opens its header."""
    if not payload.startswith(b"{"):
        raise ValueError("Not a django-wsviews group message: no header.")
    return payload[1:]


class HistoryStore(abc.ABC, Generic[BackendT]):
    """
    The history of groups, kept beside a group backend.

    A store is made for one backend instance (so one event loop) and uses
    its connections. It raises
    :class:`~django_wsviews.exceptions.BroadcastError` when the server is
    unreachable, for reads as for publishing.
    """

    def __init__(self, backend: BackendT) -> None:
        self.backend = backend

    @abc.abstractmethod
    async def publish(self, group: str, payload: bytes, limits: HistoryLimits) -> Seq:
        """
        Number ``payload``, keep it within ``limits`` and publish it, in one atomic step.

        Return its seq. Messages published to one group by any process
        reach every subscriber in the order of their offsets.
        """

    @abc.abstractmethod
    async def read(self, group: str, after: int, limits: HistoryLimits) -> HistoryRead:
        """Return what the store keeps of ``group`` after offset ``after``."""
