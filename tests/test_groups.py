"""Groups through views and the façade (django_wsviews.groups), on the in-memory backend."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import importlib
import logging
import threading
import uuid
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder

from django_wsviews import (
    CloseCode,
    ConnectionClosed,
    GroupMessage,
    State,
    WebSocketView,
    abroadcast,
    aclose_user_sockets,
    asend_to_user,
    broadcast,
    close_user_sockets,
    envelope,
    hub,
    send_to_user,
)
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.groups import user_group_name, validate_group_name
from django_wsviews.hub import get_hub
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .support.views import events

pytestmark = pytest.mark.urls("tests.support.groups_urls")

T = 5.0  # seconds: the bound of every receive


@pytest.fixture
def client() -> WebSocketClient:
    """Return a test client with a 5-second bound on every wait."""
    return WebSocketClient(timeout=T)


async def connect_all(
    client: WebSocketClient, path: str, count: int
) -> list[WebSocketTestConnection]:
    """Open ``count`` connections to ``path``."""
    return list(await asyncio.gather(*(client.connect(path) for _ in range(count))))


async def close_all(connections: list[WebSocketTestConnection]) -> None:
    """Close every connection from the client's side."""
    await asyncio.gather(*(ws.close() for ws in connections))


# Membership ----------------------------------------------------------------


async def test_group_names_joined_on_accept(client: WebSocketClient) -> None:
    """get_group_names() (here from the URL's room) is joined right after accept."""
    async with (
        client.connect("/ws/room/a/") as one,
        client.connect("/ws/room/a/") as two,
    ):
        await abroadcast("room.a", "hello")
        assert await one.receive(T) == "hello"
        assert await two.receive(T) == "hello"


async def test_group_names_from_as_view(client: WebSocketClient) -> None:
    """group_names given to as_view() are joined on accept."""
    async with client.connect("/ws/lobby/") as ws:
        await abroadcast("lobby", "in the lobby")
        assert await ws.receive(T) == "in the lobby"


async def test_rooms_are_separate(client: WebSocketClient) -> None:
    """A member of room.b gets nothing sent to room.a."""
    async with client.connect("/ws/room/b/") as ws:
        await abroadcast("room.a", "not for b")
        await abroadcast("room.b", "for b")
        assert await ws.receive(T) == "for b"


async def test_text_bytes_and_json(client: WebSocketClient) -> None:
    """Text arrives as text, bytes as bytes, json= as JSON text (DjangoJSONEncoder)."""
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
    ident = uuid.UUID(int=7)
    async with client.connect("/ws/room/a/") as ws:
        await abroadcast("room.a", "text")
        await abroadcast("room.a", b"\x00\xff")
        await abroadcast("room.a", "")
        await abroadcast(
            "room.a", json={"when": when, "id": ident, "n": decimal.Decimal("1.5")}
        )
        assert await ws.receive(T) == "text"
        assert await ws.receive(T) == b"\x00\xff"
        assert await ws.receive(T) == ""
        assert await ws.receive_json(T) == {
            "when": "2024-05-01T12:30:00Z",
            "id": str(ident),
            "n": "1.5",
        }


async def test_join_and_leave_from_a_hook(client: WebSocketClient) -> None:
    """join() and leave() work from receive(); a left group sends nothing more."""
    async with client.connect("/ws/room/a/") as ws:
        await ws.send("join extra")
        assert await ws.receive(T) == "joined"
        await ws.send("groups")
        assert await ws.receive(T) == "extra,room.a"
        await abroadcast("extra", "extra 1")
        assert await ws.receive(T) == "extra 1"
        await ws.send("leave extra")
        assert await ws.receive(T) == "left"
        await abroadcast("extra", "extra 2")
        await abroadcast("room.a", "room")
        assert await ws.receive(T) == "room"


async def test_join_twice_and_leave_twice(client: WebSocketClient) -> None:
    """Joining a group twice delivers once; leaving a group not joined does nothing."""
    async with client.connect("/ws/room/a/") as ws:
        await ws.send("join room.a")
        assert await ws.receive(T) == "joined"
        await ws.send("leave never-joined")
        assert await ws.receive(T) == "left"
        await abroadcast("room.a", "once")
        await abroadcast("room.a", "twice")
        assert await ws.receive(T) == "once"
        assert await ws.receive(T) == "twice"


async def test_join_before_accept(client: WebSocketClient) -> None:
    """join() in connect(), before accept(), takes effect; messages start after accept."""
    async with client.connect("/ws/early/") as ws:
        assert events["early"] == ["joined"]
        await abroadcast("early", "after accept")
        assert await ws.receive(T) == "after accept"


async def test_groups_left_when_client_closes(client: WebSocketClient) -> None:
    """Every group is left when the client closes, before disconnect() runs."""
    async with client.connect("/ws/room/a/") as ws:
        await ws.send("join extra")
        assert await ws.receive(T) == "joined"
        assert len(get_hub().members("extra")) == 1
    assert get_hub().members("extra") == frozenset()
    assert get_hub().members("room.a") == frozenset()
    assert events["room"] == [("disconnect", CloseCode.NORMAL_CLOSURE, [])]


async def test_groups_left_when_view_fails(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in receive_group() is logged, closes with 1011, and leaves the group."""
    client.raise_view_exceptions = False  # the failure policy, as a client sees it
    with caplog.at_level(logging.ERROR, "django_wsviews"):
        async with client.connect("/ws/failing/") as ws:
            await abroadcast("failing", "boom")
            assert await ws.wait_closed(T) == CloseCode.INTERNAL_ERROR
    assert get_hub().members("failing") == frozenset()
    assert any("receive_group failed" in str(r.exc_info) for r in caplog.records)


async def test_group_messages_after_close_are_dropped(client: WebSocketClient) -> None:
    """A member that has gone leaves its groups: a broadcast to them reaches nobody, without error."""
    ws = await client.connect("/ws/room/a/")
    assert len(get_hub().members("room.a")) == 1
    await ws.close()
    assert get_hub().members("room.a") == frozenset()
    await abroadcast("room.a", "nobody hears this")
    async with client.connect("/ws/room/a/") as later:
        await abroadcast("room.a", "news")
        assert await later.receive(T) == "news"  # not the message sent before


async def test_join_after_close_raises() -> None:
    """join() once the connection has ended raises ConnectionClosed."""
    view = WebSocketView()
    view._state = State.CLOSED
    view._close_code = CloseCode.NORMAL_CLOSURE
    view._loop_thread = threading.get_ident()
    with pytest.raises(ConnectionClosed):
        await view.join("room.a")


async def test_no_groups_no_membership(client: WebSocketClient) -> None:
    """A connection that joins nothing gets no queue and no task."""
    async with client.connect("/ws/no-groups/") as ws:
        await ws.send("membership?")
        assert await ws.receive(T) == "None"


# Names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["lobby", "room.42", "a:b", "A-Z_0.9", "x" * 100, "user-5.room:main"]
)
def test_valid_group_names(name: str) -> None:
    """Letters, digits, hyphens, underscores, periods and colons, 1-100 of them."""
    assert validate_group_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "no spaces", "x" * 101, "@user:1", "ünï", "a/b", "tab\t", "line\n"]
)
def test_invalid_group_names(name: str) -> None:
    """Other names raise ValueError saying what is allowed."""
    with pytest.raises(ValueError, match="1 to 100 ASCII letters"):
        validate_group_name(name)


def test_group_name_type() -> None:
    """A name that is not a str raises TypeError."""
    with pytest.raises(TypeError, match="not int"):
        validate_group_name(42)


async def test_invalid_name_from_get_group_names(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid name from get_group_names() refuses the handshake (500), logging the ValueError."""
    client.raise_view_exceptions = False  # the failure policy, as a client sees it
    with (
        caplog.at_level(logging.ERROR, "django_wsviews"),
        pytest.raises(HandshakeRejected) as refused,
    ):
        await client.connect("/ws/bad-names/")
    assert refused.value.status == 500
    assert "Invalid group name 'no spaces allowed'" in caplog.text


async def test_str_group_names(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """group_names = "lobby" (a str, not a list) is an error naming the fix."""
    client.raise_view_exceptions = False  # the failure policy, as a client sees it
    with (
        caplog.at_level(logging.ERROR, "django_wsviews"),
        pytest.raises(HandshakeRejected),
    ):
        await client.connect("/ws/str-names/")
    assert "return a list of names, e.g. ['lobby']" in caplog.text


async def test_join_invalid_name_raises() -> None:
    """view.join() validates the name before anything else."""
    with pytest.raises(ValueError, match="Invalid group name"):
        WebSocketView().join("bad name")


async def test_broadcast_invalid_name() -> None:
    """abroadcast() and broadcast() validate the group name."""
    with pytest.raises(ValueError, match="Invalid group name"):
        await abroadcast("bad name", "x")
    with pytest.raises(TypeError):
        await abroadcast(None, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reserved"):
        await sync_to_async(broadcast)("@user:1", "x")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("text",), {"json": {}}, "not both"),
        ((), {}, "Pass a message"),
        ((42,), {}, "str or bytes, not int"),
        (("x",), {"sender": 42}, "sender is a str"),
        (("x",), {"meta": {"when": datetime.date(2024, 1, 1)}}, "meta must hold JSON"),
    ],
)
async def test_broadcast_argument_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    """Wrong content raises TypeError before anything is sent."""
    with pytest.raises(TypeError, match=match):
        await abroadcast("room.a", *args, **kwargs)


# The receive_group() hook ----------------------------------------------------


async def test_skip_the_sender(client: WebSocketClient) -> None:
    """receive_group() can skip a connection's own broadcasts (sender=connection_id)."""
    async with (
        client.connect("/ws/skip/s/") as one,
        client.connect("/ws/skip/s/") as two,
    ):
        await one.send("say from one")
        assert await two.receive(T) == "from one"
        await two.send("say from two")
        assert await one.receive(T) == "from two"


async def test_filter_on_meta(client: WebSocketClient) -> None:
    """meta reaches receive_group() decoded, for per-user visibility."""
    async with (
        client.connect("/ws/audience/r/?name=ann") as ann,
        client.connect("/ws/audience/r/?name=bob") as bob,
    ):
        await abroadcast("room.r", "psst", meta={"to": ["ann"]})
        await abroadcast("room.r", "all")
        assert await ann.receive(T) == "room.r: psst"
        assert await ann.receive(T) == "room.r: all"
        assert await bob.receive(T) == "room.r: all"


async def test_sync_hooks(client: WebSocketClient) -> None:
    """Plain-def hooks join, broadcast() from their thread, and get receive_group()."""
    async with client.connect("/ws/sync/") as ws:
        await ws.send("hi")
        assert await ws.receive(T) == 'sync:{"said": "hi"}'


async def test_json_view(client: WebSocketClient) -> None:
    """A JsonWebSocketView's broadcast reaches every member as the same JSON."""
    async with client.connect("/ws/json/") as one, client.connect("/ws/json/") as two:
        await one.send_json({"text": "hi", "n": [1, 2]})
        assert await one.receive_json(T) == {"text": "hi", "n": [1, 2]}
        assert await two.receive_json(T) == {"text": "hi", "n": [1, 2]}


def test_group_message_json() -> None:
    """GroupMessage.json() decodes text, and refuses bytes."""
    assert GroupMessage("g", '{"a": 1}').json() == {"a": 1}
    with pytest.raises(ValueError, match="binary"):
        GroupMessage("g", b"{}").json()


async def test_serialized_once_per_broadcast(client: WebSocketClient) -> None:
    """One broadcast to 50 members is JSON-encoded once, wrapped once, decoded once."""
    connections = await connect_all(client, "/ws/room/many/", 50)
    default = DjangoJSONEncoder.default
    with (
        mock.patch.object(
            DjangoJSONEncoder, "default", autospec=True, side_effect=default
        ) as encoder,
        mock.patch(
            "django_wsviews.groups.encode_message", wraps=envelope.encode_message
        ) as wrap,
        mock.patch("django_wsviews.hub.decode", wraps=hub.decode) as unwrap,
    ):
        await abroadcast("room.many", json={"at": datetime.date(2024, 1, 1)})
        received = await asyncio.gather(*(ws.receive_json(T) for ws in connections))
    assert received == [{"at": "2024-01-01"}] * 50
    assert encoder.call_count == 1
    assert wrap.call_count == 1
    assert unwrap.call_count == 1
    await close_all(connections)


# Broadcast from anywhere -----------------------------------------------------


async def test_sync_broadcast_from_a_thread_without_a_loop(
    client: WebSocketClient,
) -> None:
    """broadcast() from a plain thread (a command, the shell) reaches this process's members."""
    async with client.connect("/ws/room/t/") as ws:
        await asyncio.to_thread(broadcast, "room.t", "from a thread")
        assert await ws.receive(T) == "from a thread"


async def test_sync_broadcast_in_async_code_raises() -> None:
    """broadcast() in async code raises RuntimeError naming abroadcast()."""
    with pytest.raises(RuntimeError, match="await abroadcast"):
        broadcast("room.a", "x")


async def test_broadcast_without_members(client: WebSocketClient) -> None:
    """Broadcasting to a group nobody joined returns quietly, and is no one's later."""
    assert await abroadcast("room.empty", "into the void") is None
    assert get_hub().members("room.empty") == frozenset()
    async with client.connect("/ws/room/empty/") as later:
        await abroadcast("room.empty", "news")
        assert await later.receive(T) == "news"  # not the message sent before
        await later.assert_no_message()


# Users -----------------------------------------------------------------------


def test_user_group_names() -> None:
    """A user's group is named from its pk; odd pks are hashed; no pk is an error."""
    user = get_user_model()(pk=42)
    assert user_group_name(user) == "@user:42"
    assert user_group_name(42) == user_group_name("42") == "@user:42"
    hashed = user_group_name("odd pk/with slash")
    assert hashed.startswith("@user-sha:")
    with pytest.raises(ValueError, match="no primary key"):
        user_group_name(AnonymousUser())
    with pytest.raises(ValueError, match="no primary key"):
        user_group_name(get_user_model()())


@pytest.mark.django_db(transaction=True)
async def test_send_to_user_and_close_user_sockets(client: WebSocketClient) -> None:
    """Connections that joined the user's group get send_to_user() and are closed together."""
    user = await sync_to_async(get_user_model().objects.create_user)("ann")
    await client.aforce_login(user)
    loaded = await client.connect("/ws/user/?load=1")  # connect() loaded the user
    forced = await client.connect("/ws/user-load/")  # user_group = True
    lazy = await client.connect("/ws/user/")  # user never loaded: not joined
    never = await client.connect("/ws/user-never/?load=1")  # user_group = False
    group = user_group_name(user)
    for ws, expected in [(loaded, group), (forced, group), (lazy, ""), (never, "")]:
        await ws.send("who")
        assert await ws.receive(T) == expected

    await asend_to_user(user, json={"hello": "ann"})
    assert await loaded.receive_json(T) == {"hello": "ann"}
    assert await forced.receive_json(T) == {"hello": "ann"}

    await aclose_user_sockets(user.pk, CloseCode.FORBIDDEN, "Banned.")
    assert await loaded.wait_closed(T) == CloseCode.FORBIDDEN
    assert loaded.close_reason == "Banned."
    assert await forced.wait_closed(T) == CloseCode.FORBIDDEN
    for ws in (lazy, never):  # not members: still open
        await ws.send("who")
        assert await ws.receive(T) == ""
        await ws.close()


@pytest.mark.django_db(transaction=True)
async def test_sync_user_helpers_default_code(client: WebSocketClient) -> None:
    """send_to_user() and close_user_sockets() work from sync code; the default code is 4401."""
    user = await sync_to_async(get_user_model().objects.create_user)("bob")
    await client.aforce_login(user)
    ws = await client.connect("/ws/user-load/")
    await sync_to_async(send_to_user)(user, "hi bob")
    assert await ws.receive(T) == "hi bob"
    await sync_to_async(close_user_sockets)(user)
    assert await ws.wait_closed(T) == CloseCode.UNAUTHORIZED


async def test_anonymous_connection_joins_no_user_group(
    client: WebSocketClient,
) -> None:
    """An anonymous user has no user group, even with user_group = True."""
    async with client.connect("/ws/user-load/") as ws:
        await ws.send("who")
        assert await ws.receive(T) == ""


@pytest.mark.parametrize(
    ("code", "reason", "match"),
    [
        (1005, "", "not a close code"),
        (999, "", "not a close code"),
        (4000, "é" * 62, "123"),
    ],
)
async def test_close_user_sockets_checks_code(
    code: int, reason: str, match: str
) -> None:
    """A code a server may not send, or an over-long reason, raises ValueError at once."""
    with pytest.raises(ValueError, match=match):
        await aclose_user_sockets(1, code, reason)


@pytest.mark.parametrize(
    "module_name",
    [
        "django_wsviews.backends",
        "django_wsviews.backends.memory",
        "django_wsviews.backends.postgres",
        "django_wsviews.backends.redis",
        "django_wsviews.envelope",
        "django_wsviews.groups",
        "django_wsviews.hub",
        "django_wsviews.membership",
    ],
)
def test_group_modules_all(module_name: str) -> None:
    """Every name the group modules list in __all__ exists, and each has a docstring."""
    module = importlib.import_module(module_name)
    assert module.__doc__
    assert module.__all__
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def test_broadcast_outside_a_server_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On the in-memory backend, a broadcast from a process serving nothing says it reaches nobody, once."""
    monkeypatch.setattr(hub, "_serving", False)
    monkeypatch.setattr("django_wsviews.groups._warned_nobody_listens", False)
    with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
        broadcast("room.shell", "hello")
        broadcast("room.shell", "again")
    [record] = caplog.records
    assert "WSVIEWS_BACKEND" in record.getMessage()
    assert "RedisBackend" in record.getMessage()
    assert "PostgresBackend" in record.getMessage()


async def test_broadcast_from_a_server_does_not_warn(
    client: WebSocketClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a connection joined a group here, broadcasts are a server's, and are not warned about."""
    monkeypatch.setattr(hub, "_serving", False)
    monkeypatch.setattr("django_wsviews.groups._warned_nobody_listens", False)
    async with client.connect("/ws/room/lobby/"):
        with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
            await abroadcast("room.elsewhere", "hello")
    assert caplog.records == []
