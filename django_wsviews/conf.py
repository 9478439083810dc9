"""
The settings django-wsviews reads, each looked up lazily on access.

Reading through one object (``conf.settings.X``) rather than copying values at
import time keeps ``override_settings`` working in tests. Values read are
remembered (handshakes read several, and Django's settings object is slow to
ask) and forgotten whenever a setting changes (``setting_changed``).

Each setting is declared once, in :data:`SETTINGS`, with its default, the rule
its value must follow and the id of its system check. The accessor and the
system check (:mod:`django_wsviews.checks`, run again at lifespan startup) both
apply that rule, so the error a bad value raises on access and the check's
message are the same words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

from . import setting_rules as rules
from .limits import Limits, Rate, parse_rate
from .setting_rules import MEMORY_BACKEND, InvalidSetting, Validator

__all__ = ["OVERFLOW_POLICIES", "SETTINGS", "InvalidSetting", "Setting", "settings"]

#: The values of ``WSVIEWS_SEND_QUEUE_OVERFLOW``.
OVERFLOW_POLICIES = ("close", "drop_oldest", "drop_newest")


#: Django middleware that do no I/O when they handle a handshake: they only
#: read headers and cookies, and leave the session, the user and messages lazy.
DEFAULT_INLINE_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.middleware.gzip.GZipMiddleware",
        "django.middleware.http.ConditionalGetMiddleware",
        # Django 6.0: makes a nonce lazily and sets a header on the response.
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
    }
)


@dataclass(frozen=True)
class Setting:
    """One ``WSVIEWS_*`` setting: its default, its rule and its system check id."""

    name: str
    default: Any
    clean: Validator
    check_id: str

    def value(self) -> Any:
        """Return the project's value, or the default, as cleaned; raise InvalidSetting."""
        return self.clean(self.name, getattr(django_settings, self.name, self.default))


def _declare(*settings: Setting) -> dict[str, Setting]:
    return {setting.name: setting for setting in settings}


#: Every ``WSVIEWS_*`` setting, by name, in the order of their check ids.
SETTINGS = _declare(
    Setting(
        "WSVIEWS_SHUTDOWN_TIMEOUT",
        10.0,
        rules.number(
            "Set it to the seconds shutdown waits for connections, e.g. 10.", zero=True
        ),
        "django_wsviews.E010",
    ),
    Setting(
        "WSVIEWS_MIDDLEWARE",
        None,
        rules.paths(
            "Set it to a list of middleware dotted paths, or None for MIDDLEWARE."
        ),
        "django_wsviews.E011",
    ),
    Setting(
        "WSVIEWS_INLINE_MIDDLEWARE",
        None,
        rules.paths(
            "Set it to a list of middleware dotted paths, or None for Django's own."
        ),
        "django_wsviews.E012",
    ),
    Setting("WSVIEWS_CHECK_ORIGIN", True, rules.boolean, "django_wsviews.E013"),
    Setting("WSVIEWS_ALLOWED_ORIGINS", (), rules.origins, "django_wsviews.E014"),
    Setting("WSVIEWS_ALLOW_MISSING_ORIGIN", True, rules.boolean, "django_wsviews.E015"),
    Setting(
        "WSVIEWS_MAX_MESSAGE_SIZE",
        1024 * 1024,
        rules.positive_int(
            "Set it in bytes, e.g. 1048576, or None for no limit.", none=True
        ),
        "django_wsviews.E016",
    ),
    Setting("WSVIEWS_RATE_LIMIT", None, rules.rate, "django_wsviews.E017"),
    Setting(
        "WSVIEWS_MAX_CONNECTIONS_PER_USER",
        None,
        rules.positive_int(
            "Set it to a number of connections, or None for no limit.", none=True
        ),
        "django_wsviews.E018",
    ),
    Setting(
        "WSVIEWS_IDLE_TIMEOUT",
        None,
        rules.number("Set it in seconds, e.g. 300, or None for no timeout.", none=True),
        "django_wsviews.E019",
    ),
    Setting(
        "WSVIEWS_SEND_QUEUE_SIZE",
        100,
        rules.positive_int(
            "Set it to the number of group messages a connection may have "
            "waiting, e.g. 100."
        ),
        "django_wsviews.E020",
    ),
    Setting(
        "WSVIEWS_SEND_QUEUE_OVERFLOW",
        "close",
        rules.choice(OVERFLOW_POLICIES),
        "django_wsviews.E021",
    ),
    Setting(
        "WSVIEWS_MAX_GROUPS_PER_CONNECTION",
        100,
        rules.positive_int(
            "Set it to a number of groups, or None for no limit.", none=True
        ),
        "django_wsviews.E022",
    ),
    Setting(
        "WSVIEWS_SESSION_RECHECK_INTERVAL",
        None,
        rules.number(
            "Set it in seconds (0 for before every message), or None never to "
            "re-read sessions.",
            zero=True,
            none=True,
        ),
        "django_wsviews.E023",
    ),
    Setting(
        "WSVIEWS_PRESENCE_TIMEOUT",
        30.0,
        rules.number(
            "Set it to the seconds within which a dead process's presence is "
            "removed, e.g. 30."
        ),
        "django_wsviews.E024",
    ),
    Setting("WSVIEWS_HISTORY", {}, rules.history, "django_wsviews.E025"),
    Setting("WSVIEWS_BACKEND", MEMORY_BACKEND, rules.backend, "django_wsviews.E030"),
)


# The accessors ------------------------------------------------------------------


class Settings:
    """
    Accessors for the ``WSVIEWS_*`` settings with their defaults.

    Each raises :class:`InvalidSetting` (an ``ImproperlyConfigured``) naming
    the fix when the project's value breaks the setting's rule.
    """

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            value = self._values[name] = SETTINGS[name].value()
            return value

    def clear(self) -> None:
        """Forget the values read so far."""
        self._values.clear()

    @property
    def ROOT_URLCONF(self) -> str:
        """
        Django's ``ROOT_URLCONF``, read anew each time.

        Not remembered: pytest-django's ``urls`` marker assigns it without
        sending ``setting_changed``.
        """
        return str(django_settings.ROOT_URLCONF)

    @property
    def WSVIEWS_SHUTDOWN_TIMEOUT(self) -> float:
        """Seconds lifespan shutdown waits for open connections to finish (10)."""
        return float(self._get("WSVIEWS_SHUTDOWN_TIMEOUT"))

    @property
    def WSVIEWS_MIDDLEWARE(self) -> list[str]:
        """Dotted paths of the middleware a handshake runs (``MIDDLEWARE`` by default)."""
        middleware = self._get("WSVIEWS_MIDDLEWARE")
        if middleware is None:
            middleware = django_settings.MIDDLEWARE
        return list(middleware)

    @property
    def WSVIEWS_INLINE_MIDDLEWARE(self) -> frozenset[str]:
        """
        Middleware known to do no I/O on a handshake: a chain of only these runs on the event loop.

        By default Django's own middleware whose handshake work is pure (the
        session and user stay lazy); add your own pure middleware to the list.
        """
        paths = self._get("WSVIEWS_INLINE_MIDDLEWARE")
        return DEFAULT_INLINE_MIDDLEWARE if paths is None else frozenset(paths)

    @property
    def WSVIEWS_CHECK_ORIGIN(self) -> bool:
        """Whether a browser handshake's ``Origin`` is checked (on by default)."""
        return bool(self._get("WSVIEWS_CHECK_ORIGIN"))

    @property
    def WSVIEWS_ALLOWED_ORIGINS(self) -> list[str]:
        """Origins allowed besides the site's own and ``CSRF_TRUSTED_ORIGINS``."""
        return list(self._get("WSVIEWS_ALLOWED_ORIGINS"))

    @property
    def WSVIEWS_ALLOW_MISSING_ORIGIN(self) -> bool:
        """Whether a handshake with no ``Origin`` (not from a browser) is allowed."""
        return bool(self._get("WSVIEWS_ALLOW_MISSING_ORIGIN"))

    @property
    def WSVIEWS_MAX_MESSAGE_SIZE(self) -> int | None:
        """The largest message a view accepts, in bytes (1 MiB by default)."""
        size: int | None = self._get("WSVIEWS_MAX_MESSAGE_SIZE")
        return size

    @property
    def WSVIEWS_RATE_LIMIT(self) -> Rate | None:
        """
        The message rate allowed per connection, as ``(messages, seconds)``.

        Written ``"20/s"``, ``"600/min"``, ``"100/10s"`` or as the tuple; no
        limit by default.
        """
        rate: Rate | None = self._get("WSVIEWS_RATE_LIMIT")
        return rate

    @property
    def WSVIEWS_MAX_CONNECTIONS_PER_USER(self) -> int | None:
        """Open connections allowed per authenticated user and process (no limit by default)."""
        limit: int | None = self._get("WSVIEWS_MAX_CONNECTIONS_PER_USER")
        return limit

    @property
    def WSVIEWS_IDLE_TIMEOUT(self) -> float | None:
        """Seconds without a message either way before closing (off by default)."""
        timeout: float | None = self._get("WSVIEWS_IDLE_TIMEOUT")
        return timeout

    @property
    def WSVIEWS_SESSION_RECHECK_INTERVAL(self) -> float | None:
        """Seconds between re-reads of a connection's session (never by default)."""
        interval: float | None = self._get("WSVIEWS_SESSION_RECHECK_INTERVAL")
        return interval

    @property
    def limits(self) -> Limits:
        """The six limit settings as one :class:`~django_wsviews.limits.Limits`."""
        try:
            limits: Limits = self._values["limits"]
        except KeyError:
            limits = self._values["limits"] = Limits(
                max_message_size=self.WSVIEWS_MAX_MESSAGE_SIZE,
                rate=self.WSVIEWS_RATE_LIMIT,
                idle_timeout=self.WSVIEWS_IDLE_TIMEOUT,
                max_connections_per_user=self.WSVIEWS_MAX_CONNECTIONS_PER_USER,
                max_groups_per_connection=self.WSVIEWS_MAX_GROUPS_PER_CONNECTION,
                session_recheck_interval=self.WSVIEWS_SESSION_RECHECK_INTERVAL,
            )
        return limits

    def resolve_limits(self, limits: Limits) -> Limits:
        """
        Return ``limits`` with the settings for each ``None``, and its rate parsed.

        Remembered per ``Limits`` object (a view's class attribute, say)
        until a setting changes: a connection pays a dictionary lookup.
        """
        resolved: dict[int, tuple[Limits, Limits]] = self._values.setdefault(
            "resolved_limits", {}
        )
        entry = resolved.get(id(limits))
        if entry is not None and entry[0] is limits:
            return entry[1]
        result = limits.or_else(self.limits)
        result = dataclasses.replace(result, rate=parse_rate(result.rate))
        if len(resolved) < 1024:  # a project has a few; never grow without bound
            resolved[id(limits)] = (limits, result)
        return result

    @property
    def WSVIEWS_HISTORY(self) -> dict[str, dict[str, Any]]:
        """
        The groups that keep history: name patterns mapped to what to keep.

        ``{"chat.*": {"MAX_MESSAGES": 100, "MAX_AGE": 3600}}``; none by
        default. See :mod:`django_wsviews.history`.
        """
        rules_: dict[str, dict[str, Any]] = self._get("WSVIEWS_HISTORY")
        return rules_

    @property
    def WSVIEWS_PRESENCE_TIMEOUT(self) -> float:
        """
        Seconds within which a process that died without cleaning up leaves presence (30).

        See :doc:`presence`: processes renew their registration every sixth
        of it, and are swept once it lapses (a half).
        """
        return float(self._get("WSVIEWS_PRESENCE_TIMEOUT"))

    @property
    def WSVIEWS_BACKEND(self) -> dict[str, Any]:
        """
        The group backend, as ``{"BACKEND": "dotted.path", "OPTIONS": {...}}``.

        The setting may also be the dotted path alone, as for
        ``EMAIL_BACKEND``. The in-memory backend (one process) by default;
        see :doc:`groups`.
        """
        return dict(self._get("WSVIEWS_BACKEND"))

    @property
    def WSVIEWS_SEND_QUEUE_SIZE(self) -> int:
        """Group messages a connection may have waiting to be sent (100)."""
        return int(self._get("WSVIEWS_SEND_QUEUE_SIZE"))

    @property
    def WSVIEWS_SEND_QUEUE_OVERFLOW(self) -> str:
        """
        What happens when a connection's group queue is full.

        ``"close"`` (the default) closes the connection with 1013 (try again
        later) and logs a warning; ``"drop_oldest"`` and ``"drop_newest"``
        drop a message instead, logging the first drop of each connection.
        """
        return str(self._get("WSVIEWS_SEND_QUEUE_OVERFLOW"))

    @property
    def WSVIEWS_MAX_GROUPS_PER_CONNECTION(self) -> int | None:
        """Groups a connection may be in at once (100 by default); ``None`` for no limit."""
        limit: int | None = self._get("WSVIEWS_MAX_GROUPS_PER_CONNECTION")
        return limit


settings = Settings()


def _setting_changed(**kwargs: Any) -> None:
    settings.clear()


setting_changed.connect(_setting_changed, dispatch_uid="django_wsviews.conf")
