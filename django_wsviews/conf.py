"""
The settings django-wsviews reads, each looked up lazily on access.

Reading through one object (``conf.settings.X``) rather than copying values at
import time keeps ``override_settings`` working in tests. Values read are
remembered (handshakes read several, and Django's settings object is slow to
ask) and forgotten whenever a setting changes (``setting_changed``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = ["OVERFLOW_POLICIES", "settings"]

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


class Settings:
    """Accessors for the ``WSVIEWS_*`` settings with their defaults."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def _get(self, name: str, default: Any) -> Any:
        try:
            return self._values[name]
        except KeyError:
            value = self._values[name] = getattr(django_settings, name, default)
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
        """Seconds lifespan shutdown waits for open connections to finish."""
        return float(self._get("WSVIEWS_SHUTDOWN_TIMEOUT", 10.0))

    @property
    def WSVIEWS_MIDDLEWARE(self) -> list[str]:
        """Dotted paths of the middleware a handshake runs (``MIDDLEWARE`` by default)."""
        middleware = self._get("WSVIEWS_MIDDLEWARE", None)
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
        paths = self._get("WSVIEWS_INLINE_MIDDLEWARE", None)
        return DEFAULT_INLINE_MIDDLEWARE if paths is None else frozenset(paths)

    @property
    def WSVIEWS_CHECK_ORIGIN(self) -> bool:
        """Whether a browser handshake's ``Origin`` is checked (on by default)."""
        return bool(self._get("WSVIEWS_CHECK_ORIGIN", True))

    @property
    def WSVIEWS_ALLOWED_ORIGINS(self) -> list[str]:
        """Origins allowed besides the site's own and ``CSRF_TRUSTED_ORIGINS``."""
        return list(self._get("WSVIEWS_ALLOWED_ORIGINS", []))

    @property
    def WSVIEWS_ALLOW_MISSING_ORIGIN(self) -> bool:
        """Whether a handshake with no ``Origin`` (not from a browser) is allowed."""
        return bool(self._get("WSVIEWS_ALLOW_MISSING_ORIGIN", True))

    @property
    def WSVIEWS_MAX_MESSAGE_SIZE(self) -> int | None:
        """The largest message a view accepts, in bytes (1 MiB by default)."""
        size = self._get("WSVIEWS_MAX_MESSAGE_SIZE", 1024 * 1024)
        return None if size is None else int(size)

    @property
    def WSVIEWS_RATE_LIMIT(self) -> Any:
        """The message rate allowed per connection, e.g. ``"20/s"`` (no limit by default)."""
        return self._get("WSVIEWS_RATE_LIMIT", None)

    @property
    def WSVIEWS_MAX_CONNECTIONS_PER_USER(self) -> int | None:
        """Open connections allowed per authenticated user and process (no limit by default)."""
        limit = self._get("WSVIEWS_MAX_CONNECTIONS_PER_USER", None)
        return None if limit is None else int(limit)

    @property
    def WSVIEWS_IDLE_TIMEOUT(self) -> float | None:
        """Seconds without a message either way before closing (off by default)."""
        timeout = self._get("WSVIEWS_IDLE_TIMEOUT", None)
        return None if timeout is None else float(timeout)

    @property
    def WSVIEWS_BACKEND(self) -> dict[str, Any]:
        """
        The group backend: ``{"BACKEND": "dotted.path", "OPTIONS": {...}}``.

        The in-memory backend (one process) by default; see :doc:`groups`.
        """
        return dict(
            self._get(
                "WSVIEWS_BACKEND",
                {"BACKEND": "django_wsviews.backends.memory.MemoryBackend"},
            )
        )

    @property
    def WSVIEWS_SEND_QUEUE_SIZE(self) -> int:
        """Group messages a connection may have waiting to be sent (100)."""
        size = self._get("WSVIEWS_SEND_QUEUE_SIZE", 100)
        if type(size) is not int or size < 1:
            raise ImproperlyConfigured(
                f"WSVIEWS_SEND_QUEUE_SIZE must be a positive integer, not {size!r}: "
                "set it to the number of group messages a connection may have "
                "waiting, e.g. 100."
            )
        return size

    @property
    def WSVIEWS_SEND_QUEUE_OVERFLOW(self) -> str:
        """
        What happens when a connection's group queue is full.

        ``"close"`` (the default) closes the connection with 1013 (try again
        later) and logs a warning; ``"drop_oldest"`` and ``"drop_newest"``
        drop a message instead, logging the first drop of each connection.
        """
        policy = self._get("WSVIEWS_SEND_QUEUE_OVERFLOW", "close")
        if policy not in OVERFLOW_POLICIES:
            raise ImproperlyConfigured(
                f"WSVIEWS_SEND_QUEUE_OVERFLOW is {policy!r}; set it to one of "
                + ", ".join(repr(p) for p in OVERFLOW_POLICIES)
                + "."
            )
        return str(policy)

    @property
    def WSVIEWS_MAX_GROUPS_PER_CONNECTION(self) -> int | None:
        """Groups a connection may be in at once (100); ``None`` for no limit."""
        limit = self._get("WSVIEWS_MAX_GROUPS_PER_CONNECTION", 100)
        return None if limit is None else int(limit)


settings = Settings()


def _setting_changed(**kwargs: Any) -> None:
    settings.clear()


setting_changed.connect(_setting_changed, dispatch_uid="django_wsviews.conf")
