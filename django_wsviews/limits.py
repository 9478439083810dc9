"""
Per-connection limits: message size and rate, idleness, connections per user, groups, session re-checks.

A view states its limits as one :class:`Limits` value (its ``limits``
attribute); a field left ``None`` follows the project's setting
(``WSVIEWS_MAX_MESSAGE_SIZE``, ``WSVIEWS_RATE_LIMIT``,
``WSVIEWS_IDLE_TIMEOUT``, ``WSVIEWS_MAX_CONNECTIONS_PER_USER``,
``WSVIEWS_MAX_GROUPS_PER_CONNECTION``,
``WSVIEWS_SESSION_RECHECK_INTERVAL``). They are read once per connection,
never per message, and hold on every server, whatever the server's own
limits are. Connections per user are counted per process.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import overload

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "Limits",
    "Rate",
    "TokenBucket",
    "message_size_exceeds",
    "parse_rate",
    "release_user_slot",
    "take_user_slot",
]

Rate = tuple[float, float]  # (messages, per seconds)
#: A rate as written: ``"20/s"``, ``"600/min"``, ``"100/10s"`` or a :data:`Rate`.
RateSpec = str | tuple[float, float]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*([smhd])\w*\s*$")
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@overload
def parse_rate(rate: None) -> None: ...


@overload
def parse_rate(rate: str | Rate) -> Rate: ...


def parse_rate(rate: str | Rate | None) -> Rate | None:
    """
    Return ``rate`` as ``(messages, seconds)``, or None for no limit.

    Accept ``"20/s"``, ``"600/min"``, ``"100/10s"``, or a tuple
    ``(messages, seconds)``. Raise ImproperlyConfigured for anything else.
    """
    if rate is None:
        return None
    if isinstance(rate, str):
        match = _RATE.match(rate)
        if match is None:
            raise ImproperlyConfigured(
                f"Invalid rate {rate!r}: write it as 'N/s', 'N/min', 'N/h' or "
                "'N/10s', or as a (messages, seconds) tuple."
            )
        count, multiple, unit = match.groups()
        return float(count), float(multiple or 1) * _PERIODS[unit]
    if (
        isinstance(rate, tuple)
        and len(rate) == 2
        and all(isinstance(n, (int, float)) and n > 0 for n in rate)
    ):
        return float(rate[0]), float(rate[1])
    raise ImproperlyConfigured(
        f"Invalid rate {rate!r}: write it as 'N/s', 'N/min', 'N/h' or "
        "'N/10s', or as a (messages, seconds) tuple of positive numbers."
    )


@dataclasses.dataclass(frozen=True)
class Limits:
    """
    The limits of a view's connections; ``None`` follows the project's setting.

    Set as a view's ``limits`` attribute (``limits = Limits(rate="20/s")``)
    or returned by its ``get_limits()``; a subclass changes one field with
    ``dataclasses.replace(Base.limits, idle_timeout=60)``. An invalid value
    raises ``ImproperlyConfigured`` where the ``Limits`` is made, naming the
    field.
    """

    #: The largest message accepted, in bytes (text counted as UTF-8); a
    #: larger one closes the connection with 1009 (``WSVIEWS_MAX_MESSAGE_SIZE``,
    #: 1 MiB by default).
    max_message_size: int | None = None
    #: Messages allowed per connection, e.g. ``"20/s"`` or ``(100, 60)``, as a
    #: token bucket (bursts up to the count); past it the view's
    #: ``handle_rate_limit_exceeded()`` runs (``WSVIEWS_RATE_LIMIT``, none by
    #: default).
    rate: RateSpec | None = None
    #: Seconds with no message either way after which the connection is
    #: closed with 1001 (``WSVIEWS_IDLE_TIMEOUT``, off by default).
    idle_timeout: float | None = None
    #: Open connections allowed per authenticated user, in this process, to
    #: every view with this limit; past it the handshake is refused with 429
    #: (``WSVIEWS_MAX_CONNECTIONS_PER_USER``, none by default).
    max_connections_per_user: int | None = None
    #: Groups a connection may be in at once, those joined on accept
    #: included; past it ``join()`` raises ``TooManyGroups``
    #: (``WSVIEWS_MAX_GROUPS_PER_CONNECTION``, 100 by default).
    max_groups_per_connection: int | None = None
    #: Seconds between re-reads of the connection's session (0: before every
    #: message); once the session has ended or its user changed, the view's
    #: ``handle_session_expired()`` runs (``WSVIEWS_SESSION_RECHECK_INTERVAL``,
    #: never by default).
    session_recheck_interval: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "max_message_size",
            "max_connections_per_user",
            "max_groups_per_connection",
        ):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise ImproperlyConfigured(
                    f"Limits({name}={value!r}): give a positive integer, or None "
                    "to follow the project's setting."
                )
        for name, kind, zero in (
            ("idle_timeout", "a positive number of seconds", False),
            (
                "session_recheck_interval",
                "a number of seconds (0 for before every message)",
                True,
            ),
        ):
            seconds = getattr(self, name)
            if seconds is not None and (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or seconds < 0
                or (seconds == 0 and not zero)
            ):
                raise ImproperlyConfigured(
                    f"Limits({name}={seconds!r}): give {kind}, or None to follow "
                    "the project's setting."
                )
        parse_rate(self.rate)

    def or_else(self, defaults: Limits) -> Limits:
        """Return these limits with each ``None`` field taken from ``defaults``."""
        changes = {
            field.name: getattr(defaults, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is None
        }
        return dataclasses.replace(self, **changes) if changes else self


class TokenBucket:
    """
    A token bucket: bursts of up to ``messages``, refilled at the rate.

    ``take(now)`` spends one token and returns False when there is none.
    """

    __slots__ = ("capacity", "per_second", "tokens", "updated")

    def __init__(self, rate: Rate, now: float) -> None:
        messages, seconds = rate
        self.capacity = messages
        self.per_second = messages / seconds
        self.tokens = messages
        self.updated = now

    def take(self, now: float) -> bool:
        """Spend a token at time ``now``; return whether one was available."""
        tokens = min(
            self.capacity, self.tokens + (now - self.updated) * self.per_second
        )
        self.updated = now
        if tokens < 1:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1
        return True


def message_size_exceeds(message: str | bytes, limit: int) -> bool:
    """
    Return whether ``message`` is over ``limit`` bytes (text counted as UTF-8).

    Cheap for the common case: text is only encoded when its length alone
    cannot decide.
    """
    size = len(message)
    if size > limit:
        return True
    if isinstance(message, str) and size * 4 > limit:
        return len(message.encode("utf-8", "surrogatepass")) > limit
    return False


# Open connections per user in this process, for ``max_connections_per_user``.
_user_connections: collections.Counter[str] = collections.Counter()


def take_user_slot(user_key: str, limit: int) -> bool:
    """Count one more connection of ``user_key``; return False (counting nothing) past ``limit``."""
    if _user_connections[user_key] >= limit:
        return False
    _user_connections[user_key] += 1
    return True


def release_user_slot(user_key: str) -> None:
    """Count one connection of ``user_key`` fewer."""
    _user_connections[user_key] -= 1
    if _user_connections[user_key] <= 0:
        del _user_connections[user_key]
