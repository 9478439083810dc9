"""Unit tests of django_wsviews.checks: the system checks of settings and WebSocket routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from django.core.checks import Error, Warning, run_checks
from django.test import override_settings

from django_wsviews import conf
from django_wsviews.backends import number_option
from django_wsviews.backends.memory import MemoryBackend
from django_wsviews.checks import (
    check_http_urlpatterns,
    check_runserver,
    check_settings,
    check_ws_urlpatterns,
)

from .support import urls_checks_e001, urls_checks_e002, urls_checks_e003
from .test_conf import BAD_VALUES


def wsviews_errors(messages: list) -> list:
    """Return the messages of django-wsviews' own checks."""
    return [m for m in messages if m.id.startswith("django_wsviews.")]


@override_settings(ROOT_URLCONF="tests.support.urls_checks_clean")
def test_clean_urlconf_has_no_errors() -> None:
    """WebSocket views only in ws_urlpatterns, HTTP views only in urlpatterns: no errors."""
    assert check_ws_urlpatterns() == []
    assert check_http_urlpatterns() == []
    assert wsviews_errors(run_checks(tags=["urls"])) == []


def test_tests_urls_ws_urlpatterns_are_clean() -> None:
    """Every route in tests.support.urls' ws_urlpatterns (includes too) is a WebSocket view's as_view()."""
    assert check_ws_urlpatterns() == []


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e001")
def test_e001_for_view_class_without_as_view() -> None:
    """A WebSocketView class in ws_urlpatterns, at top level or included, gives E001."""
    errors = check_ws_urlpatterns()
    assert [e.id for e in errors] == ["django_wsviews.E001", "django_wsviews.E001"]
    assert all(isinstance(e, Error) for e in errors)
    assert [e.obj for e in errors] == [
        urls_checks_e001.ws_urlpatterns[1],
        urls_checks_e001.nested_patterns[0],
    ]
    assert all(e.hint for e in errors)


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e001")
def test_e001_is_registered_under_urls_tag() -> None:
    """run_checks(tags=["urls"]) runs the WebSocket checks (registered by the app)."""
    ids = [m.id for m in wsviews_errors(run_checks(tags=["urls"]))]
    assert ids == ["django_wsviews.E001", "django_wsviews.E001"]


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e001")
def test_checks_not_run_for_other_tags() -> None:
    """The WebSocket checks are not run for an unrelated tag."""
    assert wsviews_errors(run_checks(tags=["models"])) == []


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e002")
def test_e002_for_non_websocket_callables() -> None:
    """A function, a non-view class or an HTTP view's as_view() in ws_urlpatterns gives E002."""
    errors = check_ws_urlpatterns()
    assert [e.id for e in errors] == ["django_wsviews.E002"] * 3
    assert [e.obj for e in errors] == [
        urls_checks_e002.ws_urlpatterns[1],
        urls_checks_e002.ws_urlpatterns[2],
        urls_checks_e002.nested_patterns[0],
    ]
    assert all(isinstance(e, Error) and e.hint for e in errors)


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e002")
def test_e002_not_reported_by_http_check() -> None:
    """The ws_urlpatterns problems are not the HTTP check's business."""
    assert check_http_urlpatterns() == []


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e003")
def test_e003_for_websocket_view_in_http_urlpatterns() -> None:
    """A WebSocketView's as_view() or class in urlpatterns, top level or included, gives E003."""
    errors = check_http_urlpatterns()
    assert [e.id for e in errors] == ["django_wsviews.E003"] * 3
    assert [e.obj for e in errors] == [
        urls_checks_e003.urlpatterns[1],
        urls_checks_e003.urlpatterns[2],
        urls_checks_e003.nested_patterns[0],
    ]
    assert all(isinstance(e, Error) and e.hint for e in errors)


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e003")
def test_e003_via_run_checks_and_ws_side_clean() -> None:
    """run_checks() reports only E003 here: its ws_urlpatterns are clean."""
    assert check_ws_urlpatterns() == []
    ids = [m.id for m in wsviews_errors(run_checks(tags=["urls"]))]
    assert ids == ["django_wsviews.E003"] * 3


@override_settings(ROOT_URLCONF="tests.support.urls_no_ws")
def test_no_ws_urlpatterns_no_errors() -> None:
    """A URLconf without ws_urlpatterns passes both checks."""
    assert check_ws_urlpatterns() == []
    assert check_http_urlpatterns() == []


@override_settings(ROOT_URLCONF=None)
def test_no_root_urlconf_no_errors() -> None:
    """Without ROOT_URLCONF the checks report nothing and do not fail."""
    assert check_ws_urlpatterns() == []
    assert check_http_urlpatterns() == []


# Settings -------------------------------------------------------------------------


class StrictBackend(MemoryBackend):
    """The in-memory backend with one option, a number of seconds it checks."""

    option_names = frozenset({"TIMEOUT"})

    def __init__(
        self, options: Mapping[str, Any], on_message: Callable[[bytes], None]
    ) -> None:
        super().__init__(options, on_message)
        self.timeout = number_option(options, "TIMEOUT", 1.0)


def ids(messages: list) -> list[str]:
    """Return the ids of ``messages``."""
    return [m.id for m in messages]


def test_test_settings_pass() -> None:
    """The test suite's settings (defaults for every WSVIEWS_* setting) pass."""
    assert check_settings() == []


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_each_bad_setting_has_its_own_error(settings: Any, name: str) -> None:
    """A value that breaks a setting's rule is an Error with that setting's id and a hint."""
    setattr(settings, name, BAD_VALUES[name])
    errors = check_settings()
    assert ids(errors) == [conf.SETTINGS[name].check_id]
    assert isinstance(errors[0], Error)
    assert name in errors[0].msg
    assert errors[0].hint


def test_bad_rate_limit_fails_manage_py_check(settings: Any) -> None:
    """The settings check is registered: run_checks() reports a bad WSVIEWS_RATE_LIMIT."""
    settings.WSVIEWS_RATE_LIMIT = "20 per second"
    assert "django_wsviews.E017" in ids(run_checks())


def test_backend_string_form_passes(settings: Any) -> None:
    """WSVIEWS_BACKEND as a dotted path alone is a valid setting."""
    settings.WSVIEWS_BACKEND = "tests.test_checks.StrictBackend"
    assert check_settings() == []


@pytest.mark.parametrize(
    "backend",
    [
        "no.such.Backend",
        "django_wsviews.views.WebSocketView",
        {"BACKEND": "tests.test_checks.StrictBackend", "OPTIONS": {"TIMEOUTS": 2}},
    ],
)
def test_e031_backend_cannot_be_loaded(settings: Any, backend: Any) -> None:
    """A path that does not import, a class that is not a backend, an unknown option: E031."""
    settings.WSVIEWS_BACKEND = backend
    assert ids(check_settings()) == ["django_wsviews.E031"]


def test_e031_names_the_options_the_backend_accepts(settings: Any) -> None:
    """An unknown OPTIONS key's error lists the keys the backend declares."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "tests.test_checks.StrictBackend",
        "OPTIONS": {"TIMEOUTS": 2},
    }
    [error] = check_settings()
    assert "TIMEOUT" in error.msg.split("accepts:")[1]


@pytest.mark.parametrize(
    "backend",
    [
        {"BACKEND": "tests.test_checks.StrictBackend", "OPTIONS": {"TIMEOUT": -1}},
        {
            "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
            "OPTIONS": {"DATABASE": "default"},  # sqlite
        },
    ],
)
def test_e032_backend_refuses_an_option_value(settings: Any, backend: Any) -> None:
    """An option value the backend cannot use is E032, found without contacting a server."""
    settings.WSVIEWS_BACKEND = backend
    assert ids(check_settings()) == ["django_wsviews.E032"]


NATS = {
    "BACKEND": "django_wsviews.backends.nats.NatsBackend",
    "OPTIONS": {"SERVERS": ["nats://127.0.0.1:4222"]},
}


def test_e033_history_on_a_backend_without_a_history_store(settings: Any) -> None:
    """WSVIEWS_HISTORY on a backend that keeps no history is E033, naming the backends that do."""
    pytest.importorskip("nats")
    settings.WSVIEWS_BACKEND = NATS
    settings.WSVIEWS_HISTORY = {"chat.*": {"MAX_MESSAGES": 50}}
    [error] = check_settings()
    assert error.id == "django_wsviews.E033"
    assert error.msg == (
        "WSVIEWS_HISTORY keeps history, but the group backend NatsBackend has "
        "no history store: use the in-memory, Redis or PostgreSQL backend, or "
        "remove WSVIEWS_HISTORY."
    )


def test_no_e033_without_history_or_with_a_store(settings: Any) -> None:
    """The same backend without WSVIEWS_HISTORY, or history on a backend with a store, passes."""
    pytest.importorskip("nats")
    settings.WSVIEWS_BACKEND = NATS
    assert check_settings() == []
    settings.WSVIEWS_BACKEND = "django_wsviews.backends.memory.MemoryBackend"
    settings.WSVIEWS_HISTORY = {"chat.*": {"MAX_MESSAGES": 50}}
    assert check_settings() == []


def test_invalid_history_is_e025_alone(settings: Any) -> None:
    """An invalid WSVIEWS_HISTORY is reported once, as E025, not again as E033."""
    settings.WSVIEWS_HISTORY = {"chat.*": {"MAX_MESSAGES": 0}}
    assert ids(check_settings()) == ["django_wsviews.E025"]


def test_malformed_backend_is_not_loaded(settings: Any) -> None:
    """A malformed WSVIEWS_BACKEND is E030 alone: the backend is not loaded too."""
    settings.WSVIEWS_BACKEND = {"OPTIONS": {}}
    assert ids(check_settings()) == ["django_wsviews.E030"]


def test_w001_unknown_setting_names_the_closest(settings: Any) -> None:
    """A mistyped WSVIEWS_* name is a Warning whose hint names the real setting."""
    settings.WSVIEWS_BACKENDS = {"BACKEND": "x"}
    [warning] = check_settings()
    assert isinstance(warning, Warning)
    assert warning.id == "django_wsviews.W001"
    assert "WSVIEWS_BACKENDS" in warning.msg
    assert "WSVIEWS_BACKEND?" in warning.hint


def test_w001_without_a_close_name_lists_the_settings(settings: Any) -> None:
    """A WSVIEWS_* name like no setting gets the list of settings as its hint."""
    settings.WSVIEWS_XYZZY = 1
    [warning] = check_settings()
    assert warning.id == "django_wsviews.W001"
    assert "WSVIEWS_RATE_LIMIT" in warning.hint


# The development server ---------------------------------------------------------

_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "tests"]


@override_settings(
    INSTALLED_APPS=[*_APPS, "django.contrib.staticfiles", "django_wsviews"]
)
def test_w002_when_staticfiles_is_listed_above() -> None:
    """staticfiles above django_wsviews makes runserver staticfiles' own: W002, naming the order."""
    [warning] = check_runserver()
    assert isinstance(warning, Warning)
    assert warning.id == "django_wsviews.W002"
    assert "'django_wsviews' above 'django.contrib.staticfiles'" in warning.hint
    assert "django_wsviews.W002" in ids(run_checks())


@override_settings(
    INSTALLED_APPS=[*_APPS, "django_wsviews", "django.contrib.staticfiles"]
)
def test_no_w002_when_django_wsviews_is_listed_above() -> None:
    """django_wsviews above staticfiles: runserver is django-wsviews' own, no warning."""
    assert check_runserver() == []
    assert "django_wsviews.W002" not in ids(run_checks())


@override_settings(INSTALLED_APPS=[*_APPS, "django_wsviews"])
def test_no_w002_without_staticfiles() -> None:
    """Without staticfiles (no other runserver), runserver is django-wsviews' own."""
    assert check_runserver() == []
