"""Tests for django_wsviews.actions, action_calls and payloads: named actions and their replies."""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import got_request_exception

from django_wsviews import ActionError, CloseCode, JsonWebSocketView, action
from django_wsviews.actions import SUBPROTOCOL, collect_actions
from django_wsviews.payloads import MAX_ERRORS
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .support import actions_views
from .support.actions_views import ChatView

pytestmark = pytest.mark.urls("tests.support.actions_views")

CHAT = "/actions/chat/"
_MISSING: Any = object()


def call(name: Any, id: Any = _MISSING, payload: Any = _MISSING) -> dict[str, Any]:
    """Return a call message; ``id`` and ``payload`` left out unless given."""
    message: dict[str, Any] = {"action": name}
    if id is not _MISSING:
        message["id"] = id
    if payload is not _MISSING:
        message["payload"] = payload
    return message


async def ask(ws: WebSocketTestConnection, name: Any, **kwargs: Any) -> Any:
    """Send a call with an id (1 unless given) and return the next message."""
    kwargs.setdefault("id", 1)
    await ws.send_json(call(name, **kwargs))
    return await ws.receive_json()


async def assert_open(ws: WebSocketTestConnection) -> None:
    """Assert the connection still answers calls."""
    assert await ask(ws, "ping", id="still-open") == {
        "id": "still-open",
        "ok": True,
        "result": "pong",
    }


def error(reply: dict[str, Any]) -> dict[str, Any]:
    """Return the error of a failed reply."""
    assert reply["ok"] is False, reply
    assert set(reply) == {"id", "ok", "error"}, reply
    return reply["error"]  # type: ignore[no-any-return]


@pytest.fixture
def production_ws() -> WebSocketClient:
    """Return a test client that leaves a view's exceptions to the view, as a server does."""
    return WebSocketClient(raise_view_exceptions=False)


@pytest.fixture
def reports() -> Iterator[list[dict[str, Any]]]:
    """Record every got_request_exception sent during the test."""
    sent: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        sent.append(kwargs)

    got_request_exception.connect(receiver)
    yield sent
    got_request_exception.disconnect(receiver)


def action_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "django_wsviews.actions"]


class TestReplies:
    async def test_ok_reply_carries_the_id_and_result(
        self, client_ws: WebSocketClient
    ) -> None:
        """A call with an id is answered {id, ok: true, result}, string and integer ids alike."""
        async with client_ws.connect(CHAT) as ws:
            assert await ask(ws, "echo", id="c7", payload={"a": [1, None]}) == {
                "id": "c7",
                "ok": True,
                "result": {"a": [1, None]},
            }
            assert await ask(ws, "ping", id=0) == {
                "id": 0,
                "ok": True,
                "result": "pong",
            }

    async def test_none_result_is_null(self, client_ws: WebSocketClient) -> None:
        """An action that returns None is answered with "result": null."""
        async with client_ws.connect(CHAT) as ws:
            assert await ask(ws, "note", payload="x") == {
                "id": 1,
                "ok": True,
                "result": None,
            }

    async def test_named_action(self, client_ws: WebSocketClient) -> None:
        """@action("rooms.post") is called by that name, not by the method's."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(ws, "rooms.post", payload={"text": "hi"})
            assert reply["ok"] is True
            assert error(await ask(ws, "post", payload={"text": "hi"}))["code"] == (
                "unknown_action"
            )

    async def test_action_error_reply(self, client_ws: WebSocketClient) -> None:
        """ActionError becomes {ok: false, error: {code, message, details}}; the connection stays open."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(
                ws,
                "fail",
                id="e1",
                payload={"code": "not_found", "message": "No room.", "details": [1]},
            )
            assert reply == {
                "id": "e1",
                "ok": False,
                "error": {"code": "not_found", "message": "No room.", "details": [1]},
            }
            await assert_open(ws)
            assert ws.close_code is None

    async def test_action_error_without_details(
        self, client_ws: WebSocketClient
    ) -> None:
        """An ActionError without details has no "details" key."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(
                ws,
                "fail",
                payload={"code": "forbidden", "message": "No.", "details": None},
            )
            assert error(reply) == {"code": "forbidden", "message": "No."}

    def test_action_error_needs_a_code(self) -> None:
        """ActionError refuses a code that is not a non-empty str."""
        with pytest.raises(TypeError, match="non-empty str"):
            ActionError("", "message")
        with pytest.raises(TypeError, match="non-empty str"):
            ActionError(404, "message")  # type: ignore[arg-type]
        assert str(ActionError("gone", "It went.")) == "gone: It went."

    async def test_replies_come_in_the_order_of_the_calls(
        self, client_ws: WebSocketClient
    ) -> None:
        """A slow call is answered before the quick calls sent after it: calls never overlap."""
        async with client_ws.connect(CHAT) as ws:
            for number, (name, payload) in enumerate(
                [
                    ("slow", "first"),
                    ("ping", _MISSING),
                    ("slow", "third"),
                    ("echo", "fourth"),
                ]
            ):
                await ws.send_json(call(name, id=number, payload=payload))
            replies = [await ws.receive_json() for _ in range(4)]
        assert [r["id"] for r in replies] == [0, 1, 2, 3]
        assert [r["result"] for r in replies] == ["first", "pong", "third", "fourth"]

    async def test_result_dataclass_is_sent_as_an_object(
        self, client_ws: WebSocketClient
    ) -> None:
        """A dataclass returned by an action is sent as its fields, nested ones included."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(
                ws,
                "article",
                payload={"title": "T", "author": {"name": "A", "score": 2}},
            )
        assert reply["result"] == {
            "title": "T",
            "author": {"name": "A", "score": 2.0},
            "kind": "news",
        }

    async def test_action_that_closes_gets_no_reply(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An action that closes the connection ends quietly: its reply is not sent, nothing logged."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(call("closing", id=1))
            assert await ws.wait_closed() == CloseCode.NORMAL_CLOSURE
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class TestNotifications:
    async def test_call_without_id_gets_no_reply(
        self, client_ws: WebSocketClient
    ) -> None:
        """A call without id, or with a null id, runs and is not answered."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(call("note", payload="a"))
            await ws.send_json(call("note", id=None, payload="b"))
            # The next message is the answer to this call: none came before.
            assert await ask(ws, "notes_seen", id=5) == {
                "id": 5,
                "ok": True,
                "result": ["a", "b"],
            }

    async def test_errors_of_notifications_are_logged_not_sent(
        self,
        production_ws: WebSocketClient,
        caplog: pytest.LogCaptureFixture,
        reports: list[dict[str, Any]],
    ) -> None:
        """Without id, a refusal is logged at WARNING, an ActionError at INFO, a crash at ERROR."""
        caplog.set_level(logging.INFO, logger="django_wsviews.actions")
        async with production_ws.connect(CHAT) as ws:
            await ws.send_json(call("nope"))
            await ws.send_json(call("rooms.post", payload={"text": 5}))
            await ws.send_json(
                call(
                    "fail",
                    payload={"code": "gone", "message": "It went.", "details": None},
                )
            )
            await ws.send_json(call("crash"))
            await assert_open(ws)
        levels = [r.levelno for r in action_records(caplog)]
        assert levels == [logging.WARNING, logging.WARNING, logging.INFO, logging.ERROR]
        assert len(reports) == 1


class TestUnknownActions:
    @pytest.mark.parametrize(
        "name",
        [
            "send",
            "send_json",
            "close",
            "disconnect",
            "connect",
            "receive",
            "receive_json",
            "helper",
            "__init__",
            "_actions",
            "handle_exception",
            "ROOMS.POST",
            "",
        ],
    )
    async def test_undecorated_methods_are_not_actions(
        self, client_ws: WebSocketClient, name: str
    ) -> None:
        """Only decorated methods are callable: any other name is unknown_action, and the view runs nothing."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(ws, name, id="u", payload={})
            assert reply == {
                "id": "u",
                "ok": False,
                "error": {"code": "unknown_action", "message": "No such action."},
            }
            await assert_open(ws)

    async def test_override_without_decorator_is_no_longer_an_action(
        self, client_ws: WebSocketClient
    ) -> None:
        """A subclass that overrides an action without @action removes it; the others are inherited."""
        async with client_ws.connect("/actions/child/") as ws:
            assert error(await ask(ws, "echo", payload=1))["code"] == "unknown_action"
            assert (await ask(ws, "ping"))["result"] == "pong"
            assert (await ask(ws, "child.only"))["result"] == "child"


class TestBadRequests:
    @pytest.mark.parametrize("bad_id", [1.5, True, False, [1], {"id": 1}])
    async def test_id_neither_string_nor_integer(
        self, client_ws: WebSocketClient, bad_id: Any
    ) -> None:
        """An id that is not a string or an integer is answered bad_request with a null id; the action does not run."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(ws, "note", id=bad_id, payload="ran")
            assert reply["id"] is None
            assert error(reply)["code"] == "bad_request"
            assert (await ask(ws, "notes_seen"))["result"] == []

    @pytest.mark.parametrize("bad_name", [5, None, ["ping"], {"name": "ping"}])
    async def test_action_not_a_string(
        self, client_ws: WebSocketClient, bad_name: Any
    ) -> None:
        """A call whose action is not a string is answered bad_request, with its id."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(ws, bad_name, id="b")
            assert reply["id"] == "b"
            assert error(reply)["code"] == "bad_request"
            await assert_open(ws)

    async def test_message_with_id_but_no_action(
        self, client_ws: WebSocketClient
    ) -> None:
        """An object with an id and no action is answered bad_request (the default receive_json())."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json({"id": 9, "payload": 1})
            reply = await ws.receive_json()
            assert reply["id"] == 9
            assert error(reply)["code"] == "bad_request"

    @pytest.mark.parametrize(
        "message", ["hello", 5, None, [1, 2], {"type": "chat"}, {"id": None}]
    )
    async def test_other_messages_are_logged_and_dropped(
        self, client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture, message: Any
    ) -> None:
        """A JSON message that is no call and has no id gets no reply; a WARNING says why."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(message)
            await assert_open(ws)  # the next message is the ping's reply
        records = action_records(caplog)
        assert [r.levelno for r in records] == [logging.WARNING]
        assert "not a call" in records[0].getMessage()

    async def test_own_receive_json_gets_the_other_messages(
        self, client_ws: WebSocketClient
    ) -> None:
        """A view with actions that overrides receive_json() gets the messages that are not calls."""
        async with client_ws.connect("/actions/echoing/") as ws:
            await ws.send_json({"type": "typing", "id": 3})
            assert await ws.receive_json() == {
                "not a call": {"type": "typing", "id": 3}
            }
            assert (await ask(ws, "ping"))["result"] == "pong"
            await ws.send_json(["not", "a", "call"])
            assert await ws.receive_json() == {"not a call": ["not", "a", "call"]}

    async def test_view_without_actions_gets_every_message(
        self, client_ws: WebSocketClient
    ) -> None:
        """A JsonWebSocketView without actions gets {"action": ...} in receive_json(), as before."""
        async with client_ws.connect("/actions/plain/") as ws:
            await ws.send_json(call("ping", id=1))
            assert await ws.receive_json() == {"got": {"action": "ping", "id": 1}}

    async def test_malformed_json_still_closes(
        self, client_ws: WebSocketClient
    ) -> None:
        """Malformed JSON closes an action view with 1007, as any JSON view."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send('{"action": "ping", "id": 1')
            assert await ws.wait_closed() == CloseCode.INVALID_PAYLOAD


class TestInternalErrors:
    async def test_exception_is_answered_internal_logged_and_signalled(
        self,
        production_ws: WebSocketClient,
        caplog: pytest.LogCaptureFixture,
        reports: list[dict[str, Any]],
    ) -> None:
        """An unexpected exception: an internal reply that says nothing more, a logged traceback, the signal; the connection stays open."""
        async with production_ws.connect(CHAT) as ws:
            reply = await ask(ws, "crash", id="x")
            assert reply == {
                "id": "x",
                "ok": False,
                "error": {"code": "internal", "message": "Internal error."},
            }
            await assert_open(ws)
        [record] = [r for r in action_records(caplog) if r.levelno == logging.ERROR]
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        assert "'crash'" in record.getMessage()
        assert "ChatView" in record.getMessage()
        assert [r["sender"] for r in reports] == [ChatView]
        assert reports[0]["request"].path == CHAT

    async def test_sync_action_exception(
        self, production_ws: WebSocketClient, reports: list[dict[str, Any]]
    ) -> None:
        """A plain def action's exception is answered internal too."""
        async with production_ws.connect(CHAT) as ws:
            assert error(await ask(ws, "sync_crash"))["code"] == "internal"
            await assert_open(ws)
        assert len(reports) == 1

    async def test_result_that_does_not_encode(
        self,
        production_ws: WebSocketClient,
        caplog: pytest.LogCaptureFixture,
        reports: list[dict[str, Any]],
    ) -> None:
        """A result JSON cannot hold is answered internal, logged and signalled."""
        async with production_ws.connect(CHAT) as ws:
            assert error(await ask(ws, "unencodable", id=4)) == {
                "code": "internal",
                "message": "Internal error.",
            }
            await assert_open(ws)
        errors = [r for r in action_records(caplog) if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert isinstance(errors[0].exc_info[1], TypeError)  # type: ignore[index]
        assert len(reports) == 1

    async def test_details_that_do_not_encode(
        self, production_ws: WebSocketClient, reports: list[dict[str, Any]]
    ) -> None:
        """ActionError details JSON cannot hold make the reply internal."""
        async with production_ws.connect(CHAT) as ws:
            reply = await ask(ws, "odd_error", id=5)
            assert reply["id"] == 5
            assert error(reply)["code"] == "internal"
            await assert_open(ws)
        assert len(reports) == 1

    async def test_handle_exception_is_not_called(
        self, production_ws: WebSocketClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An action's exception does not reach handle_exception(), which would close."""
        seen: list[Exception] = []

        async def handle_exception(self: ChatView, exc: Exception) -> None:
            seen.append(exc)

        monkeypatch.setattr(ChatView, "handle_exception", handle_exception)
        async with production_ws.connect(CHAT) as ws:
            assert error(await ask(ws, "crash"))["code"] == "internal"
        assert seen == []


class TestTestClient:
    async def test_default_test_client_raises_the_exception(
        self, client_ws: WebSocketClient
    ) -> None:
        """The test client raises an action's unexpected exception in the test, then gives the reply."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(call("crash", id=1))
            with pytest.raises(RuntimeError, match="the action broke"):
                await ws.receive()
            assert error(await ws.receive_json())["code"] == "internal"
            await assert_open(ws)


class TestThreads:
    async def test_sync_action_runs_in_a_worker_thread(
        self, client_ws: WebSocketClient
    ) -> None:
        """A plain def action runs off the event loop and may send without await; its reply comes after."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(call("where", id=1))
            assert await ws.receive_json() == {"event": "working"}
            reply = await ws.receive_json()
            assert reply["id"] == 1
            assert reply["result"]["thread"] != threading.get_ident()

    async def test_async_action_runs_on_the_event_loop(
        self, client_ws: WebSocketClient
    ) -> None:
        """An async def action runs on the event loop's thread."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(ws, "where_async")
        assert reply["result"]["thread"] == threading.get_ident()

    @pytest.mark.django_db(transaction=True)
    async def test_sync_action_uses_the_orm(self, client_ws: WebSocketClient) -> None:
        """A plain def action queries and writes with the ORM."""
        async with client_ws.connect(CHAT) as ws:
            first = await ask(ws, "users", payload="alice")
            second = await ask(ws, "users", id=2, payload="bob")
        assert first["result"]["count"] == 1
        assert second["result"]["count"] == 2
        assert first["result"]["thread"] != threading.get_ident()
        assert await User.objects.filter(username__in=["alice", "bob"]).acount() == 2


class TestPayloads:
    async def test_dataclass_payload(self, client_ws: WebSocketClient) -> None:
        """A dataclass payload arrives as an instance, with defaults and an Enum converted."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(
                ws, "rooms.post", payload={"text": "hello", "colour": "blue"}
            )
        assert reply["result"] == {
            "type": "Post",
            "text": "hello",
            "tags": [],
            "priority": 0,
            "colour": ["Colour", "blue"],
        }

    @pytest.mark.parametrize(
        ("payload", "details"),
        [
            ({}, {"text": ["This field is required."]}),
            ({"text": "hi", "spam": 1}, {"spam": ["Unknown field."]}),
            ({"text": 5}, {"text": ["Expected a string."]}),
            ({"text": "hi", "priority": True}, {"priority": ["Expected an integer."]}),
            ({"text": "hi", "priority": 1.0}, {"priority": ["Expected an integer."]}),
            ({"text": "hi", "tags": "a"}, {"tags": ["Expected a list."]}),
            ({"text": "hi", "tags": ["a", 2]}, {"tags.1": ["Expected a string."]}),
            (
                {"text": "hi", "colour": "green"},
                {"colour": ['Expected one of: "red", "blue".']},
            ),
            ({"text": "  "}, {"__all__": ["The text is blank."]}),
            (None, {"__all__": ["Expected an object."]}),
            (["text"], {"__all__": ["Expected an object."]}),
        ],
    )
    async def test_dataclass_invalid(
        self, client_ws: WebSocketClient, payload: Any, details: dict[str, Any]
    ) -> None:
        """A payload that does not fit the dataclass is answered invalid, with details per field."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(ws, "rooms.post", id="p", payload=payload)
            assert reply["id"] == "p"
            assert error(reply)["code"] == "invalid"
            assert error(reply)["details"] == details
            await assert_open(ws)

    async def test_invalid_message_names_the_field(
        self, client_ws: WebSocketClient
    ) -> None:
        """The message of one error names its field; of several, counts them."""
        async with client_ws.connect(CHAT) as ws:
            one = error(await ask(ws, "rooms.post", payload={}))
            two = error(await ask(ws, "rooms.post", payload={"x": 1, "y": 2}))
        assert one["message"] == "text: This field is required."
        assert two["message"] == "Invalid payload: 3 errors."

    async def test_nested_dataclass(self, client_ws: WebSocketClient) -> None:
        """Nested dataclasses are checked too, their paths dotted; a Literal is checked by type and value."""
        async with client_ws.connect(CHAT) as ws:
            reply = await ask(
                ws,
                "article",
                payload={"title": "T", "author": {"name": 1}, "kind": "poem"},
            )
        assert error(reply)["details"] == {
            "author.name": ["Expected a string."],
            "author.score": ["This field is required."],
            "kind": ['Expected one of: "news", "blog".'],
        }

    async def test_typeddict_payload(self, client_ws: WebSocketClient) -> None:
        """A TypedDict payload is checked (required keys, simple types) and arrives as a dict."""
        async with client_ws.connect(CHAT) as ws:
            good = await ask(
                ws, "tag", payload={"name": "x", "count": 2, "ratios": {"a": 1}}
            )
            bad = await ask(
                ws,
                "tag",
                payload={"count": "2", "colour": None, "ratios": {"a": "b"}, "z": 0},
            )
        assert good["result"] == {"name": "x", "count": 2, "ratios": {"a": 1.0}}
        assert error(bad)["code"] == "invalid"
        assert error(bad)["details"] == {
            "z": ["Unknown field."],
            "name": ["This field is required."],
            "count": ["Expected an integer."],
            "colour": ["Expected a string."],
            "ratios.a": ["Expected a finite number."],
        }

    async def test_optional_payload_with_default(
        self, client_ws: WebSocketClient
    ) -> None:
        """A parameter with a default gets it when the payload is absent or null."""
        async with client_ws.connect(CHAT) as ws:
            assert (await ask(ws, "maybe"))["result"] == 7
            assert (await ask(ws, "maybe", payload=None))["result"] == 7
            assert (await ask(ws, "maybe", payload=3))["result"] == 3
            assert error(await ask(ws, "maybe", payload="3"))["code"] == "invalid"

    async def test_action_without_payload_refuses_one(
        self, client_ws: WebSocketClient
    ) -> None:
        """An action that takes no payload refuses one, and accepts null."""
        async with client_ws.connect(CHAT) as ws:
            assert (await ask(ws, "ping", payload=None))["result"] == "pong"
            assert error(await ask(ws, "ping", payload={"a": 1}))["code"] == "invalid"

    async def test_unannotated_payload_passes_as_is(
        self, client_ws: WebSocketClient
    ) -> None:
        """A payload annotated Any is passed as decoded, whatever it is."""
        async with client_ws.connect(CHAT) as ws:
            for payload in ["s", 1, [1, {"a": None}], {"b": True}]:
                assert (await ask(ws, "echo", payload=payload))["result"] == payload

    async def test_pydantic_model_payload(self, client_ws: WebSocketClient) -> None:
        """With pydantic installed, a model payload is validated by it; its errors become details."""
        pytest.importorskip("pydantic")
        async with client_ws.connect("/actions/pydantic/") as ws:
            good = await ask(ws, "signup", payload={"email": "a@b.c", "age": 3})
            bad = await ask(ws, "signup", payload={"email": "a@b.c", "age": "old"})
            missing = await ask(ws, "signup", payload={"age": 3})
        assert good["result"] == {"email": "a@b.c", "age": 3}
        assert error(bad)["code"] == "invalid"
        assert list(error(bad)["details"]) == ["age"]
        assert list(error(missing)["details"]) == ["email"]


class TestHostileInput:
    async def test_huge_ids_are_echoed(self, client_ws: WebSocketClient) -> None:
        """A very long string id and a 1000-digit integer id come back exactly."""
        async with client_ws.connect(CHAT) as ws:
            long_id = "i" * 100_000
            assert (await ask(ws, "ping", id=long_id))["id"] == long_id
            big_id = 10**1000
            assert (await ask(ws, "ping", id=big_id))["id"] == big_id
            assert (await ask(ws, "ping", id=-big_id))["id"] == -big_id

    async def test_huge_action_name(self, client_ws: WebSocketClient) -> None:
        """A huge action name is unknown_action, not echoed back."""
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(call("x" * 500_000, id=1))
            text = await ws.receive()
        assert len(text) < 200
        assert error(json.loads(text))["code"] == "unknown_action"

    async def test_many_errors_are_capped(self, client_ws: WebSocketClient) -> None:
        """A payload with thousands of bad fields gets at most MAX_ERRORS details."""
        payload = {f"field{i}": i for i in range(10_000)}
        async with client_ws.connect(CHAT) as ws:
            await ws.send_json(call("rooms.post", id=1, payload=payload))
            text = await ws.receive()
            await assert_open(ws)
        reply = json.loads(text)
        assert len(reply["error"]["details"]) == MAX_ERRORS
        assert reply["error"]["message"] == f"Invalid payload: {MAX_ERRORS}+ errors."
        assert len(text) < 2_000

    async def test_non_finite_numbers(self, client_ws: WebSocketClient) -> None:
        """NaN, Infinity and integers too large for a float are not numbers."""
        async with client_ws.connect(CHAT) as ws:
            for bad in ["NaN", "Infinity", "-Infinity", "1" + "0" * 400]:
                payload = '{"name": "n", "count": 1, "ratios": {"r": NUMBER}}'
                await ws.send(
                    '{"action": "tag", "id": 1, "payload": '
                    + payload.replace("NUMBER", bad)
                    + "}"
                )
                reply = await ws.receive_json()
                assert error(reply)["details"] == {
                    "ratios.r": ["Expected a finite number."]
                }, bad

    async def test_deep_recursive_payload(self, client_ws: WebSocketClient) -> None:
        """A recursive type takes nested payloads; one nested past the stack is invalid, not a crash."""

        def tree(depth: int) -> dict[str, Any]:
            node: dict[str, Any] = {"name": "leaf"}
            for _ in range(depth):
                node = {"name": "n", "children": [node]}
            return node

        async with client_ws.connect(CHAT) as ws:
            assert (await ask(ws, "tree", payload=tree(30)))["result"] == 31
            reply = await ask(ws, "tree", payload=tree(360))
            assert error(reply) == {
                "code": "invalid",
                "message": "The payload is nested too deeply.",
                "details": {"__all__": ["The payload is nested too deeply."]},
            }
            await assert_open(ws)

    async def test_errors_leave_the_connection_open(
        self, production_ws: WebSocketClient
    ) -> None:
        """After every kind of error reply, the same connection still answers."""
        async with production_ws.connect(CHAT) as ws:
            codes = [
                error(await ask(ws, "nope"))["code"],
                error(await ask(ws, 1))["code"],
                error(await ask(ws, "rooms.post", payload=[]))["code"],
                error(await ask(ws, "crash"))["code"],
                error(
                    await ask(
                        ws,
                        "fail",
                        payload={"code": "mine", "message": "m", "details": None},
                    )
                )["code"],
            ]
            await assert_open(ws)
            assert ws.close_code is None
        assert codes == ["unknown_action", "bad_request", "invalid", "internal", "mine"]


class TestSubprotocol:
    def test_views_with_actions_list_it(self) -> None:
        """A view with actions lists wsviews.v1 after its own subprotocols; one without does not."""
        assert ChatView.subprotocols == (SUBPROTOCOL,)
        assert actions_views.ProtocolView.subprotocols == ("chat.v2", SUBPROTOCOL)
        assert actions_views.ChildView.subprotocols == (SUBPROTOCOL,)
        assert actions_views.PlainJsonView.subprotocols == ()
        assert JsonWebSocketView.subprotocols == ()

    async def test_offered_subprotocol_is_accepted(
        self, client_ws: WebSocketClient
    ) -> None:
        """A client offering wsviews.v1 gets it, and calls work over it."""
        async with client_ws.connect(
            CHAT, subprotocols=["bearer.x", SUBPROTOCOL]
        ) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            await assert_open(ws)

    async def test_calls_work_without_it(self, client_ws: WebSocketClient) -> None:
        """A client that offers no subprotocol may call actions all the same."""
        async with client_ws.connect(CHAT) as ws:
            assert ws.subprotocol is None
            await assert_open(ws)

    @pytest.mark.parametrize(
        ("offered", "accepted"),
        [
            (["chat.v2"], "chat.v2"),
            ([SUBPROTOCOL], SUBPROTOCOL),
            (["chat.v2", SUBPROTOCOL], "chat.v2"),
            ([SUBPROTOCOL, "chat.v2"], SUBPROTOCOL),
            (["other"], None),
        ],
    )
    async def test_own_subprotocols_keep_working(
        self, client_ws: WebSocketClient, offered: list[str], accepted: str | None
    ) -> None:
        """A view's own subprotocols are still accepted, in the client's order."""
        async with client_ws.connect("/actions/protocol/", subprotocols=offered) as ws:
            assert ws.subprotocol == accepted

    async def test_view_without_actions_does_not_accept_it(
        self, client_ws: WebSocketClient
    ) -> None:
        """A JSON view without actions does not claim wsviews.v1."""
        async with client_ws.connect(
            "/actions/plain/", subprotocols=[SUBPROTOCOL]
        ) as ws:
            assert ws.subprotocol is None

    @pytest.mark.urls("tests.support.promise_urls")
    @pytest.mark.parametrize(
        ("path", "accepted"),
        [("/ws/as-view-list/", None), ("/ws/as-view-list-v1/", SUBPROTOCOL)],
    )
    async def test_subprotocols_given_to_as_view_replace_the_list(
        self, client_ws: WebSocketClient, path: str, accepted: str | None
    ) -> None:
        """as_view(subprotocols=...) replaces the list: wsviews.v1 is answered only if included."""
        async with client_ws.connect(path, subprotocols=[SUBPROTOCOL]) as ws:
            assert ws.subprotocol == accepted
            await assert_open(ws)  # calls work either way
        async with client_ws.connect(path, subprotocols=["chat.v2"]) as ws:
            assert ws.subprotocol is None  # the class's own list is gone

    @pytest.mark.urls("tests.support.promise_urls")
    async def test_an_own_receive_must_call_super_for_actions(
        self, client_ws: WebSocketClient
    ) -> None:
        """A view that overrides receive() answers calls only if it calls super().receive()."""
        call = {"action": "ping", "id": 1}
        async with client_ws.connect("/ws/own-receive/") as ws:
            await ws.send_json(call)
            assert await ws.receive() == "mine"
            await ws.assert_no_message()
        async with client_ws.connect("/ws/own-receive-super/") as ws:
            await ws.send_json(call)
            assert await ws.receive_json() == {"id": 1, "ok": True, "result": "pong"}


class TestDeclaring:
    def test_actions_are_collected_by_name(self) -> None:
        """The class's actions are its decorated methods, by name."""
        names = set(collect_actions(ChatView))
        assert {"echo", "ping", "rooms.post", "where", "users"} <= names
        assert names.isdisjoint({"post", "helper", "send", "receive_json"})
        assert "echo" not in collect_actions(actions_views.ChildView)

    async def test_decorator_returns_the_method(self) -> None:
        """@action returns the method itself: same signature, still callable directly."""

        async def f(self: Any, payload: int) -> int:
            return payload

        assert action(f) is f
        assert action("named")(f) is f
        assert list(inspect.signature(ChatView.echo).parameters) == ["self", "payload"]
        assert await ChatView().ping() == "pong"

    def test_two_methods_one_name(self) -> None:
        """Two methods declaring one name raise ImproperlyConfigured at class creation, naming the fix."""
        with pytest.raises(
            ImproperlyConfigured, match="both declare the action 'ping'"
        ):

            class Clash(JsonWebSocketView):
                @action
                async def ping(self) -> None: ...

                @action("ping")
                async def other(self) -> None: ...

    def test_a_subclass_cannot_reuse_a_name_with_another_method(self) -> None:
        """An inherited action's name taken by another method of a subclass raises."""
        with pytest.raises(ImproperlyConfigured, match="another name"):

            class Clash(ChatView):
                @action("rooms.post")
                async def post_again(self) -> None: ...

    def test_overriding_with_action_replaces(self) -> None:
        """Overriding an action's method, decorated again, replaces it under its name."""

        class Override(ChatView):
            @action("rooms.post")
            async def post(self) -> str:  # type: ignore[override]
                return "new"

        assert Override._actions["rooms.post"].attribute == "post"
        assert Override._actions["rooms.post"].declared.takes_payload is False

    @pytest.mark.parametrize(
        "name", ["wsviews.ping", "wsviews.", "has space", "a" * 101, "", "naïve", ".x"]
    )
    def test_names_not_allowed(self, name: str) -> None:
        """Reserved (wsviews.) and malformed names raise ImproperlyConfigured, with an example of a good one."""
        with pytest.raises(ImproperlyConfigured, match=r"@action\('rooms.post'\)"):

            class Bad(JsonWebSocketView):
                @action(name)
                async def ping(self) -> None: ...

    @pytest.mark.parametrize(
        "source",
        [
            "def f(self, a, b): ...",
            "def f(self, *, payload): ...",
            "def f(self, *args): ...",
            "def f(self, **kwargs): ...",
            "def f(): ...",
        ],
    )
    def test_signatures_not_allowed(self, source: str) -> None:
        """An action takes self and at most one positional payload parameter."""
        namespace: dict[str, Any] = {}
        exec(source, namespace)
        with pytest.raises(TypeError, match="at most one payload parameter"):
            action(namespace["f"])

    def test_not_a_method(self) -> None:
        """@action refuses what is not a def, staticmethods and classmethods included."""
        for target in [staticmethod(lambda: None), classmethod(lambda cls: None), 5]:
            with pytest.raises(TypeError, match="decorates a method"):
                action(target)  # type: ignore[call-overload]

    def test_staticmethod_over_action(self) -> None:
        """An action wrapped in staticmethod raises ImproperlyConfigured at class creation."""
        with pytest.raises(ImproperlyConfigured, match="staticmethod"):

            class Bad(JsonWebSocketView):
                @staticmethod
                @action
                def ping(payload: Any) -> None: ...

    @pytest.mark.parametrize(
        "annotation",
        [set, datetime.datetime, dict[int, str], tuple, "list[complex]"],
    )
    def test_payload_types_that_cannot_be_checked(self, annotation: Any) -> None:
        """A payload type that cannot be checked raises TypeError naming it and the fix."""

        async def f(self: Any, payload: Any) -> None: ...

        f.__annotations__["payload"] = annotation
        with pytest.raises(TypeError, match="Cannot check"):
            action(f)

    def test_unresolvable_annotation(self) -> None:
        """An annotation naming a type that does not exist raises TypeError with the fix."""
        with pytest.raises(TypeError, match="module level"):

            class Bad(JsonWebSocketView):
                @action
                async def ping(self, payload: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    def test_subprotocols_as_a_string(self) -> None:
        """subprotocols = "x" on a view with actions raises ImproperlyConfigured with the fix."""
        with pytest.raises(ImproperlyConfigured, match=r"\('chat',\)"):

            class Bad(JsonWebSocketView):
                subprotocols = "chat"  # type: ignore[assignment]

                @action
                async def ping(self) -> None: ...

    def test_action_on_a_mixin(self) -> None:
        """Actions declared on a plain mixin are collected by the view that uses it."""

        class Mixin:
            @action("mixin.hello")
            async def hello(self) -> str:
                return "hi"

        class View(Mixin, JsonWebSocketView):
            pass

        assert set(View._actions) == {"mixin.hello"}
        assert View.subprotocols == (SUBPROTOCOL,)

    def test_dataclass_result_conversion_ignores_classes(self) -> None:
        """A dataclass class (not an instance) returned is not converted."""
        from django_wsviews.action_calls import _plain

        @dataclasses.dataclass
        class D:
            a: int

        assert _plain(D) is D
        assert _plain(D(1)) == {"a": 1}


MYPY_SNIPPET = """
from __future__ import annotations

import dataclasses

from django_wsviews import JsonWebSocketView, action


@dataclasses.dataclass
class Post:
    text: str


class View(JsonWebSocketView):
    @action
    async def ping(self) -> str:
        return "pong"

    @action("rooms.post")
    def post(self, payload: Post) -> int:
        return len(payload.text)


async def use(view: View) -> None:
    kept: str = await view.ping()
    also_kept: int = view.post(Post("x"))
    wrong_return: int = await view.ping()
    view.post("not a Post")
"""


def test_decorator_keeps_the_signature_for_mypy(tmp_path: Any) -> None:
    """mypy --strict sees an action's own signature: its parameter and return types."""
    api = pytest.importorskip("mypy.api")
    (tmp_path / "snippet.py").write_text(MYPY_SNIPPET)
    out, _, status = api.run(
        [
            "--strict",
            "--python-version=3.10",
            "--no-pretty",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(tmp_path / "snippet.py"),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1, out
    assert len(errors) == 2, out
    assert 'Incompatible types in assignment (expression has type "str"' in errors[0]
    assert 'Argument 1 to "post" of "View" has incompatible type "str"' in errors[1]
