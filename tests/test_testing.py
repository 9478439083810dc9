"""Unit tests of django_wsviews.testing: the in-process WebSocket test client itself."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings
from django.urls import NoReverseMatch, include
from django.urls import path as route

from django_wsviews import CloseCode, GroupMessage, WebSocketView, abroadcast
from django_wsviews.exceptions import (
    ConnectionClosed,
    HandshakeRejected,
    HandshakeTimeout,
    WebSocketError,
)
from django_wsviews.testing import Closed, WebSocketClient, WebSocketTestConnection

from .support import extra_views

with_testing_urls = override_settings(ROOT_URLCONF="tests.support.urls_testing")

#: Generous bound for "returns quickly": far below the client's 5 s default.
QUICK = 2.0


async def reap(connection: WebSocketTestConnection) -> None:
    """
    Cancel and await the application task a timed-out connection leaves behind.

    The client cancels it after a handshake timeout; after a receive timeout
    the application keeps running, and left alone,
    the task's coroutine is closed by the garbage collector during some later
    test, where asgiref raises an unraisable ValueError that -W error turns
    into that test's failure.
    """
    task = connection._task
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task}, timeout=QUICK)
    assert task.done()


@pytest.fixture(autouse=True)
def _clear_notes() -> Iterator[None]:
    extra_views.notes.clear()
    extra_views.signals.clear()
    yield
    extra_views.notes.clear()
    extra_views.signals.clear()


# Messages -------------------------------------------------------------------------


async def test_text_and_bytes_round_trip() -> None:
    """Text frames come back as str and binary frames as bytes."""
    async with WebSocketClient().connect("/ws/echo/") as ws:
        await ws.send("héllo")
        assert await ws.receive() == "héllo"
        await ws.send(b"\x00\xff")
        assert await ws.receive() == b"\x00\xff"


async def test_messages_keep_order() -> None:
    """Several messages sent before receiving come back in order."""
    async with WebSocketClient().connect("/ws/echo/") as ws:
        for i in range(5):
            await ws.send(str(i))
        assert [await ws.receive() for _ in range(5)] == ["0", "1", "2", "3", "4"]


async def test_awaited_connect_then_close() -> None:
    """connect() may be awaited instead of used with async with, then closed explicitly."""
    ws = await WebSocketClient().connect("/ws/echo/")
    assert isinstance(ws, WebSocketTestConnection)
    await ws.send("x")
    assert await ws.receive() == "x"
    await ws.close()
    assert ws.close_code == 1000


async def test_json_round_trip() -> None:
    """send_json() and receive_json() encode and decode JSON in text frames."""
    async with WebSocketClient().connect("/ws/json/") as ws:
        await ws.send_json({"a": [1, 2], "b": None, "c": "é"})
        assert await ws.receive_json() == {"echo": {"a": [1, 2], "b": None, "c": "é"}}


@with_testing_urls
async def test_receive_json_binary_frame_raises_type_error() -> None:
    """receive_json() on a binary frame raises TypeError."""
    async with WebSocketClient().connect("/t/echo/") as ws:
        await ws.send(b"{}")
        with pytest.raises(TypeError):
            await ws.receive_json()


async def test_send_rejects_other_types() -> None:
    """send() takes only str or bytes."""
    async with WebSocketClient().connect("/ws/echo/") as ws:
        with pytest.raises(TypeError):
            await ws.send(123)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ws.send({"a": 1})  # type: ignore[arg-type]


@with_testing_urls
async def test_receive_text_bytes_json_then_close_code() -> None:
    """Messages the view sends on connect arrive in order, then its close code and reason."""
    async with WebSocketClient().connect("/t/greeter/") as ws:
        assert await ws.receive() == "hello"
        assert await ws.receive() == b"\x00bin"
        assert await ws.receive_json() == {"n": 1, "list": [1, 2]}
        with pytest.raises(ConnectionClosed) as info:
            await ws.receive()
        assert info.value.code == 4321
        assert info.value.reason == "done"
        assert ws.close_code == 4321
        assert ws.close_reason == "done"


@with_testing_urls
async def test_after_close_send_and_receive_raise() -> None:
    """Once the server has closed, send() and receive() raise ConnectionClosed with its code."""
    async with WebSocketClient().connect("/t/greeter/") as ws:
        assert await ws.wait_closed() == 4321
        with pytest.raises(ConnectionClosed) as sent:
            await ws.send("late")
        assert sent.value.code == 4321
        with pytest.raises(ConnectionClosed) as received:
            await ws.receive()
        assert received.value.code == 4321


@with_testing_urls
async def test_wait_closed_skips_messages_and_returns_code() -> None:
    """wait_closed() discards pending messages and returns the close code."""
    async with WebSocketClient().connect("/t/greeter/") as ws:
        assert await ws.wait_closed() == 4321


async def test_view_close_code_and_reason() -> None:
    """A code and reason the view closes with reach ConnectionClosed."""
    async with WebSocketClient().connect("/ws/close/") as ws:
        await ws.send("4000 going")
        with pytest.raises(ConnectionClosed) as info:
            await ws.receive()
    assert info.value.code == 4000
    assert info.value.reason == "going"


async def test_restricted_server_close_code_mapped() -> None:
    """Without the denial extension (daphne-like), a 1011 close arrives as 4011."""
    async with WebSocketClient(extensions={}).connect("/ws/close/") as ws:
        await ws.send("1011 oops")
        with pytest.raises(ConnectionClosed) as info:
            await ws.receive()
    assert info.value.code == 4011


@with_testing_urls
async def test_view_error_closes_with_1011() -> None:
    """With raise_view_exceptions=False, an exception in a hook after accept closes with 1011."""
    client = WebSocketClient(raise_view_exceptions=False)
    async with client.connect("/t/crashing/") as ws:
        await ws.send("anything")
        assert await ws.wait_closed() == 1011


@with_testing_urls
async def test_client_close_code_reaches_disconnect() -> None:
    """close(code) from the client gives the view's disconnect() that code."""
    ws = await WebSocketClient().connect("/t/recorder/")
    await ws.send("x")
    assert await ws.receive() == "x"
    await ws.close(4005)
    assert ws.close_code == 4005
    assert extra_views.notes["disconnect"] == [4005]


@with_testing_urls
async def test_leaving_context_closes_with_1000() -> None:
    """Leaving async with closes with 1000 and waits for disconnect() to have run."""
    async with WebSocketClient().connect("/t/recorder/") as ws:
        await ws.send("x")
        assert await ws.receive() == "x"
    assert ws.close_code == 1000
    assert extra_views.notes["disconnect"] == [1000]


# Timeouts ------------------------------------------------------------------------------


async def test_receive_timeout_raises_quickly() -> None:
    """receive(timeout=...) raises HandshakeTimeout after that time when nothing comes."""
    loop = asyncio.get_running_loop()
    async with WebSocketClient().connect("/ws/echo/") as ws:
        started = loop.time()
        with pytest.raises(HandshakeTimeout):
            await ws.receive(timeout=0.05)
        assert loop.time() - started < QUICK
        await ws.send("still open")
        assert await ws.receive() == "still open"


async def test_client_timeout_is_default_for_receive() -> None:
    """The client's timeout applies to receive() when none is given."""
    loop = asyncio.get_running_loop()
    async with WebSocketClient(timeout=0.05).connect("/ws/echo/") as ws:
        started = loop.time()
        with pytest.raises(HandshakeTimeout):
            await ws.receive()
        assert loop.time() - started < QUICK


async def test_timeout_is_a_websocket_error() -> None:
    """HandshakeTimeout is a WebSocketError, not a ConnectionClosed."""
    async with WebSocketClient().connect("/ws/echo/") as ws:
        with pytest.raises(WebSocketError) as info:
            await ws.receive(timeout=0.01)
    assert not isinstance(info.value, ConnectionClosed)


@with_testing_urls
async def test_handshake_timeout() -> None:
    """A view that never answers the handshake raises HandshakeTimeout within connect(timeout=...)."""
    loop = asyncio.get_running_loop()
    connecting = WebSocketClient().connect("/t/hanging-connect/", timeout=0.05)
    started = loop.time()
    try:
        with pytest.raises(HandshakeTimeout):
            await connecting
        assert loop.time() - started < QUICK
    finally:
        await reap(connecting.connection)


@with_testing_urls
async def test_handshake_timeout_cancels_application() -> None:
    """After a handshake timeout the application task is cancelled, not left running."""
    cancelled = extra_views.signals["hanging-connect"] = asyncio.Event()
    connecting = WebSocketClient().connect("/t/hanging-connect/", timeout=0.05)
    try:
        with pytest.raises(HandshakeTimeout):
            await connecting
        await asyncio.wait_for(cancelled.wait(), 1)
        assert extra_views.notes["hanging-connect"] == ["cancelled"]
    finally:
        await reap(connecting.connection)


@with_testing_urls
async def test_disconnect_that_never_finishes_times_out() -> None:
    """Closing raises HandshakeTimeout when the application does not finish in time."""
    connecting = WebSocketClient(timeout=0.1).connect("/t/hanging-disconnect/")
    try:
        with pytest.raises(HandshakeTimeout):
            async with connecting:
                pass
    finally:
        await reap(connecting.connection)


# Refused handshakes -------------------------------------------------------------------


async def test_unknown_path_rejected_404() -> None:
    """An unrouted path raises HandshakeRejected with 404, its headers and body."""
    with pytest.raises(HandshakeRejected) as info:
        await WebSocketClient().connect("/ws/no-such-route/")
    assert info.value.status == 404
    assert info.value.body == b"Not Found\n"
    assert ("content-type", "text/plain; charset=utf-8") in info.value.headers


async def test_view_reject_403_and_other_status() -> None:
    """A view's reject(status) reaches the client as that status."""
    with pytest.raises(HandshakeRejected) as forbidden:
        await WebSocketClient().connect("/ws/reject/")
    assert forbidden.value.status == 403
    with pytest.raises(HandshakeRejected) as teapot:
        await WebSocketClient().connect("/ws/reject-418/")
    assert teapot.value.status == 418


async def test_without_denial_extension_everything_is_403() -> None:
    """With extensions={} (like daphne) every refusal, 404 and 418 included, is a 403."""
    client = WebSocketClient(extensions={})
    for path in ("/ws/no-such-route/", "/ws/reject-418/", "/ws/reject/"):
        with pytest.raises(HandshakeRejected) as info:
            await client.connect(path)
        assert info.value.status == 403
        assert info.value.body == b""


async def test_connect_without_accept_rejected_403() -> None:
    """A view whose connect() neither accepts nor rejects is refused with 403."""
    with pytest.raises(HandshakeRejected) as info:
        await WebSocketClient().connect("/ws/silent/")
    assert info.value.status == 403


# What reaches the view -----------------------------------------------------------------


async def test_headers_cookies_query_reach_view() -> None:
    """Client headers, per-connection headers, cookies and the query string reach the request."""
    client = WebSocketClient(headers={"User-Agent": "ws-tests/1"})
    async with client.connect(
        "/ws/info/lobby/7/?tag=a&tag=b&q=x%20y",
        headers={"Cookie": "theme=dark; lang=fr"},
    ) as ws:
        info = await ws.receive_json()
    assert info["user_agent"] == "ws-tests/1"
    assert info["cookies"] == {"theme": "dark", "lang": "fr"}
    assert info["GET"] == {"tag": ["a", "b"], "q": ["x y"]}
    assert info["kwargs"] == {"room": "lobby", "n": "7"}
    assert info["path"] == "/ws/info/lobby/7/"
    assert info["method"] == "GET"
    assert info["host"] == "testserver"
    assert info["secure"] is False
    assert info["absolute"] == "http://testserver/x/"


async def test_headers_as_pairs_and_override() -> None:
    """Headers may be given as pairs; a per-connection header overrides the client's Host."""
    client = WebSocketClient(host="localhost")
    async with client.connect(
        "/ws/info/r/1/", headers=[("Host", "127.0.0.1:8000"), ("User-Agent", "pairs")]
    ) as ws:
        info = await ws.receive_json()
    assert info["host"] == "127.0.0.1:8000"
    assert info["user_agent"] == "pairs"


async def test_client_host_and_wss_scheme() -> None:
    """host= sets the Host header and scheme="wss" makes the request secure."""
    async with WebSocketClient(host="localhost", scheme="wss").connect(
        "/ws/info/r/1/"
    ) as ws:
        info = await ws.receive_json()
    assert info["host"] == "localhost"
    assert info["secure"] is True
    assert info["absolute"] == "https://localhost/x/"


async def test_percent_encoded_path_decoded() -> None:
    """A percent-encoded path is decoded (UTF-8) before routing."""
    async with WebSocketClient().connect("/ws/%C3%BCn%C3%AF/w%C3%B6rd/") as ws:
        info = await ws.receive_json()
    assert info["kwargs"] == {"word": "wörd"}
    assert info["path"] == "/ws/ünï/wörd/"


async def test_regex_routes_args_and_kwargs() -> None:
    """Unnamed regex groups reach the view as args, named ones as kwargs."""
    async with WebSocketClient().connect("/ws/unnamed/abc/") as ws:
        unnamed = await ws.receive_json()
    async with WebSocketClient().connect("/ws/re/2024/") as ws:
        named = await ws.receive_json()
    assert unnamed["args"] == ["abc"]
    assert unnamed["kwargs"] == {}
    assert named["args"] == []
    assert named["kwargs"] == {"year": "2024"}


async def test_non_ascii_query_reaches_view() -> None:
    """A non-ASCII query string value reaches request.GET decoded, as with Django's test client."""
    async with WebSocketClient().connect("/ws/info/r/1/?q=é") as ws:
        info = await ws.receive_json()
    assert info["GET"] == {"q": ["é"]}


async def test_subprotocols_offered_and_selected() -> None:
    """Offered subprotocols reach the view; the one it accepts is ws.subprotocol."""
    client = WebSocketClient()
    async with client.connect(
        "/ws/subprotocol/", subprotocols=["x-unknown", "v2.chat"]
    ) as ws:
        assert ws.subprotocol == "v2.chat"
        assert ws.scope["subprotocols"] == ["x-unknown", "v2.chat"]
    async with client.connect("/ws/subprotocol/", subprotocols=["x-unknown"]) as ws:
        assert ws.subprotocol is None
    async with client.connect("/ws/echo/") as ws:
        assert ws.subprotocol is None


async def test_scope_shape() -> None:
    """The scope the client builds is a websocket scope with header bytes and the denial extension."""
    async with WebSocketClient().connect(
        "/ws/echo/?a=1", headers={"X-Thing": "v"}
    ) as ws:
        scope = ws.scope
    assert scope["type"] == "websocket"
    assert scope["path"] == "/ws/echo/"
    assert scope["query_string"] == b"a=1"
    assert (b"host", b"testserver") in scope["headers"]
    assert (b"x-thing", b"v") in scope["headers"]
    assert "websocket.http.response" in scope["extensions"]
    assert (
        WebSocketClient(extensions={})
        .connect("/ws/echo/")
        .connection.scope["extensions"]
        == {}
    )


# Logging in ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_force_login_makes_request_user() -> None:
    """After aforce_login(user), request.user in the view is that user; after logout, anonymous."""
    user = await sync_to_async(get_user_model().objects.create_user)(
        "alice", password="pw"
    )
    client = WebSocketClient()
    async with client.connect("/ws/user/") as ws:
        assert await ws.receive() == ""
    await client.aforce_login(user)
    async with client.connect("/ws/user/") as ws:
        assert await ws.receive() == "alice"
    client.logout()
    async with client.connect("/ws/user/") as ws:
        assert await ws.receive() == ""


@pytest.mark.django_db(transaction=True)
async def test_force_login_sync_from_worker_thread() -> None:
    """force_login() (the sync spelling) works when called from sync code."""
    user = await sync_to_async(get_user_model().objects.create_user)("bob")
    client = WebSocketClient()
    await sync_to_async(client.force_login)(user)
    assert "sessionid" in client.cookies
    async with client.connect("/ws/user/") as ws:
        assert await ws.receive() == "bob"


class WebSocketClientTestCase(TestCase):
    """The client inside a Django TestCase, with async test methods."""

    def setUp(self) -> None:
        """Create a user and log the client in (sync, in setUp)."""
        self.user = get_user_model().objects.create_user("carol")
        self.ws_client = WebSocketClient()
        self.ws_client.force_login(self.user)

    async def test_force_login_in_setup(self) -> None:
        """A user logged in in setUp is request.user in a sync view, within the test's transaction."""
        async with self.ws_client.connect("/ws/user/") as ws:
            assert await ws.receive() == "carol"

    async def test_echo_in_testcase(self) -> None:
        """The client works in a TestCase's async test method."""
        async with self.ws_client.connect("/ws/echo/") as ws:
            await ws.send("tc")
            assert await ws.receive() == "tc"


# Views of the tests below, routed by this module's own URLconf ---------------------


class SendsThenFails(WebSocketView):
    """Send "before", then raise ValueError, on every message."""

    async def receive(self, message: str | bytes) -> None:
        await self.send("before")
        raise ValueError(f"failed on {message!r}")


class FailsInConnect(WebSocketView):
    """Raise in connect(), before accepting."""

    async def connect(self) -> None:
        raise KeyError("no such room")


class FailsInPlainHook(WebSocketView):
    """Raise in a plain receive(), which runs in a worker thread."""

    def receive(self, message: str | bytes) -> None:
        raise LookupError("raised in a worker thread")


class FailsInDisconnect(WebSocketView):
    """Raise in disconnect()."""

    async def disconnect(self, code: int) -> None:
        raise RuntimeError(f"disconnect({code}) failed")


class FailsInReceiveGroup(WebSocketView):
    """Join "testing.fails" and raise on each of its messages."""

    group_names = ["testing.fails"]

    async def receive_group(self, message: GroupMessage) -> None:
        raise ZeroDivisionError(f"group message {message.data!r}")


class HandlesItsErrors(WebSocketView):
    """Raise on every message, and answer the error itself, staying open."""

    async def receive(self, message: str | bytes) -> None:
        raise ValueError("handled by the view")

    async def handle_exception(self, exc: Exception) -> None:
        await self.send(f"error: {exc}")


class BrokenHandler(WebSocketView):
    """Raise on every message, and raise again in handle_exception()."""

    async def receive(self, message: str | bytes) -> None:
        raise ValueError("the first failure")

    async def handle_exception(self, exc: Exception) -> None:
        raise RuntimeError("handle_exception() failed too") from exc


class ClosesOnMessage(WebSocketView):
    """Close with 4000 "bye" on the first message."""

    async def receive(self, message: str | bytes) -> None:
        await self.close(4000, "bye")


class Streams(WebSocketView):
    """On a message, send "tick" every 10 ms until the client leaves."""

    async def receive(self, message: str | bytes) -> None:
        while True:
            await self.send("tick")
            await asyncio.sleep(0.01)


class Where(WebSocketView):
    """Send the path, the URL kwargs and the query string as JSON."""

    async def connect(self) -> None:
        await self.accept()
        await self.send_json(
            {
                "path": self.request.path,
                "kwargs": self.kwargs,
                "GET": {key: self.request.GET.getlist(key) for key in self.request.GET},
            }
        )

    async def send_json(self, content: Any) -> None:
        await self.send(json.dumps(content))


class WhoAmI(WebSocketView):
    """Send the user's name ("" when anonymous), from a plain connect()."""

    def connect(self) -> None:
        self.accept()
        self.send(self.request.user.get_username())


class CountsUsersPlain(WebSocketView):
    """Answer a username with how many users have it, from a plain hook."""

    def receive(self, message: str | bytes) -> None:
        count = get_user_model().objects.filter(username=message).count()
        self.send(f"{count} in {threading.current_thread().name}")


class CountsUsersAsync(WebSocketView):
    """Answer a username with how many users have it, from an async hook."""

    async def receive(self, message: str | bytes) -> None:
        count = await get_user_model().objects.filter(username=message).acount()
        await self.send(str(count))


def exploding_middleware(get_response: Any) -> Any:
    """A middleware that raises OSError for a handshake with ?explode in its query."""

    def middleware(request: Any) -> Any:
        if "explode" in request.GET:
            raise OSError("the middleware exploded")
        return get_response(request)

    return middleware


urlpatterns: list[object] = []

ws_urlpatterns = [
    route("echo/", extra_views.Echo.as_view(), name="echo"),
    route("sends-then-fails/", SendsThenFails.as_view()),
    route("fails-in-connect/", FailsInConnect.as_view()),
    route("fails-in-plain-hook/", FailsInPlainHook.as_view()),
    route("fails-in-disconnect/", FailsInDisconnect.as_view()),
    route("fails-in-receive-group/", FailsInReceiveGroup.as_view()),
    route("handles-its-errors/", HandlesItsErrors.as_view()),
    route("broken-handler/", BrokenHandler.as_view()),
    route("closes-on-message/", ClosesOnMessage.as_view()),
    route("streams/", Streams.as_view()),
    route("who-am-i/", WhoAmI.as_view()),
    route("count/plain/", CountsUsersPlain.as_view()),
    route("count/async/", CountsUsersAsync.as_view()),
    route(
        "chat/",
        include(([route("<slug:room>/", Where.as_view(), name="room")], "chat")),
    ),
    route("where/<int:n>/", Where.as_view(), name="where"),
]

own_urls = pytest.mark.urls(__name__)


def raised_in(exc: BaseException, view: type) -> bool:
    """Return whether ``exc``'s traceback goes through a method of a ``view`` instance."""
    tb = exc.__traceback__
    while tb is not None:
        if isinstance(tb.tb_frame.f_locals.get("self"), view):
            return True
        tb = tb.tb_next
    return False


# A view's exceptions, raised in the test -------------------------------------------


@own_urls
async def test_view_exception_raised_at_receive_after_earlier_messages() -> None:
    """A hook's exception is raised at the test's next receive(), after what the view sent before it, with the view's traceback."""
    async with WebSocketClient().connect("/sends-then-fails/") as ws:
        await ws.send("x")
        assert await ws.receive() == "before"
        with pytest.raises(ValueError, match="failed on 'x'") as info:
            await ws.receive()
        assert raised_in(info.value, SendsThenFails)
        # The failure policy still ran: the connection is closed with 1011.
        assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR


@own_urls
async def test_view_exception_raised_once() -> None:
    """Once raised, a view's exception is not raised again by the close at the end of the block."""
    async with WebSocketClient().connect("/sends-then-fails/") as ws:
        await ws.send("x")
        assert await ws.receive() == "before"
        with pytest.raises(ValueError, match="failed on 'x'"):
            await ws.receive()


@own_urls
async def test_view_exception_raised_by_wait_closed() -> None:
    """wait_closed() raises the view's exception instead of returning 1011."""
    async with WebSocketClient().connect("/sends-then-fails/") as ws:
        await ws.send("x")
        with pytest.raises(ValueError, match="failed on 'x'"):
            await ws.wait_closed()


@own_urls
async def test_view_exception_in_connect_raised_by_connect() -> None:
    """An exception in connect() is raised by connect() (not HandshakeRejected), once the application has ended."""
    connecting = WebSocketClient().connect("/fails-in-connect/")
    with pytest.raises(KeyError, match="no such room") as info:
        await connecting
    assert raised_in(info.value, FailsInConnect)
    assert connecting.connection._task is not None
    assert connecting.connection._task.done()


@own_urls
async def test_view_exception_in_plain_hook_raised() -> None:
    """An exception in a plain hook, raised in a worker thread, is raised in the test too."""
    async with WebSocketClient().connect("/fails-in-plain-hook/") as ws:
        await ws.send("x")
        with pytest.raises(LookupError, match="worker thread") as info:
            await ws.receive()
    assert raised_in(info.value, FailsInPlainHook)


@own_urls
async def test_view_exception_in_disconnect_raised_by_the_close() -> None:
    """An exception in disconnect() is raised by the close at the end of async with."""
    with pytest.raises(RuntimeError, match=r"disconnect\(1000\) failed"):
        async with WebSocketClient().connect("/fails-in-disconnect/"):
            pass
    ws = await WebSocketClient().connect("/fails-in-disconnect/")
    with pytest.raises(RuntimeError, match=r"disconnect\(4000\) failed"):
        await ws.close(4000)


@own_urls
async def test_view_exception_in_receive_group_raised() -> None:
    """An exception in receive_group(), run by group delivery, is raised in the test."""
    async with WebSocketClient().connect("/fails-in-receive-group/") as ws:
        await abroadcast("testing.fails", "boom")
        with pytest.raises(ZeroDivisionError, match="'boom'"):
            await ws.receive()


@own_urls
async def test_view_exception_pending_at_the_end_of_the_block_is_raised() -> None:
    """A view's exception no wait has raised yet is raised when the async with block ends."""

    async def exchange() -> None:
        async with WebSocketClient().connect("/sends-then-fails/") as ws:
            await ws.send("x")
            assert await ws.receive() == "before"

    with pytest.raises(ValueError, match="failed on 'x'"):
        await exchange()


@own_urls
async def test_failing_block_not_masked_by_a_view_exception() -> None:
    """When the async with block fails, its own exception propagates, not the view's."""

    async def exchange() -> None:
        async with WebSocketClient().connect("/sends-then-fails/") as ws:
            await ws.send("x")
            assert await ws.receive() == "before"
            raise AssertionError("the test's own")

    with pytest.raises(AssertionError, match="the test's own"):
        await exchange()


@own_urls
async def test_middleware_exception_raised_by_connect() -> None:
    """An exception a middleware raises during the handshake (Django answers 500) is raised by connect()."""
    middleware = [f"{__name__}.exploding_middleware"]
    with override_settings(MIDDLEWARE=middleware, WSVIEWS_MIDDLEWARE=middleware):
        async with WebSocketClient().connect("/echo/") as ws:  # no ?explode
            await ws.send("fine")
            assert await ws.receive() == "fine"
        with pytest.raises(OSError, match="the middleware exploded"):
            await WebSocketClient().connect("/echo/?explode=1")
        with pytest.raises(HandshakeRejected) as refused:
            await WebSocketClient(raise_view_exceptions=False).connect(
                "/echo/?explode=1"
            )
    assert refused.value.status == 500


@own_urls
async def test_exception_the_view_handles_is_not_raised() -> None:
    """An exception a view's own handle_exception() deals with is not raised; the connection stays open."""
    async with WebSocketClient().connect("/handles-its-errors/") as ws:
        await ws.send("x")
        assert await ws.receive() == "error: handled by the view"
        await ws.send("y")
        assert await ws.receive() == "error: handled by the view"


@own_urls
async def test_exception_of_handle_exception_raised() -> None:
    """An exception that handle_exception() itself raises is raised in the test, chained to the first."""
    async with WebSocketClient().connect("/broken-handler/") as ws:
        await ws.send("x")
        with pytest.raises(RuntimeError, match="failed too") as info:
            await ws.receive()
    assert isinstance(info.value.__cause__, ValueError)
    client = WebSocketClient(raise_view_exceptions=False)
    async with client.connect("/broken-handler/") as ws:
        await ws.send("x")
        assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR


@own_urls
async def test_without_raise_view_exceptions_the_failure_policy_shows() -> None:
    """raise_view_exceptions=False gives what a client sees: 1011 after accept, 500 before."""
    client = WebSocketClient(raise_view_exceptions=False)
    async with client.connect("/sends-then-fails/") as ws:
        await ws.send("x")
        assert await ws.receive() == "before"
        assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR
    with pytest.raises(HandshakeRejected) as info:
        await client.connect("/fails-in-connect/")
    assert info.value.status == 500
    async with client.connect("/fails-in-disconnect/"):
        pass


# Timeouts are TimeoutErrors ------------------------------------------------------------


@own_urls
async def test_receive_timeout_is_a_timeout_error() -> None:
    """A receive that times out raises TimeoutError, still a HandshakeTimeout and a WebSocketError."""
    async with WebSocketClient().connect("/echo/") as ws:
        with pytest.raises(TimeoutError) as info:
            await ws.receive(timeout=0.01)
    assert isinstance(info.value, HandshakeTimeout)
    assert isinstance(info.value, WebSocketError)


@with_testing_urls
async def test_handshake_timeout_is_a_timeout_error() -> None:
    """A handshake that times out raises TimeoutError."""
    connecting = WebSocketClient().connect("/t/hanging-connect/", timeout=0.05)
    try:
        with pytest.raises(TimeoutError):
            await connecting
    finally:
        await reap(connecting.connection)


@own_urls
async def test_wait_closed_timeout_bounds_the_whole_wait() -> None:
    """wait_closed(timeout) fails after that time in all, even while messages keep coming."""
    loop = asyncio.get_running_loop()
    async with WebSocketClient().connect("/streams/") as ws:
        await ws.send("go")
        assert await ws.receive() == "tick"
        started = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(timeout=0.1), QUICK * 2)
        assert loop.time() - started < QUICK


# Nothing arrives --------------------------------------------------------------------------


@own_urls
async def test_assert_no_message_passes_when_nothing_comes() -> None:
    """assert_no_message() returns after its timeout when the view sends nothing; the connection stays usable."""
    loop = asyncio.get_running_loop()
    async with WebSocketClient().connect("/echo/") as ws:
        started = loop.time()
        await ws.assert_no_message(timeout=0.05)
        assert 0.04 <= loop.time() - started < QUICK
        await ws.send("after")
        assert await ws.receive() == "after"


@with_testing_urls
async def test_assert_no_message_fails_showing_what_came() -> None:
    """assert_no_message() fails with an AssertionError that shows the message that came."""
    async with WebSocketClient().connect("/t/greeter/") as ws:
        with pytest.raises(AssertionError, match="got") as info:
            await ws.assert_no_message(timeout=QUICK)
    assert "'hello'" in str(info.value)


@own_urls
async def test_assert_no_message_shortens_a_long_message() -> None:
    """A long message is shown shortened in the failure of assert_no_message()."""
    async with WebSocketClient().connect("/echo/") as ws:
        await ws.send("x" * 1000)
        with pytest.raises(AssertionError) as info:
            await ws.assert_no_message(timeout=QUICK)
    assert "'xxxx" in str(info.value)
    assert "..." in str(info.value)
    assert len(str(info.value)) < 500


@own_urls
async def test_assert_no_message_default_timeout_is_short() -> None:
    """Without a timeout, assert_no_message() waits a fraction of a second, not the client's timeout."""
    loop = asyncio.get_running_loop()
    async with WebSocketClient(timeout=30).connect("/echo/") as ws:
        started = loop.time()
        await ws.assert_no_message()
        assert loop.time() - started < QUICK


@own_urls
async def test_assert_no_message_fails_on_a_close() -> None:
    """assert_no_message() fails, naming the code and reason, when the view closes meanwhile."""
    async with WebSocketClient().connect("/closes-on-message/") as ws:
        await ws.send("x")
        with pytest.raises(AssertionError, match=r"4000.*'bye'"):
            await ws.assert_no_message(timeout=QUICK)
        assert ws.close_code == 4000
        with pytest.raises(ConnectionClosed):
            await ws.assert_no_message()


@own_urls
async def test_assert_no_message_raises_the_view_exception() -> None:
    """A view's exception during assert_no_message() is raised as itself, not as an AssertionError."""
    async with WebSocketClient().connect("/fails-in-plain-hook/") as ws:
        await ws.send("x")
        with pytest.raises(LookupError):
            await ws.assert_no_message(timeout=QUICK)


# Typed results ---------------------------------------------------------------------------


@with_testing_urls
async def test_wait_closed_returns_code_and_reason() -> None:
    """wait_closed() returns a Closed: equal to the code, with .code and .reason."""
    async with WebSocketClient().connect("/t/greeter/") as ws:
        closed = await ws.wait_closed()
    assert isinstance(closed, Closed)
    assert closed == 4321
    assert (closed.code, closed.reason) == (4321, "done")
    assert type(closed.code) is int
    assert repr(closed) == "Closed(code=4321, reason='done')"
    assert (ws.close_code, ws.close_reason) == (4321, "done")


@with_testing_urls
async def test_receive_text_and_bytes() -> None:
    """receive_text() and receive_bytes() return their type, and raise TypeError for the other."""
    async with WebSocketClient().connect("/t/greeter/") as ws:
        assert await ws.receive_text() == "hello"
        with pytest.raises(TypeError, match="binary frame"):
            await ws.receive_text()  # b"\x00bin"
        with pytest.raises(TypeError, match="text frame"):
            await ws.receive_bytes()  # the JSON
    async with WebSocketClient().connect("/t/greeter/") as ws:
        await ws.receive()
        assert await ws.receive_bytes() == b"\x00bin"


# Routes by name --------------------------------------------------------------------------


@own_urls
async def test_connect_to_a_route_name_with_kwargs_and_query() -> None:
    """connect() takes a namespaced route name with kwargs, and a query mapping."""
    client = WebSocketClient()
    async with client.connect(
        "chat:room", kwargs={"room": "lobby"}, query={"tag": ["a", "b"], "q": "x y"}
    ) as ws:
        info = await ws.receive_json()
    assert info == {
        "path": "/chat/lobby/",
        "kwargs": {"room": "lobby"},
        "GET": {"tag": ["a", "b"], "q": ["x y"]},
    }
    async with client.connect("where", args=[7]) as ws:
        assert (await ws.receive_json())["kwargs"] == {"n": 7}
    async with client.connect("/where/8/?a=1", query={"b": "2"}) as ws:
        assert (await ws.receive_json())["GET"] == {"a": ["1"], "b": ["2"]}


@own_urls
async def test_connect_refuses_mixed_paths_and_names() -> None:
    """args or kwargs with a path, a relative path, or an unknown name fail clearly."""
    client = WebSocketClient()
    with pytest.raises(TypeError, match="route name"):
        client.connect("/where/1/", kwargs={"n": 1})
    with pytest.raises(ValueError, match="starts with '/'"):
        client.connect("where/1/")
    with pytest.raises(NoReverseMatch):
        client.connect("chat:nowhere")


# Logging in per connection ----------------------------------------------------------------


@own_urls
@pytest.mark.django_db(transaction=True)
async def test_connect_as_a_user() -> None:
    """connect(user=...) logs that user in for that handshake only; the client's own login stays."""
    users = get_user_model().objects
    alice = await users.acreate(username="alice")
    bob = await users.acreate(username="bob")
    client = WebSocketClient()
    async with client.connect("/who-am-i/", user=alice) as ws:
        assert await ws.receive() == "alice"
    async with client.connect("/who-am-i/") as ws:
        assert await ws.receive() == ""
    await client.aforce_login(bob)
    async with client.connect("/who-am-i/", user=alice) as ws:
        assert await ws.receive() == "alice"
    async with client.connect("/who-am-i/") as ws:
        assert await ws.receive() == "bob"
    with pytest.raises(TypeError, match="Cookie header"):
        client.connect("/who-am-i/", user=alice, headers={"Cookie": "a=b"})


# Databases in async tests --------------------------------------------------------------------


@own_urls
@pytest.mark.django_db(transaction=True)
async def test_rows_of_an_async_test_seen_by_plain_and_async_hooks() -> None:
    """With django_db(transaction=True), a row the async test creates is seen by a plain hook (in its own thread) and an async hook."""
    await get_user_model().objects.acreate(username="dora")
    client = WebSocketClient()
    async with client.connect("/count/plain/") as ws:
        await ws.send("dora")
        count, _, thread = (await ws.receive_text()).partition(" in ")
    assert count == "1"
    assert thread != threading.current_thread().name
    async with client.connect("/count/async/") as ws:
        await ws.send("dora")
        assert await ws.receive() == "1"


@own_urls
class DatabaseInTestCaseTests(TestCase):
    """The client in a Django TestCase: hooks see the test's transaction."""

    def setUp(self) -> None:
        """Create a row inside the test's transaction (rolled back after it)."""
        get_user_model().objects.create(username="erin")

    async def test_plain_and_async_hooks_see_the_transaction(self) -> None:
        """A row created in setUp is seen by a plain hook, in the thread that holds the transaction, and by an async hook."""
        client = WebSocketClient()
        async with client.connect("/count/plain/") as ws:
            await ws.send("erin")
            assert await ws.receive() == f"1 in {threading.main_thread().name}"
        async with client.connect("/count/async/") as ws:
            await ws.send("erin")
            assert await ws.receive() == "1"
