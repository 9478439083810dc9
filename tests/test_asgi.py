"""Tests for django_wsviews.asgi: the ASGI entry point and lifespan."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings

from django_wsviews import CloseCode
from django_wsviews.asgi import WebSocketMiddleware, get_asgi_application
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient

from .support import views


class Recorder:
    """An inner ASGI app that records the scope objects it is given."""

    def __init__(self) -> None:
        self.scopes: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)


async def test_http_goes_to_the_inner_app_untouched() -> None:
    """An http scope is passed on as the very same object, with the same callables."""
    inner = Recorder()
    app = WebSocketMiddleware(inner)
    scope = {"type": "http", "path": "/"}
    await app(scope, None, None)  # type: ignore[arg-type]
    assert inner.scopes == [scope]
    assert inner.scopes[0] is scope


async def test_unknown_scope_types_go_to_the_inner_app() -> None:
    """Scope types the middleware does not own are the inner app's business."""
    inner = Recorder()
    await WebSocketMiddleware(inner)({"type": "custom"}, None, None)  # type: ignore[arg-type]
    assert inner.scopes == [{"type": "custom"}]


def test_get_asgi_application_wraps_django() -> None:
    """get_asgi_application() returns the middleware around Django's handler."""
    app = get_asgi_application()
    assert isinstance(app, WebSocketMiddleware)
    assert isinstance(app.app, ASGIHandler)


class Lifespan:
    """Drive the lifespan protocol by hand."""

    def __init__(self, app: WebSocketMiddleware) -> None:
        self.app = app
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.ensure_future(
            app({"type": "lifespan"}, self.to_app.get, self.from_app.put)  # type: ignore[arg-type]
        )

    async def event(self, kind: str) -> dict[str, Any]:
        await self.to_app.put({"type": f"lifespan.{kind}"})
        return await asyncio.wait_for(self.from_app.get(), 5)


async def test_lifespan_startup_and_shutdown_complete() -> None:
    """Lifespan startup and shutdown are answered, then the lifespan task ends."""
    lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
    assert await lifespan.event("startup") == {"type": "lifespan.startup.complete"}
    assert await lifespan.event("shutdown") == {"type": "lifespan.shutdown.complete"}
    await asyncio.wait_for(lifespan.task, 5)


async def test_shutdown_closes_open_sockets_with_1012() -> None:
    """On lifespan shutdown each open socket is closed with 1012 (service restart: clients reconnect) and disconnect() runs."""
    app = WebSocketMiddleware(ASGIHandler())
    client = WebSocketClient(app)
    lifespan = Lifespan(app)
    await lifespan.event("startup")
    first = await client.connect("/ws/recording/one/")
    second = await client.connect("/ws/recording/two/")
    shutdown = asyncio.ensure_future(lifespan.event("shutdown"))
    assert await first.wait_closed() == CloseCode.SERVICE_RESTART
    assert await second.wait_closed() == CloseCode.SERVICE_RESTART
    assert await asyncio.wait_for(shutdown, 5) == {"type": "lifespan.shutdown.complete"}
    assert views.events["one"][-1] == ("disconnect", CloseCode.SERVICE_RESTART)
    assert views.events["two"][-1] == ("disconnect", CloseCode.SERVICE_RESTART)


@override_settings(WSVIEWS_SHUTDOWN_TIMEOUT=0.01)
async def test_shutdown_cancels_connections_that_do_not_finish() -> None:
    """A connection stuck in a hook is cancelled at shutdown; disconnect() still runs once."""
    app = WebSocketMiddleware(ASGIHandler())
    client = WebSocketClient(app)
    lifespan = Lifespan(app)
    await lifespan.event("startup")
    ws = await client.connect("/ws/recording/stuck/")
    await ws.send("wait")
    # The view is stuck in receive(); closing it cannot end the connection
    # until the shutdown timeout cancels it.
    assert await lifespan.event("shutdown") == {"type": "lifespan.shutdown.complete"}
    assert views.events["stuck"][-1] == ("disconnect", CloseCode.SERVICE_RESTART)
    assert [e for e in views.events["stuck"] if e[0] == "disconnect"] == [
        ("disconnect", CloseCode.SERVICE_RESTART)
    ]


@override_settings(WSVIEWS_SHUTDOWN_TIMEOUT=0.05)
async def test_shutdown_ends_when_the_server_never_completes_a_close() -> None:
    """A server whose send of the 1012 close never returns (granian, racing its own shutdown) cannot hold the shutdown past the timeout."""
    app = WebSocketMiddleware(ASGIHandler())
    lifespan = Lifespan(app)
    await lifespan.event("startup")
    opened = asyncio.Event()
    never = asyncio.Event()  # the server's answer to the close, never given
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        if not sent:
            return {"type": "websocket.connect"}
        await never.wait()
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "websocket.accept":
            opened.set()
        elif message["type"] == "websocket.close":
            await never.wait()

    scope = {
        "type": "websocket",
        "path": "/ws/recording/hung/",
        "headers": [(b"host", b"testserver")],
        "query_string": b"",
        "subprotocols": [],
        "asgi": {"version": "3.0"},
        "extensions": {"websocket.http.response": {}},
    }
    connection = asyncio.ensure_future(app(scope, receive, send))  # type: ignore[arg-type]
    await asyncio.wait_for(opened.wait(), 5)
    assert await lifespan.event("shutdown") == {"type": "lifespan.shutdown.complete"}
    assert sent == ["websocket.accept", "websocket.close"]
    # The connection, its close still hanging, was cancelled by the timeout.
    await asyncio.wait({connection}, timeout=5)
    assert connection.cancelled()


class TestRouting:
    async def test_unknown_path_is_refused_404(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An unmatched path is refused with 404 and one log line, no traceback."""
        with caplog.at_level(logging.INFO), pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/nowhere/")
        assert refused.value.status == 404
        assert [r.getMessage() for r in caplog.records] == ["Not Found: /ws/nowhere/"]
        assert not any(r.exc_info for r in caplog.records)

    async def test_unknown_path_without_denial_extension(self) -> None:
        """Without the denial extension an unmatched path is closed before accept (403)."""
        with pytest.raises(HandshakeRejected) as refused:
            await WebSocketClient(extensions={}).connect("/ws/nowhere/")
        assert refused.value.status == 403

    async def test_url_arguments_reach_the_view(
        self, client_ws: WebSocketClient
    ) -> None:
        """Converters' values arrive in self.kwargs; unnamed groups in self.args."""
        async with client_ws.connect("/ws/info/lobby/7/") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
        assert info["kwargs"] == {"room": "lobby", "n": "7"}
        async with client_ws.connect("/ws/unnamed/abc/") as ws:
            assert json.loads(await ws.receive())["args"] == ["abc"]  # type: ignore[arg-type]

    async def test_percent_encoded_unicode_path(
        self, client_ws: WebSocketClient
    ) -> None:
        """A percent-encoded UTF-8 path resolves to the unicode route."""
        async with client_ws.connect("/ws/%C3%BCn%C3%AF/caf%C3%A9/") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
        assert info["kwargs"] == {"word": "café"}

    async def test_include_reads_ws_urlpatterns(
        self, client_ws: WebSocketClient
    ) -> None:
        """include('module') inside ws_urlpatterns serves that module's ws_urlpatterns."""
        async with client_ws.connect("/ws/included/echo/") as ws:
            await ws.send("inc")
            assert await ws.receive() == "inc"
        with pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/included/http-only/")
        assert refused.value.status == 404

    @override_settings(ROOT_URLCONF="tests.support.urls_bad")
    async def test_non_view_in_ws_urlpatterns_is_refused_500(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A callable that is not a WebSocketView refuses with 500 and an error naming it."""
        with pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/function/")
        assert refused.value.status == 500
        assert "is not a WebSocketView" in caplog.text

    async def test_script_prefix_from_root_path(self) -> None:
        """root_path sets SCRIPT_NAME and is stripped from path_info, as for HTTP."""
        app = WebSocketMiddleware(ASGIHandler())
        client = WebSocketClient(app)
        connecting = client.connect("/prefix/ws/info/x/1/")
        connecting.connection.scope["root_path"] = "/prefix"
        async with connecting as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
        assert (info["script_name"], info["path_info"]) == ("/prefix", "/ws/info/x/1/")

    async def test_malformed_query_string(self, client_ws: WebSocketClient) -> None:
        """A malformed query string is parsed leniently, as Django does for HTTP."""
        async with client_ws.connect("/ws/info/q/1/?%zz=1&&=&a=%ff&a=2") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
        assert info["GET"]["a"] == ["\ufffd", "2"]


class TestRequest:
    async def test_request_has_what_views_expect(
        self, client_ws: WebSocketClient
    ) -> None:
        """The request carries headers, cookies, GET, host and absolute URLs."""
        client_ws.cookies["flavour"] = "oat"
        async with client_ws.connect(
            "/ws/info/r/2/?q=1&q=2", headers={"User-Agent": "tests/1.0"}
        ) as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
        assert info["GET"] == {"q": ["1", "2"]}
        assert info["cookies"]["flavour"] == "oat"
        assert info["user_agent"] == "tests/1.0"
        assert info["host"] == "testserver"
        assert info["method"] == "GET"
        assert (info["secure"], info["absolute"]) == (False, "http://testserver/x/")

    async def test_wss_is_secure(self) -> None:
        """A wss handshake is_secure() and builds https URLs."""
        async with WebSocketClient(scheme="wss").connect("/ws/info/s/3/") as ws:
            info = json.loads(await ws.receive())  # type: ignore[arg-type]
        assert (info["secure"], info["absolute"]) == (True, "https://testserver/x/")


class TestLifespanChecks:
    """Lifespan startup runs the system checks, since ASGI servers run none."""

    async def test_bad_setting_fails_startup_with_the_fix(
        self, settings: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A setting that would fail every connection fails startup, its id and fix in the message."""
        settings.WSVIEWS_RATE_LIMIT = "20 per second"
        lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
        with caplog.at_level(logging.ERROR, "django_wsviews"):
            sent = await lifespan.event("startup")
            await asyncio.wait_for(lifespan.task, 5)
        assert sent["type"] == "lifespan.startup.failed"
        assert "django_wsviews.E017" in sent["message"]
        assert "'N/s'" in sent["message"]
        assert "django_wsviews.E017" in caplog.text

    async def test_history_without_a_store_fails_startup(self, settings: Any) -> None:
        """WSVIEWS_HISTORY on a backend that keeps no history fails startup (E033), not the first broadcast."""
        pytest.importorskip("nats")
        settings.WSVIEWS_BACKEND = {
            "BACKEND": "django_wsviews.backends.nats.NatsBackend",
            "OPTIONS": {"SERVERS": ["nats://127.0.0.1:4222"]},
        }
        settings.WSVIEWS_HISTORY = {"chat.*": {"MAX_MESSAGES": 50}}
        lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
        sent = await lifespan.event("startup")
        await asyncio.wait_for(lifespan.task, 5)
        assert sent["type"] == "lifespan.startup.failed"
        assert "(django_wsviews.E033)" in sent["message"]
        assert "has no history store" in sent["message"]

    async def test_backend_as_a_dotted_path_starts(self, settings: Any) -> None:
        """WSVIEWS_BACKEND = "dotted.path" is a backend without options: startup completes."""
        settings.WSVIEWS_BACKEND = "django_wsviews.backends.memory.MemoryBackend"
        lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
        assert await lifespan.event("startup") == {"type": "lifespan.startup.complete"}
        assert await lifespan.event("shutdown") == {
            "type": "lifespan.shutdown.complete"
        }

    async def test_routing_errors_are_logged_with_hints(
        self, settings: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A WebSocket view in urlpatterns is logged at startup (E003 and its hint); startup completes."""
        settings.ROOT_URLCONF = "tests.support.urls_checks_e003"
        lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
        with caplog.at_level(logging.WARNING, "django_wsviews.checks"):
            assert await lifespan.event("startup") == {
                "type": "lifespan.startup.complete"
            }
        await lifespan.event("shutdown")
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 3
        assert all("django_wsviews.E003" in e and "ws_urlpatterns" in e for e in errors)

    async def test_warnings_logged_and_silenced_checks_skipped(
        self, settings: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A mistyped setting is a logged warning; SILENCED_SYSTEM_CHECKS holds at startup."""
        settings.ROOT_URLCONF = "tests.support.urls_checks_e003"
        settings.SILENCED_SYSTEM_CHECKS = ["django_wsviews.E003"]
        settings.WSVIEWS_RATE_LIMITS = "20/s"
        lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
        with caplog.at_level(logging.WARNING, "django_wsviews.checks"):
            assert await lifespan.event("startup") == {
                "type": "lifespan.startup.complete"
            }
        await lifespan.event("shutdown")
        [record] = caplog.records
        assert record.levelno == logging.WARNING
        assert "django_wsviews.W001" in record.getMessage()
        assert "WSVIEWS_RATE_LIMIT?" in record.getMessage()

    async def test_not_installed_is_logged(
        self, settings: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Without django_wsviews in INSTALLED_APPS, startup logs an error naming the fix."""
        settings.INSTALLED_APPS = [
            app for app in settings.INSTALLED_APPS if app != "django_wsviews"
        ]
        lifespan = Lifespan(WebSocketMiddleware(ASGIHandler()))
        with caplog.at_level(logging.ERROR, "django_wsviews"):
            assert await lifespan.event("startup") == {
                "type": "lifespan.startup.complete"
            }
        await lifespan.event("shutdown")
        assert "Add 'django_wsviews' to INSTALLED_APPS" in caplog.text
