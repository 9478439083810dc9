"""Unit tests of django_wsviews.checks: the system checks of WebSocket routes."""

from __future__ import annotations

from django.core.checks import Error, run_checks
from django.test import override_settings

from django_wsviews.checks import check_http_urlpatterns, check_ws_urlpatterns

from . import urls_checks_e001, urls_checks_e002, urls_checks_e003


def wsviews_errors(messages: list) -> list:
    """Return the messages of django-wsviews' own checks."""
    return [m for m in messages if m.id.startswith("django_wsviews.")]


@override_settings(ROOT_URLCONF="tests.urls_checks_clean")
def test_clean_urlconf_has_no_errors() -> None:
    """WebSocket views only in ws_urlpatterns, HTTP views only in urlpatterns: no errors."""
    assert check_ws_urlpatterns() == []
    assert check_http_urlpatterns() == []
    assert wsviews_errors(run_checks(tags=["urls"])) == []


def test_tests_urls_ws_urlpatterns_are_clean() -> None:
    """Every route in tests.urls' ws_urlpatterns (includes too) is a WebSocket view's as_view()."""
    assert check_ws_urlpatterns() == []


@override_settings(ROOT_URLCONF="tests.urls_checks_e001")
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


@override_settings(ROOT_URLCONF="tests.urls_checks_e001")
def test_e001_is_registered_under_urls_tag() -> None:
    """run_checks(tags=["urls"]) runs the WebSocket checks (registered by the app)."""
    ids = [m.id for m in wsviews_errors(run_checks(tags=["urls"]))]
    assert ids == ["django_wsviews.E001", "django_wsviews.E001"]


@override_settings(ROOT_URLCONF="tests.urls_checks_e001")
def test_checks_not_run_for_other_tags() -> None:
    """The WebSocket checks are not run for an unrelated tag."""
    assert wsviews_errors(run_checks(tags=["models"])) == []


@override_settings(ROOT_URLCONF="tests.urls_checks_e002")
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


@override_settings(ROOT_URLCONF="tests.urls_checks_e002")
def test_e002_not_reported_by_http_check() -> None:
    """The ws_urlpatterns problems are not the HTTP check's business."""
    assert check_http_urlpatterns() == []


@override_settings(ROOT_URLCONF="tests.urls_checks_e003")
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


@override_settings(ROOT_URLCONF="tests.urls_checks_e003")
def test_e003_via_run_checks_and_ws_side_clean() -> None:
    """run_checks() reports only E003 here: its ws_urlpatterns are clean."""
    assert check_ws_urlpatterns() == []
    ids = [m.id for m in wsviews_errors(run_checks(tags=["urls"]))]
    assert ids == ["django_wsviews.E003"] * 3


@override_settings(ROOT_URLCONF="tests.urls_no_ws")
def test_no_ws_urlpatterns_no_errors() -> None:
    """A URLconf without ws_urlpatterns passes both checks."""
    assert check_ws_urlpatterns() == []
    assert check_http_urlpatterns() == []


@override_settings(ROOT_URLCONF=None)
def test_no_root_urlconf_no_errors() -> None:
    """Without ROOT_URLCONF the checks report nothing and do not fail."""
    assert check_ws_urlpatterns() == []
    assert check_http_urlpatterns() == []
