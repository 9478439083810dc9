"""Tests for django_wsviews.views: WebSocketView and JsonWebSocketView."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.test import RequestFactory

from django_wsviews import (
    CloseCode,
    ConnectionClosed,
    HandshakeTimeout,
)
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient

from .support import views


class TestAsView:
    def test_unknown_keyword_is_refused_with_the_fix(self) -> None:
        """as_view() refuses a keyword that is not a class attribute, naming the fix."""
        with pytest.raises(TypeError, match="already attributes of the class"):
            views.EchoView.as_view(colour="red")

    def test_method_names_are_refused(self) -> None:
        """as_view() refuses hook names as keywords."""
        with pytest.raises(TypeError, match="override the method"):
            views.EchoView.as_view(receive=None)

    def test_exposes_view_class_and_initkwargs(self) -> None:
        """The callable carries view_class and view_initkwargs, as Django's do."""
        view = views.RejectView.as_view(status=418)
        assert view.view_class is views.RejectView  # type: ignore[attr-defined]
        assert view.view_initkwargs == {"status": 418}  # type: ignore[attr-defined]

    def test_as_view_only_on_the_class(self) -> None:
        """as_view() is a class-only method."""
        with pytest.raises(AttributeError):
            views.EchoView().as_view()

    async def test_plain_http_request_gets_426(self) -> None:
        """Called by Django's HTTP handler, the view answers 426 Upgrade Required."""
        response = await views.EchoView.as_view()(RequestFactory().get("/upgrade/"))
        assert response.status_code == 426
        assert response["Upgrade"] == "websocket"

    def test_sync_hooks_are_told_from_async_ones(self) -> None:
        """Plain-def hooks are told apart from async ones, per function."""
        from django_wsviews.hooks import is_async

        assert not is_async(views.SyncEchoView().receive)
        assert not is_async(views.SyncEchoView.connect)
        assert is_async(views.EchoView().receive)

    def test_initkwargs_set_on_each_instance(self) -> None:
        """Each instance gets the initkwargs, made with no event loop or request."""
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()  # a plain function: no loop runs here
        first = views.RejectView(status=401)
        second = views.RejectView()
        assert (first.status, second.status) == (401, 403)


class TestMessages:
    async def test_text_and_binary(self, client_ws: WebSocketClient) -> None:
        """str arrives for text frames and bytes for binary, and go back the same."""
        async with client_ws.connect("/ws/echo/") as ws:
            await ws.send("text")
            assert await ws.receive() == "text"
            await ws.send(b"\xff\x00")
            assert await ws.receive() == b"\xff\x00"

    async def test_empty_frames_are_messages(self, client_ws: WebSocketClient) -> None:
        """Empty text and binary frames are delivered and sent, not dropped."""
        async with client_ws.connect("/ws/echo/") as ws:
            await ws.send("")
            assert await ws.receive() == ""
            await ws.send(b"")
            assert await ws.receive() == b""

    async def test_messages_keep_their_order(self, client_ws: WebSocketClient) -> None:
        """Hooks that suspend still handle one connection's messages in order."""
        async with client_ws.connect("/ws/order/") as ws:
            for i in range(50):
                await ws.send(str(i))
            assert [await ws.receive() for _ in range(50)] == [
                str(i) for i in range(50)
            ]

    async def test_send_rejects_other_types(self, client_ws: WebSocketClient) -> None:
        """send() with a dict raises TypeError, which closes the socket with 1011."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        async with client_ws.connect("/ws/bad-send/") as ws:
            await ws.send("x")
            assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR


class TestHandshake:
    async def test_connect_accepts_by_default(self, client_ws: WebSocketClient) -> None:
        """A view that does not override connect() accepts."""
        ws = await client_ws.connect("/ws/echo/")
        assert ws.subprotocol is None
        await ws.close()

    async def test_subprotocol_picks_first_offered_supported(
        self, client_ws: WebSocketClient
    ) -> None:
        """The first client-offered subprotocol the view supports is accepted."""
        async with client_ws.connect(
            "/ws/subprotocol/", subprotocols=["v3.chat", "v1.chat", "v2.chat"]
        ) as ws:
            assert ws.subprotocol == "v1.chat"

    async def test_no_common_subprotocol(self, client_ws: WebSocketClient) -> None:
        """With no subprotocol in common, the socket is accepted without one."""
        async with client_ws.connect("/ws/subprotocol/", subprotocols=["v9"]) as ws:
            assert ws.subprotocol is None

    async def test_reject_status(self, client_ws: WebSocketClient) -> None:
        """reject() refuses with the status given, where the server supports it."""
        with pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/reject-418/")
        assert refused.value.status == 418

    async def test_reject_without_denial_extension(self) -> None:
        """Without the denial extension the handshake is closed: the server sends 403."""
        client = WebSocketClient(extensions={})
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/reject-418/")
        assert refused.value.status == 403

    async def test_connect_without_answer_is_refused(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """connect() returning without accept() or reject() refuses with 403 and logs."""
        with pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/silent/")
        assert refused.value.status == 403
        assert "without accept() or reject()" in caplog.text

    async def test_send_before_accept_fails_the_handshake(
        self, client_ws: WebSocketClient
    ) -> None:
        """send() before accept() raises InvalidState, which refuses with 500."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        with pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/early/")
        assert refused.value.status == 500

    async def test_accept_twice(self, client_ws: WebSocketClient) -> None:
        """A second accept() raises InvalidState, closing the socket with 1011."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        ws = await client_ws.connect("/ws/double-accept/")
        assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR

    async def test_accept_headers(self, client_ws: WebSocketClient) -> None:
        """Headers given to accept() go out with websocket.accept."""
        async with client_ws.connect("/ws/accept-headers/") as ws:
            assert ("x-extra", "1") in ws.headers


class TestClose:
    @pytest.mark.parametrize(
        "code", [CloseCode.NORMAL_CLOSURE, CloseCode.POLICY_VIOLATION, 3000, 4999]
    )
    async def test_close_code_and_reason(
        self, client_ws: WebSocketClient, code: int
    ) -> None:
        """close() sends the code and reason given."""
        async with client_ws.connect("/ws/close/") as ws:
            await ws.send(f"{int(code)} bye now")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
        assert (closed.value.code, closed.value.reason) == (code, "bye now")

    @pytest.mark.parametrize("code", [999, 1005, 1006, 1015, 5000])
    async def test_invalid_close_codes(
        self, client_ws: WebSocketClient, code: int
    ) -> None:
        """close() with a code a server may not send raises, so the socket closes 1011."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        async with client_ws.connect("/ws/close/") as ws:
            await ws.send(f"{code}")
            assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR

    async def test_daphne_like_server_gets_mapped_codes(self) -> None:
        """On a server without extensions, 1011 is sent as 4011 (autobahn refuses 1011)."""
        client = WebSocketClient(extensions={})
        async with client.connect("/ws/close/") as ws:
            await ws.send("1011")
            assert await ws.wait_closed() == 4011

    async def test_send_after_close_raises_connection_closed(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """send() after close() raises ConnectionClosed, which ends quietly."""
        async with client_ws.connect("/ws/send-after-close/") as ws:
            await ws.send("x")
            assert await ws.wait_closed() == CloseCode.NORMAL_CLOSURE
        assert views.events["after-close"] == ["ConnectionClosed"]
        assert "Traceback" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class TestFailurePolicy:
    async def test_exception_in_receive_closes_1011_and_logs(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An exception in receive() is logged with its traceback and closes with 1011."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        async with client_ws.connect("/ws/receive-error/") as ws:
            await ws.send("boom")
            assert await ws.wait_closed() == CloseCode.INTERNAL_ERROR
        [record] = [r for r in caplog.records if r.name == "django_wsviews"]
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None
        assert record.exc_info[0] is ValueError
        assert views.events["receive-error"] == [CloseCode.INTERNAL_ERROR]

    async def test_exception_in_connect_refuses_500(
        self, client_ws: WebSocketClient
    ) -> None:
        """An exception in connect() refuses the handshake with 500."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        with pytest.raises(HandshakeRejected) as refused:
            await client_ws.connect("/ws/connect-error/")
        assert refused.value.status == 500

    async def test_got_request_exception_fires(
        self, client_ws: WebSocketClient
    ) -> None:
        """Django's got_request_exception is sent with the view class and request."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        received = []

        def receiver(sender: object, request: object, **kwargs: object) -> None:
            received.append((sender, request))

        got_request_exception.connect(receiver)
        try:
            async with client_ws.connect("/ws/receive-error/") as ws:
                await ws.send("boom")
                await ws.wait_closed()
        finally:
            got_request_exception.disconnect(receiver)
        [(sender, request)] = received
        assert sender is views.ReceiveErrorView
        assert request.path == "/ws/receive-error/"  # type: ignore[attr-defined]

    async def test_overridden_exception_hook_keeps_the_socket(
        self, client_ws: WebSocketClient
    ) -> None:
        """An overridden handle_exception() may answer and keep the connection open."""
        async with client_ws.connect("/ws/exception-hook/") as ws:
            await ws.send("boom")
            assert await ws.receive() == "error: KeyError"
            await ws.send("still here")
            assert await ws.receive() == "still here"

    async def test_other_connections_unaffected(
        self, client_ws: WebSocketClient
    ) -> None:
        """A failing connection does not disturb another one."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        async with client_ws.connect("/ws/echo/") as healthy:
            async with client_ws.connect("/ws/receive-error/") as failing:
                await failing.send("boom")
                assert await failing.wait_closed() == CloseCode.INTERNAL_ERROR
            await healthy.send("ok")
            assert await healthy.receive() == "ok"


class TestDisconnect:
    async def test_client_close_code_reaches_disconnect(
        self, client_ws: WebSocketClient
    ) -> None:
        """disconnect() gets the client's close code, once."""
        ws = await client_ws.connect("/ws/recording/a/")
        await ws.close(4321)
        assert views.events["a"] == [("connect",), ("disconnect", 4321)]

    async def test_disconnect_during_a_long_receive(
        self, client_ws: WebSocketClient
    ) -> None:
        """A client leaving while receive() waits cancels it and runs disconnect() once."""
        ws = await client_ws.connect("/ws/recording/b/")
        await ws.send("wait")
        await ws.send("queued")
        await ws.close(CloseCode.GOING_AWAY)
        assert views.events["b"] == [
            ("connect",),
            ("receive", "wait"),
            ("disconnect", CloseCode.GOING_AWAY),
        ]

    async def test_server_close_code_reaches_disconnect(
        self, client_ws: WebSocketClient
    ) -> None:
        """disconnect() gets the code the view closed with."""
        client_ws.raise_view_exceptions = (
            False  # the failure policy, as a client sees it
        )
        async with client_ws.connect("/ws/receive-error/") as ws:
            await ws.send("boom")
            await ws.wait_closed()
        assert views.events["receive-error"] == [CloseCode.INTERNAL_ERROR]

    async def test_disconnect_before_the_handshake(
        self, client_ws: WebSocketClient
    ) -> None:
        """A client that leaves before websocket.connect ends the app quietly."""
        sent = []

        async def receive() -> dict[str, object]:
            return {"type": "websocket.disconnect", "code": 1006}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {
            "type": "websocket",
            "path": "/ws/echo/",
            "headers": [],
            "query_string": b"",
        }
        await asyncio.wait_for(client_ws.application(scope, receive, send), 5)
        assert sent == []

    async def test_client_leaving_stops_a_greedy_sender(
        self, client_ws: WebSocketClient
    ) -> None:
        """A hook sending in a loop gives the loop turns, so a client leaving stops it."""
        ws = await client_ws.connect("/ws/greedy/")
        await ws.send("go")
        assert await ws.receive() == "x"
        await ws.close()
        [sent] = views.events["greedy"]
        assert 1 <= sent < 100_000


class TestSyncHooks:
    async def test_sync_hooks_work(self, client_ws: WebSocketClient) -> None:
        """Plain-def hooks run, and send()/accept()/close() work from them."""
        ws = await client_ws.connect("/ws/sync/s1/")
        await ws.send("hello")
        assert await ws.receive() == "hello"
        await ws.send("close")
        assert await ws.receive() == "close"
        assert await ws.wait_closed() == CloseCode.NORMAL_CLOSURE
        assert views.events["s1"][-1] == ("disconnect", CloseCode.NORMAL_CLOSURE)

    @pytest.mark.django_db(transaction=True)
    async def test_sync_hooks_of_different_connections_run_in_parallel(self) -> None:
        """Four connections' plain-def hooks run at once, on four threads."""
        views.barrier.reset()
        client = WebSocketClient()
        sockets = [await client.connect("/ws/barrier/") for _ in range(4)]
        for ws in sockets:
            await ws.send("go")
        answers = [await ws.receive(timeout=10) for ws in sockets]
        for ws in sockets:
            await ws.close()
        assert all(a.startswith("thread ") for a in answers), answers
        assert len(set(answers)) == 4


class TestJsonView:
    async def test_json_round_trip(self, client_ws: WebSocketClient) -> None:
        """receive_json() gets decoded content; send_json() encodes it."""
        async with client_ws.connect("/ws/json/") as ws:
            await ws.send_json({"a": [1, 2, None]})
            assert await ws.receive_json() == {"echo": {"a": [1, 2, None]}}

    async def test_malformed_json_closes_1007(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Malformed JSON closes with 1007 and a WARNING, with no traceback."""
        async with client_ws.connect("/ws/json/") as ws:
            await ws.send("{nope")
            assert await ws.wait_closed() == CloseCode.INVALID_PAYLOAD
        assert [r.levelno for r in caplog.records if r.name == "django_wsviews"] == [
            logging.WARNING
        ]
        assert "Traceback" not in caplog.text

    async def test_deeply_nested_json_closes_1007(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """JSON nested past the decoder's depth closes with 1007 and one WARNING, not 1011."""
        reports: list[object] = []

        def receiver(**kwargs: object) -> None:
            reports.append(kwargs)

        got_request_exception.connect(receiver)
        try:
            async with client_ws.connect("/ws/json/") as ws:
                await ws.send("[" * 100_000 + "]" * 100_000)
                assert await ws.wait_closed() == CloseCode.INVALID_PAYLOAD
        finally:
            got_request_exception.disconnect(receiver)
        assert reports == []
        records = [r for r in caplog.records if r.name == "django_wsviews"]
        assert [r.levelno for r in records] == [logging.WARNING]
        assert "Traceback" not in caplog.text

    async def test_send_json_encodes_as_broadcast_does(
        self, client_ws: WebSocketClient
    ) -> None:
        """send_json() takes datetimes, Decimals, UUIDs and lazy strings, as broadcast(json=) does."""
        async with client_ws.connect("/ws/json-types/") as ws:
            sent = await ws.receive()
        assert json.loads(sent) == {
            "when": "2026-01-02T03:04:05",
            "amount": "1.10",
            "id": "00000000-0000-0000-0000-000000000001",
            "label": "lazy",
        }

    async def test_binary_frame_closes_1003(self, client_ws: WebSocketClient) -> None:
        """A binary frame on a JSON view closes with 1003."""
        async with client_ws.connect("/ws/json/") as ws:
            await ws.send(b"{}")
            assert await ws.wait_closed() == CloseCode.UNSUPPORTED_DATA

    async def test_encode_decode_are_overridable(
        self, client_ws: WebSocketClient
    ) -> None:
        """A view's decode_json()/encode_json() are what receive() and send_json() use."""
        async with client_ws.connect("/ws/codec/") as ws:
            await ws.send("name=ada")
            assert await ws.receive() == "name=ada;seen=yes"
            # What its decoder refuses closes with 1007, as malformed JSON does.
            await ws.send('{"name": "ada"}')
            assert await ws.wait_closed() == CloseCode.INVALID_PAYLOAD


class TestTimeouts:
    async def test_receive_times_out(self, client_ws: WebSocketClient) -> None:
        """A receive with nothing to get fails after its timeout instead of hanging."""
        async with client_ws.connect("/ws/echo/") as ws:
            with pytest.raises(HandshakeTimeout):
                await ws.receive(timeout=0.05)


class TestHookEdges:
    async def test_the_default_receive_ignores_messages(
        self, client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
    ) -> None:
        """WebSocketView's own receive() drops each message and keeps the socket open."""
        async with client_ws.connect("/ws/default/") as ws:
            await ws.send("text")
            await ws.send(b"bytes")
            await ws.assert_no_message(timeout=0.05)
            assert ws.close_code is None

    async def test_a_failing_handle_exception_still_refuses_the_handshake(
        self, promise_urls: dict[str, list[Any]]
    ) -> None:
        """An exception in connect() whose handle_exception() fails too is still a 500."""
        client = WebSocketClient(raise_view_exceptions=False)
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/broken-before-accept/")
        assert refused.value.status == 500
