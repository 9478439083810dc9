"""
System checks of django-wsviews' settings and WebSocket routes.

``manage.py check`` runs them (the app registers them in ``ready()``), and so
does lifespan startup (:func:`check_at_startup`), since ASGI servers run no
system checks. The ids are stable:

Routes:

- ``django_wsviews.E001``: a WebSocketView class is routed without ``.as_view()``.
- ``django_wsviews.E002``: something other than a WebSocketView is routed in
  ``ws_urlpatterns``.
- ``django_wsviews.E003``: a WebSocketView is routed in the HTTP ``urlpatterns``.

Settings (each setting's rule is declared once, in :data:`.conf.SETTINGS`):

- ``django_wsviews.E010`` to ``E025``: a ``WSVIEWS_*`` setting has a value
  that cannot work, one id per setting (see ``conf.SETTINGS``).
- ``django_wsviews.E030``: ``WSVIEWS_BACKEND`` is neither a dotted path nor a
  ``{"BACKEND": ..., "OPTIONS": {...}}`` dict.
- ``django_wsviews.E031``: the backend cannot be loaded: its path does not
  import, it is not a ``BaseBackend``, or ``OPTIONS`` has a key it does not
  declare in ``option_names``.
- ``django_wsviews.E032``: the backend refuses its ``OPTIONS`` (a value it
  cannot use, or a driver package that is not installed).
- ``django_wsviews.E033``: ``WSVIEWS_HISTORY`` keeps history, but the backend
  has no history store.
- ``django_wsviews.W001``: a ``WSVIEWS_*`` setting that django-wsviews does
  not know (a typo); the hint names the closest real one.

The development server:

- ``django_wsviews.W002``: ``manage.py runserver`` is another app's command,
  not django-wsviews' (``django.contrib.staticfiles``', which serves no
  WebSockets, when it is listed above ``django_wsviews`` in
  ``INSTALLED_APPS``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver

from . import conf
from .log import get_logger
from .routing import get_ws_resolver
from .views import WebSocketView

__all__ = [
    "check_at_startup",
    "check_backend",
    "check_http_urlpatterns",
    "check_runserver",
    "check_settings",
    "check_ws_urlpatterns",
]

logger = get_logger("django_wsviews.checks")

_PREFIX = "WSVIEWS_"


# Routes -------------------------------------------------------------------------


def _endpoints(
    patterns: Iterable[Any], prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _endpoints(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _is_view_class(callback: Any) -> bool:
    return isinstance(callback, type) and issubclass(callback, WebSocketView)


def _is_ws_view(callback: Any) -> bool:
    view_class = getattr(callback, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, WebSocketView)


def check_ws_urlpatterns(**kwargs: Any) -> list[CheckMessage]:
    """Check that every route in ``ws_urlpatterns`` is a WebSocket view's ``as_view()``."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    errors: list[CheckMessage] = []
    for route, pattern in _endpoints(get_ws_resolver().url_patterns):
        callback = pattern.callback
        if _is_view_class(callback):
            errors.append(
                Error(
                    f"The WebSocket route '{route}' is given the class "
                    f"{callback.__name__}, not a view.",
                    hint=f"Route {callback.__name__}.as_view() instead.",
                    obj=pattern,
                    id="django_wsviews.E001",
                )
            )
        elif not _is_ws_view(callback):
            errors.append(
                Error(
                    f"The WebSocket route '{route}' is given {callback!r}, which "
                    "is not a WebSocketView.",
                    hint=(
                        "Only WebSocketView subclasses' as_view() can serve "
                        "WebSockets; route HTTP views in urlpatterns."
                    ),
                    obj=pattern,
                    id="django_wsviews.E002",
                )
            )
    return errors


def check_http_urlpatterns(**kwargs: Any) -> list[CheckMessage]:
    """Check that no WebSocket view is routed in the HTTP ``urlpatterns``."""
    if not getattr(settings, "ROOT_URLCONF", None):
        return []
    errors: list[CheckMessage] = []
    for route, pattern in _endpoints(get_resolver().url_patterns):
        callback = pattern.callback
        if _is_ws_view(callback) or _is_view_class(callback):
            errors.append(
                Error(
                    f"The HTTP route '{route}' is given the WebSocket view "
                    f"{getattr(callback, 'view_class', callback).__name__}.",
                    hint="Move the route to ws_urlpatterns, beside urlpatterns.",
                    obj=pattern,
                    id="django_wsviews.E003",
                )
            )
    return errors


# Settings -----------------------------------------------------------------------


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    """
    Check every ``WSVIEWS_*`` setting against its rule, then the backend.

    Warn about ``WSVIEWS_*`` names that are not settings (typos).
    """
    messages: list[CheckMessage] = []
    for setting in conf.SETTINGS.values():
        try:
            setting.value()
        except conf.InvalidSetting as exc:
            messages.append(Error(exc.problem, hint=exc.fix, id=setting.check_id))
    if not any(m.id == conf.SETTINGS["WSVIEWS_BACKEND"].check_id for m in messages):
        messages.extend(check_backend())
    messages.extend(_check_unknown_names())
    return messages


def check_backend(**kwargs: Any) -> list[CheckMessage]:
    """
    Check that ``WSVIEWS_BACKEND`` loads, that its backend accepts its ``OPTIONS``, and that it keeps history if ``WSVIEWS_HISTORY`` asks for it.

    The backend is created, not connected: no server is contacted.
    """
    from . import history
    from .backends import get_backend_config

    try:
        config = get_backend_config()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="django_wsviews.E031")]
    try:
        config.create(lambda payload: None)
    except (ImproperlyConfigured, ImportError) as exc:  # they name the fix
        return [Error(str(exc), id="django_wsviews.E032")]
    except Exception as exc:
        return [
            Error(
                f"{config.backend_class.__name__} cannot be created with "
                f"WSVIEWS_BACKEND['OPTIONS']: {exc}",
                hint="Fix the option this error is about.",
                id="django_wsviews.E032",
            )
        ]
    try:
        history.check_store(config.backend_class)
    except conf.InvalidSetting:
        pass  # WSVIEWS_HISTORY itself is wrong: reported under its own id
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="django_wsviews.E033")]
    return []


def _check_unknown_names() -> list[CheckMessage]:
    known = [name.removeprefix(_PREFIX) for name in conf.SETTINGS]
    messages: list[CheckMessage] = []
    for name in dir(settings):
        if not name.startswith(_PREFIX) or name in conf.SETTINGS:
            continue
        close = difflib.get_close_matches(name.removeprefix(_PREFIX), known, n=1)
        hint = (
            f"Did you mean {_PREFIX}{close[0]}?"
            if close
            else "django-wsviews' settings are: " + ", ".join(conf.SETTINGS) + "."
        )
        messages.append(
            Warning(
                f"{name} is not a django-wsviews setting; it has no effect.",
                hint=hint,
                id="django_wsviews.W001",
            )
        )
    return messages


# The development server -------------------------------------------------------


def check_runserver(**kwargs: Any) -> list[CheckMessage]:
    """
    Check that ``manage.py runserver`` is django-wsviews' command.

    Django runs the command of the first app in ``INSTALLED_APPS`` that has
    one: with ``django.contrib.staticfiles`` (or daphne) listed above
    ``django_wsviews``, ``runserver`` is that app's (staticfiles' serves no
    WebSockets). A warning, not an error: production servers do not care
    about the order, and a project may mean it (``SILENCED_SYSTEM_CHECKS``).
    """
    from django.core.management import get_commands

    owner = get_commands().get("runserver")
    if owner in (None, "django.core", "django_wsviews"):
        return []
    return [
        Warning(
            f"manage.py runserver is the command of {owner}, not "
            "django-wsviews' (which serves WebSockets): Django runs the "
            "runserver of the first app in INSTALLED_APPS that has one.",
            hint=f"Put 'django_wsviews' above '{owner}' in INSTALLED_APPS.",
            id="django_wsviews.W002",
        )
    ]


# Lifespan startup ---------------------------------------------------------------


def check_at_startup() -> None:
    """
    Run every django-wsviews check at lifespan startup: ASGI servers run none.

    Log each routing error and every warning, with its hint: a misrouted view
    fails its own route, the others serve. Raise ImproperlyConfigured, listing
    every setting error with its fix, when a setting cannot work: every
    connection would fail. Log an error, naming the fix, when
    ``django_wsviews`` is not in ``INSTALLED_APPS`` (its checks and signal
    receivers are then not registered). Checks in ``SILENCED_SYSTEM_CHECKS``
    are skipped, as by ``manage.py check``.
    """
    if not apps.is_installed("django_wsviews"):
        logger.error(
            "'django_wsviews' is not in INSTALLED_APPS, so manage.py check does "
            "not check its settings and routes, and deleting a user does not "
            "close the user's sockets. Add 'django_wsviews' to INSTALLED_APPS."
        )
    silenced = set(settings.SILENCED_SYSTEM_CHECKS)
    setting_messages = [m for m in check_settings() if m.id not in silenced]
    route_messages = [*check_ws_urlpatterns(), *check_http_urlpatterns()]
    errors = [m for m in setting_messages if m.is_serious()]
    for message in route_messages:
        if message.id not in silenced:
            logger.error("%s", _line(message))
    for message in setting_messages:
        if not message.is_serious():
            logger.warning("%s", _line(message))
    if errors:
        raise ImproperlyConfigured(
            "django-wsviews cannot start:\n" + "\n".join(_line(m) for m in errors)
        )


def _line(message: CheckMessage) -> str:
    """Return ``message`` on one line: its id, what is wrong, then the hint."""
    hint = f" HINT: {message.hint}" if message.hint else ""
    return f"({message.id}) {message.msg}{hint}"
