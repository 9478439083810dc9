"""Presence through views and the API (django_wsviews.presence), on the in-memory backend."""

from __future__ import annotations

import json
import logging
import re
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_wsviews import PresenceMember, WebSocketView, apresence, presence
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.presence import MAX_META_SIZE
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .support.groups_support import spare_port

pytestmark = pytest.mark.urls("tests.support.presence_urls")

T = 5.0  # seconds: the bound of every receive


@pytest.fixture
def client(settings: Any) -> WebSocketClient:
    """Return a test client; the user comes from ``?user=``."""
    settings.WSVIEWS_MIDDLEWARE = ["tests.support.presence_views.user_from_query"]
    return WebSocketClient(timeout=T)


async def events_until_marker(
    connection: WebSocketTestConnection, marker: str
) -> list[dict[str, Any]]:
    """
    Return the presence events ``connection`` gets before ``marker``.

    The marker is broadcast to the room by the connection itself after the
    changes under test, so every event they caused is queued before it.
    """
    await connection.send(f"say {marker}")
    found: list[dict[str, Any]] = []
    while True:
        message = await connection.receive_text()
        if message == marker:
            return found
        found.append(json.loads(message))


def keys(event: dict[str, Any], side: str) -> list[str]:
    """Return the keys of an event's ``joins`` or ``leaves``."""
    return sorted(event[side])


async def test_one_member_per_user_with_each_connection(
    client: WebSocketClient,
) -> None:
    """Three tabs of a user are one member with three connections; anonymous ones count apiece."""
    tabs = [
        await client.connect(f"/ws/presence/lobby/?user=1&device={d}")
        for d in ("laptop", "phone", "tablet")
    ]
    other = await client.connect("/ws/presence/lobby/?user=2")
    anonymous = await client.connect("/ws/presence/lobby/")
    anonymous_id = await _connection_id(anonymous)
    members = await apresence("room.lobby")
    assert list(members) == sorted(["user:1", "user:2", f"conn:{anonymous_id}"])
    ada = members["user:1"]
    assert isinstance(ada, PresenceMember)
    assert sorted(meta["device"] for meta in ada.connections.values()) == [
        "laptop",
        "phone",
        "tablet",
    ]
    assert all(
        meta["user_id"] == 1 and meta["username"] == "user1"
        for meta in ada.connections.values()
    )
    assert members["user:2"].connections == {
        next(iter(members["user:2"].connections)): {"user_id": 2, "username": "user2"}
    }
    assert members[f"conn:{anonymous_id}"].as_json() == {
        "connections": {anonymous_id: {}}
    }
    for connection in [*tabs, other, anonymous]:
        await connection.close()
    assert await apresence("room.lobby") == {}


@pytest.mark.django_db(transaction=True)
async def test_metadata_read_in_connect_before_the_accept(
    client: WebSocketClient,
) -> None:
    """What connect() loads from the database before accepting is in the metadata."""
    from django.contrib.auth.models import User

    await User.objects.acreate(username="ada", first_name="Ada", last_name="L")
    async with client.connect("/ws/presence-meta-from-connect/?name=ada") as ws:
        members = await apresence("from-connect")
        [meta] = next(iter(members.values())).connections.values()
        assert meta == {"name": "Ada L"}
        await ws.close()


async def _answer(connection: WebSocketTestConnection) -> str:
    """Return the next message that is not a presence event."""
    while True:
        message = await connection.receive_text()
        if not message.startswith('{"event": "wsviews.presence_'):
            return message


async def _connection_id(connection: WebSocketTestConnection) -> str:
    """Return the view's connection id, passing over what the room sent before it."""
    await connection.send("id")
    while True:
        message = await connection.receive_text()
        if re.fullmatch("[0-9a-f]{32}", message):
            return message


async def test_diffs_for_the_first_and_last_tab_only(client: WebSocketClient) -> None:
    """Members hear one join when a user's first tab opens and one leave when the last closes."""
    observer = await client.connect("/ws/presence/hall/?user=9")
    first = await events_until_marker(observer, "m0")
    assert [keys(e, "joins") for e in first] == [["user:9"]]  # its own arrival
    tabs = [await client.connect("/ws/presence/hall/?user=1") for _ in range(3)]
    events = await events_until_marker(observer, "m1")
    assert len(events) == 1
    (joined,) = events
    assert joined["event"] == "wsviews.presence_diff"
    assert joined["group"] == "room.hall"
    assert joined["leaves"] == {}
    assert list(joined["joins"]) == ["user:1"]
    assert joined["joins"]["user:1"] == {
        "connections": {
            await _connection_id(tabs[0]): {"user_id": 1, "username": "user1"}
        }
    }
    await tabs[0].close()
    await tabs[1].close()
    assert await events_until_marker(observer, "m2") == []
    last_id = await _connection_id(tabs[2])
    await tabs[2].close()
    (left,) = await events_until_marker(observer, "m3")
    assert left["joins"] == {}
    assert left["leaves"] == {
        "user:1": {"connections": {last_id: {"user_id": 1, "username": "user1"}}}
    }
    await observer.close()


async def test_full_list_on_connect(client: WebSocketClient) -> None:
    """A view that asks sends the full list first, itself included."""
    present = await client.connect("/ws/presence/den/?user=1")
    newcomer = await client.connect("/ws/presence/den/?user=2&state=1")
    state = await newcomer.receive_json()
    assert state["event"] == "wsviews.presence_state"
    assert state["group"] == "room.den"
    assert sorted(state["members"]) == ["user:1", "user:2"]
    assert list(state["members"]["user:2"]["connections"].values()) == [
        {"user_id": 2, "username": "user2"}
    ]
    await present.close()
    await newcomer.close()


async def test_the_groups_are_joined_too(client: WebSocketClient) -> None:
    """presence_groups (a class attribute) are joined, and present in."""
    connection = await client.connect("/ws/presence-attr/?user=3")
    assert set((await apresence("lobby")).keys()) == {"user:3"}
    assert set((await apresence("hall")).keys()) == {"user:3"}
    await connection.close()
    assert await apresence("hall") == {}


async def test_leave_when_the_view_fails(client: WebSocketClient) -> None:
    """A connection that ends with an error leaves as well."""
    client.raise_view_exceptions = False
    connection = await client.connect("/ws/presence/fail/?user=4")
    assert list(await apresence("room.fail")) == ["user:4"]
    await connection.send("fail")
    assert (await connection.wait_closed()).code == 1011
    assert await apresence("room.fail") == {}


async def test_sync_presence_from_a_plain_def_hook(client: WebSocketClient) -> None:
    """presence() works in a worker thread of the server process."""
    one = await client.connect("/ws/presence-sync/sync/?user=1")
    two = await client.connect("/ws/presence-sync/sync/?user=1")
    await one.send("list")
    assert await _answer(one) == "user:1=2"
    await one.close()
    await two.close()


async def test_sync_presence_in_async_code_raises() -> None:
    """presence() refuses to run on an event loop, naming apresence()."""
    with pytest.raises(RuntimeError, match="await apresence"):
        presence("room.lobby")


def test_sync_presence_without_a_loop() -> None:
    """presence() from a thread with no event loop: nobody there, no error."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(presence("room.empty")))
    thread.start()
    thread.join(T)
    assert result == [{}]


@pytest.mark.parametrize("name", ["no spaces", "", "@user:1", "x" * 101])
async def test_invalid_group_names_are_refused(name: str) -> None:
    """apresence() refuses an invalid group name."""
    with pytest.raises(ValueError, match="Invalid group name"):
        await apresence(name)


async def test_group_name_type() -> None:
    """apresence() refuses a name that is not a str."""
    with pytest.raises(TypeError, match="not int"):
        await apresence(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/ws/presence-bad-meta/x/", "returned what JSON cannot encode"),
        ("/ws/presence-huge-meta/x/", f"over the limit of {MAX_META_SIZE}"),
        ("/ws/presence-list-meta/x/", "must return a dict, not list"),
        ("/ws/presence-bad-group/", "Invalid group name 'no spaces allowed'"),
        ("/ws/presence-str-group/", "return a list of names, e.g. ['lobby']"),
    ],
    ids=["not-json", "huge", "not-a-dict", "bad-group", "str-groups"],
)
async def test_bad_declarations_refuse_the_handshake(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture, path: str, logged: str
) -> None:
    """Metadata that is not a small JSON dict, or bad group names: 500, and the fix logged."""
    client.raise_view_exceptions = False  # the failure policy, as a client sees it
    with (
        caplog.at_level(logging.ERROR, "django_wsviews"),
        pytest.raises(HandshakeRejected) as refused,
    ):
        await client.connect(path)
    assert refused.value.status == 500
    assert logged in caplog.text
    assert await apresence("room.x") == {}


def test_default_meta() -> None:
    """By default: the user's id and name when authenticated, nothing otherwise."""
    from django.contrib.auth.models import AnonymousUser

    from .support.presence_views import QueryUser

    view = WebSocketView()
    request: Any = types.SimpleNamespace(user=QueryUser(5))
    view.request = request
    assert view.get_presence_meta() == {"user_id": 5, "username": "user5"}
    request.user = AnonymousUser()
    assert view.get_presence_meta() == {}


@pytest.fixture
def unreachable_redis() -> Iterator[None]:
    """Point the group backend at a port where no Redis listens."""
    backend = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {
            "URL": f"redis://127.0.0.1:{spare_port()}/0",
            "SUBSCRIBE_TIMEOUT": 0.2,
            "CONNECTION_KWARGS": {"socket_connect_timeout": 0.5},
        },
    }
    with override_settings(WSVIEWS_BACKEND=backend):
        yield


@pytest.mark.usefixtures("unreachable_redis")
async def test_an_unreachable_store_leaves_the_connection_up(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Without its server, presence is logged as missing and the connection is served."""
    with caplog.at_level(logging.ERROR, "django_wsviews.presence"):
        connection = await client.connect("/ws/presence/down/?user=1")
        await connection.send("id")
        assert len(await connection.receive_text()) == 32
        await connection.close()
    assert "Could not enter WebSocket /ws/presence/down/" in caplog.text


async def test_a_backend_without_a_presence_store_refuses_presence(
    client: WebSocketClient, settings: Any
) -> None:
    """On a group backend with no presence store, a presence view is refused with 500, and apresence() raises."""
    settings.WSVIEWS_BACKEND = "tests.support.promise_views.StorelessBackend"
    client.raise_view_exceptions = False
    with pytest.raises(HandshakeRejected) as refused:
        await client.connect("/ws/presence/lobby/?user=ada")
    assert refused.value.status == 500
    with pytest.raises(ImproperlyConfigured, match="has no presence store"):
        await apresence("room.lobby")
