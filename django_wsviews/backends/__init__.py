"""
Group backends: how a broadcast reaches every process that has members.

A backend moves opaque bytes (see :mod:`django_wsviews.envelope`) between
processes; it knows nothing of views or members. The per-process hub
(:mod:`django_wsviews.hub`) subscribes a group once, whatever its number of
local members, and fans each message out locally.

The backend is named by one setting, loaded lazily and reloaded when the
setting changes (``override_settings`` works)::

    WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": "redis://127.0.0.1:6379/0"},
    }

Failure policy: ``connect()``, ``subscribe()`` and ``unsubscribe()`` never
raise because a server is unreachable; the backend logs it, reconnects with
backoff and re-subscribes on its own. ``publish()`` raises
:class:`~django_wsviews.exceptions.BroadcastError` instead, since the caller
must know that nothing was sent. ``close()`` returns in bounded time, even
when the server stopped answering.

The base classes are defined in ``django_wsviews.backends.base`` and
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .. import conf
from .base import (
    Backoff,
    BaseBackend,
    ListeningBackend,
    MessageCallback,
    StateSignal,
    number_option,
)

__all__ = [
    "BackendConfig",
    "Backoff",
    "BaseBackend",
    "ListeningBackend",
    "MessageCallback",
    "StateSignal",
    "get_backend_config",
    "number_option",
]


@dataclass(frozen=True)
class BackendConfig:
    """The loaded ``WSVIEWS_BACKEND`` setting."""

    backend_class: type[BaseBackend]
    options: Mapping[str, Any]

    def create(self, on_message: MessageCallback) -> BaseBackend:
        """Return a new backend instance that calls ``on_message``."""
        return self.backend_class(self.options, on_message)


_config: BackendConfig | None = None


def get_backend_config() -> BackendConfig:
    """
    Return the backend class and options of ``WSVIEWS_BACKEND``, loaded once.

    Raise ImproperlyConfigured, naming the fix, for a malformed setting (see
    :mod:`django_wsviews.conf`), a path that does not import, a class that
    is not a backend, or an unknown option.
    """
    global _config
    if _config is None:
        _config = _load(conf.settings.WSVIEWS_BACKEND)
    return _config


def _load(setting: Mapping[str, Any]) -> BackendConfig:
    """Load ``setting``, in the shape that ``conf`` has checked and normalized."""
    path: str = setting["BACKEND"]
    options: Mapping[str, Any] = setting["OPTIONS"]
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND['BACKEND'] is {path!r}, which does not import ({exc}). "
            "Fix the dotted path, e.g. 'django_wsviews.backends.redis.RedisBackend'."
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND['BACKEND'] is {path!r}, which is not a subclass of "
            "django_wsviews.backends.BaseBackend."
        )
    unknown = set(options) - backend_class.option_names
    if unknown:
        accepted = ", ".join(sorted(backend_class.option_names)) or "none"
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND['OPTIONS'] has unknown keys {sorted(unknown)} for "
            f"{backend_class.__name__}; it accepts: {accepted}."
        )
    return BackendConfig(backend_class, dict(options))


@receiver(setting_changed)
def _backend_setting_changed(*, setting: str, **kwargs: Any) -> None:
    global _config
    if setting == "WSVIEWS_BACKEND":
        _config = None
