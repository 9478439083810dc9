"""Tests for django_wsviews.handshake: the handshake through Django's middleware."""

from __future__ import annotations

import json
import logging
from importlib import import_module
from typing import Any

import django
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import SynchronousOnlyOperation
from django.test import override_settings

from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient

from .support import middleware, views


def with_middleware(*paths: str) -> override_settings:
    return override_settings(WSVIEWS_MIDDLEWARE=list(paths))


@pytest.mark.django_db(transaction=True)
async def test_force_login_sets_request_user() -> None:
    """A user logged in through the client is request.user, via the session middleware."""
    user = await User.objects.acreate(username="ada")
    client = WebSocketClient()
    await client.aforce_login(user)
    async with client.connect("/ws/user/") as ws:
        assert await ws.receive() == "ada"


@pytest.mark.django_db(transaction=True)
async def test_anonymous_user() -> None:
    """Without a session the user is anonymous."""
    async with WebSocketClient().connect("/ws/user/") as ws:
        assert await ws.receive() == ""


@pytest.mark.skipif(django.VERSION < (5, 0), reason="request.auser() is Django 5.0+")
@pytest.mark.django_db(transaction=True)
async def test_auser_in_async_hooks() -> None:
    """Async hooks load the user lazily with request.auser(), as async views do."""
    user = await User.objects.acreate(username="grace")
    client = WebSocketClient()
    await client.aforce_login(user)
    async with client.connect("/ws/auser/") as ws:
        assert await ws.receive() == "grace"


async def test_middleware_response_refuses_with_its_status() -> None:
    """A middleware that returns a response refuses the handshake with its status."""
    with with_middleware("tests.support.middleware.refuse_teapots"):
        client = WebSocketClient()
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/echo/?teapot=1")
        assert refused.value.status == 418
        assert refused.value.body == b"I'm a teapot"
        async with client.connect("/ws/echo/") as ws:
            await ws.send("fine")
            assert await ws.receive() == "fine"


async def test_middleware_headers_and_cookies_go_out_with_accept() -> None:
    """Headers and cookies middleware add to the handshake response reach the client."""
    with with_middleware("tests.support.middleware.add_header"):
        async with WebSocketClient().connect("/ws/middleware/") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
            names = dict(ws.headers)
    assert info["tagged"] is True
    assert names["X-Handshake"] == "yes"
    assert names["set-cookie"].startswith("refreshed=1")
    assert "Content-Type" not in names


async def test_async_only_middleware_runs() -> None:
    """An async-only middleware is adapted into the chain and runs."""
    with with_middleware(
        "tests.support.middleware.AsyncOnly", "tests.support.middleware.add_header"
    ):
        async with WebSocketClient().connect("/ws/middleware/") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
    assert info == {"tagged": True, "async": True, "session": False}


async def test_process_view_sees_the_view_callable() -> None:
    """process_view() gets the route's callable, args and kwargs, and can refuse."""
    middleware.seen.clear()
    with with_middleware("tests.support.middleware.ViewRecorder"):
        client = WebSocketClient()
        async with client.connect("/ws/info/lobby/3/") as ws:
            await ws.receive()
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/refused-by-middleware/")
    (view, args, kwargs), _ = middleware.seen
    assert view.view_class is views.InfoView
    assert (args, kwargs) == ((), {"room": "lobby", "n": 3})
    assert refused.value.status == 451


async def test_bare_chain_runs_inline() -> None:
    """With no middleware, the handshake needs no worker thread and still works."""
    with with_middleware():
        async with WebSocketClient().connect("/ws/middleware/") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
    assert info == {"tagged": False, "async": False, "session": False}


@pytest.mark.skipif(
    django.VERSION < (5, 1), reason="LoginRequiredMiddleware is Django 5.1+"
)
@pytest.mark.django_db(transaction=True)
async def test_login_required_middleware_applies() -> None:
    """LoginRequiredMiddleware refuses an anonymous handshake with its redirect."""
    stack = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    with override_settings(WSVIEWS_MIDDLEWARE=stack, LOGIN_URL="/login/"):
        client = WebSocketClient()
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/user/")
        assert refused.value.status == 302
        assert dict(refused.value.headers)["Location"] == "/login/?next=/ws/user/"
        await client.aforce_login(await User.objects.acreate(username="lin"))
        async with client.connect("/ws/user/") as ws:
            assert await ws.receive() == "lin"


class TestHosts:
    async def test_disallowed_host_is_refused_400(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A Host outside ALLOWED_HOSTS is refused with 400 and logged as Django does."""
        client = WebSocketClient(host="evil.example")
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/echo/")
        assert refused.value.status == 400
        assert "django.security.DisallowedHost" in {r.name for r in caplog.records}

    async def test_disallowed_host_without_middleware(self) -> None:
        """The Host is checked even when no middleware runs."""
        with with_middleware(), pytest.raises(HandshakeRejected) as refused:
            await WebSocketClient(host="evil.example").connect("/ws/echo/")
        assert refused.value.status == 400


class TestOrigin:
    async def test_same_origin_is_allowed(self) -> None:
        """A browser handshake from the site's own origin is accepted."""
        client = WebSocketClient(headers={"Origin": "http://testserver"})
        async with client.connect("/ws/echo/") as ws:
            await ws.send("x")
            assert await ws.receive() == "x"

    @pytest.mark.parametrize(
        "origin",
        [
            "https://evil.example",
            "http://testserver:8080",
            "https://testserver",
            "null",
        ],
    )
    async def test_foreign_origin_is_refused_403(
        self, origin: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A cross-site handshake is refused with 403 before any view code runs."""
        client = WebSocketClient(headers={"Origin": origin})
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/recording/origin/")
        assert refused.value.status == 403
        assert "origin" not in views.events
        [record] = [r for r in caplog.records if r.name == "django_wsviews.security"]
        assert record.levelno == logging.WARNING
        # The line names the fix, as Django's CSRF failure names its setting.
        message = record.getMessage()
        assert "WSVIEWS_ALLOWED_ORIGINS" in message
        assert "CSRF_TRUSTED_ORIGINS" in message

    async def test_missing_origin_allowed_by_default(self) -> None:
        """A handshake without Origin (not a browser) is allowed by default."""
        async with WebSocketClient().connect("/ws/echo/") as ws:
            await ws.send("x")
            assert await ws.receive() == "x"

    @override_settings(WSVIEWS_ALLOW_MISSING_ORIGIN=False)
    async def test_missing_origin_can_be_refused(self) -> None:
        """WSVIEWS_ALLOW_MISSING_ORIGIN=False refuses handshakes without Origin."""
        with pytest.raises(HandshakeRejected) as refused:
            await WebSocketClient().connect("/ws/echo/")
        assert refused.value.status == 403

    @pytest.mark.parametrize(
        ("setting", "origin"),
        [
            # CSRF_TRUSTED_ORIGINS, wildcards included, are allowed origins.
            (
                {"CSRF_TRUSTED_ORIGINS": ["https://*.example.com"]},
                "https://app.example.com",
            ),
            # WSVIEWS_ALLOWED_ORIGINS allows extra origins for every view.
            (
                {"WSVIEWS_ALLOWED_ORIGINS": ["https://mobile.example"]},
                "https://mobile.example",
            ),
            # WSVIEWS_CHECK_ORIGIN=False turns the check off for the project.
            ({"WSVIEWS_CHECK_ORIGIN": False}, "https://evil.example"),
        ],
    )
    async def test_settings_allow_an_origin(
        self, setting: dict[str, object], origin: str
    ) -> None:
        """A project setting lets in an origin that is refused without it."""
        client = WebSocketClient(headers={"Origin": origin})
        with override_settings(**setting):
            async with client.connect("/ws/echo/") as ws:
                await ws.send("through")
                assert await ws.receive() == "through"
        with pytest.raises(HandshakeRejected):
            await client.connect("/ws/echo/")

    async def test_per_view_settings(self) -> None:
        """check_origin and allowed_origins on a view override the project's."""
        evil = WebSocketClient(headers={"Origin": "https://evil.example"})
        async with evil.connect("/ws/open-origin/") as ws:
            assert ws.close_code is None  # accepted, and open
        partner = WebSocketClient(headers={"Origin": "https://partner.example"})
        async with partner.connect("/ws/partner-origin/") as ws:
            assert ws.close_code is None
        # The same origins, refused by a view that keeps the project's check.
        for client in (evil, partner):
            with pytest.raises(HandshakeRejected):
                await client.connect("/ws/echo/")


# What docs/security.rst promises of common middleware on a handshake ---------


@pytest.mark.skipif(
    django.VERSION < (5, 1), reason="LoginRequiredMiddleware is Django 5.1+"
)
@pytest.mark.django_db(transaction=True)
async def test_login_not_required_lets_an_anonymous_handshake_in(settings: Any) -> None:
    """Under LoginRequiredMiddleware, a view whose dispatch is login_not_required is served."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    stack = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    with override_settings(WSVIEWS_MIDDLEWARE=stack, LOGIN_URL="/login/"):
        client = WebSocketClient()
        async with client.connect("/ws/public/") as ws:
            assert await ws.receive() == ""  # anonymous, and in
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/user/")  # not marked: refused
        assert refused.value.status == 302


@pytest.mark.parametrize(
    ("setting", "location"),
    [
        # SecurityMiddleware: an HTTPS-only site refuses a ws:// handshake.
        ({"SECURE_SSL_REDIRECT": True}, "https://testserver/ws/echo/"),
        # CommonMiddleware: PREPEND_WWW redirects, as for a page.
        ({"PREPEND_WWW": True}, "http://www.testserver/ws/echo/"),
    ],
)
async def test_redirecting_middleware_refuses_with_301(
    setting: dict[str, object], location: str
) -> None:
    """SECURE_SSL_REDIRECT and PREPEND_WWW refuse the handshake with their 301."""
    stack = [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]
    client = WebSocketClient()
    with override_settings(WSVIEWS_MIDDLEWARE=stack, **setting):
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/echo/")
        assert refused.value.status == 301
        assert dict(refused.value.headers)["Location"] == location
    with override_settings(WSVIEWS_MIDDLEWARE=stack):
        async with client.connect("/ws/echo/") as ws:
            await ws.send("served")
            assert await ws.receive() == "served"


@pytest.mark.django_db(transaction=True)
async def test_database_query_in_inline_middleware_is_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A middleware declared inline that queries the database is refused with 500, as Django's guard says."""
    path = "tests.support.promise_middleware.count_users"
    client = WebSocketClient(raise_view_exceptions=False)
    with override_settings(WSVIEWS_MIDDLEWARE=[path], WSVIEWS_INLINE_MIDDLEWARE=[path]):
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/echo/")
        assert refused.value.status == 500
    [error] = [r for r in caplog.records if r.name == "django.request"]
    assert error.exc_info is not None
    assert error.exc_info[0] is SynchronousOnlyOperation
    # Not declared inline, the same middleware runs in a thread, where it may.
    with override_settings(WSVIEWS_MIDDLEWARE=[path]):
        async with client.connect("/ws/echo/") as ws:
            await ws.send("served")
            assert await ws.receive() == "served"


async def test_csrf_and_common_middleware_let_a_handshake_through() -> None:
    """CsrfViewMiddleware needs no token for the GET; APPEND_SLASH redirects no handshake."""
    stack = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]
    client = WebSocketClient(headers={"Origin": "http://testserver"})
    with override_settings(WSVIEWS_MIDDLEWARE=stack, APPEND_SLASH=True):
        async with client.connect("/ws/echo/") as ws:
            await ws.send("no token needed")
            assert await ws.receive() == "no token needed"
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/echo")  # no route: 404, not a 301 to the slash
        assert refused.value.status == 404


@pytest.mark.django_db(transaction=True)
async def test_session_changes_in_hooks_are_not_saved(settings: Any) -> None:
    """A hook that changes request.session without saving it changes nothing stored."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    client = WebSocketClient()
    await client.aforce_login(await User.objects.acreate(username="sid"))
    async with client.connect("/ws/session-writer/") as ws:
        await ws.receive()
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    store = import_module(settings.SESSION_ENGINE).SessionStore(key)
    stored = await sync_to_async(store.load)()
    assert "_auth_user_id" in stored  # the session the handshake used
    assert "touched" not in stored


async def test_locale_middleware_sets_the_handshakes_language(settings: Any) -> None:
    """LocaleMiddleware gives the handshake's request the client's language."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    stack = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
    ]
    with override_settings(
        WSVIEWS_MIDDLEWARE=stack,
        USE_I18N=True,
        LANGUAGES=[("en", "English"), ("fr", "French")],
    ):
        client = WebSocketClient(headers={"Accept-Language": "fr"})
        async with client.connect("/ws/session-writer/") as ws:
            assert await ws.receive() == "fr"
