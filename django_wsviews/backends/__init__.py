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
must know that nothing was sent.
"""

from __future__ import annotations

import abc
import asyncio
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .. import conf

__all__ = [
    "BackendConfig",
    "Backoff",
    "BaseBackend",
    "StateSignal",
    "get_backend_config",
]

MessageCallback = Callable[[bytes], None]


class BaseBackend(abc.ABC):
    """
    The interface of a group backend.

    ``options`` is the setting's ``OPTIONS``; ``on_message`` is called, on
    the event loop, with the bytes of every message published to a group
    this backend is subscribed to, in the order they were published by each
    sender. A backend instance belongs to one event loop.
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
        """Stop listening and release every connection; called once, at the end."""

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


@dataclass(frozen=True)
class BackendConfig:
    """The loaded ``WSVIEWS_BACKEND`` setting."""

    backend_class: type[BaseBackend]
    options: Mapping[str, Any]

    def create(self, on_message: MessageCallback) -> BaseBackend:
        """Return a new backend instance that calls ``on_message``."""
        return self.backend_class(self.options, on_message)


_config: BackendConfig | None = None

_EXAMPLE = (
    '{"BACKEND": "django_wsviews.backends.redis.RedisBackend", '
    '"OPTIONS": {"URL": "redis://127.0.0.1:6379/0"}}'
)


def get_backend_config() -> BackendConfig:
    """
    Return the backend class and options of ``WSVIEWS_BACKEND``, loaded once.

    Raise ImproperlyConfigured, naming the fix, for a malformed setting, a
    path that does not import, a class that is not a backend, or an
    unknown option.
    """
    global _config
    if _config is None:
        _config = _load(conf.settings.WSVIEWS_BACKEND)
    return _config


def _load(setting: Mapping[str, Any]) -> BackendConfig:
    path = setting.get("BACKEND")
    if not isinstance(path, str):
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND needs a 'BACKEND' dotted path, like {_EXAMPLE}."
        )
    unknown = set(setting) - {"BACKEND", "OPTIONS"}
    if unknown:
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND has unknown keys {sorted(unknown)}; it takes "
            "'BACKEND' and 'OPTIONS' only."
        )
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
    options = setting.get("OPTIONS")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(
            f"WSVIEWS_BACKEND['OPTIONS'] must be a dict, not {type(options).__name__}."
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
