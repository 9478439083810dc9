"""Unit tests of django_wsviews.testing: the in-process WebSocket test client itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import TestCase, override_settings

from django_wsviews.exceptions import (
    ConnectionClosed,
    HandshakeRejected,
    HandshakeTimeout,
    WebSocketError,
)
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from . import extra_views

with_testing_urls = override_settings(ROOT_URLCONF="tests.urls_testing")

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
    """An exception in a hook after accept closes the connection with 1011."""
    async with WebSocketClient().connect("/t/crashing/") as ws:
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
