"""
Many groups on one connection: the work per join, the per-connection limit,
and subscriptions batched at the backend.

The work is counted, never timed: group names here count how often they are
hashed, which is how often a set or dict looks at them.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from django.urls import path

from django_wsviews import Limits, TooManyGroups, WebSocketError, WebSocketView
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.hub import get_hub
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .support.groups_support import RedisServer

pytestmark = pytest.mark.urls("tests.test_groups_scale")

T = 5.0  # seconds: the bound of every wait


class HeldView(WebSocketView):
    """Accept, and hand the view to the test, which joins and leaves through it."""

    opened: ClassVar[list[WebSocketView]] = []

    async def connect(self) -> None:
        await self.accept()
        self.opened.append(self)


class ManyNamesView(HeldView):
    """Join ``?n=`` groups on accept."""

    def get_group_names(self) -> list[str]:
        return [f"many.{n}" for n in range(int(self.request.GET["n"]))]


class CatchingView(WebSocketView):
    """``join a b c`` joins those groups; a refusal is told to the client."""

    limits = Limits(max_groups_per_connection=2)

    async def receive(self, message: str | bytes) -> None:
        try:
            await self.join(*str(message).split()[1:])
        except TooManyGroups as exc:
            await self.send(f"refused: {exc.count} > {exc.limit}")
        else:
            await self.send(",".join(sorted(self.joined_groups)))


urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/held/", HeldView.as_view()),
    path("ws/capped/", HeldView.as_view(limits=Limits(max_groups_per_connection=3))),
    path("ws/many/", ManyNamesView.as_view()),
    path("ws/many-user/", ManyNamesView.as_view(user_group=True)),
    path("ws/catching/", CatchingView.as_view()),
]


class CountedName(str):
    """A group name that counts how often it is hashed, in ``CountedName.hashes``."""

    hashes = 0

    def __hash__(self) -> int:
        CountedName.hashes += 1
        return str.__hash__(self)


@pytest.fixture
def client(settings: Any) -> Iterator[WebSocketClient]:
    """Return a test client; handshakes skip the middleware (no thread per connection)."""
    settings.WSVIEWS_MIDDLEWARE = []
    HeldView.opened.clear()
    yield WebSocketClient(timeout=T)
    HeldView.opened.clear()


async def open_held(
    client: WebSocketClient, url: str = "/ws/held/"
) -> tuple[WebSocketTestConnection, WebSocketView]:
    """Open a connection to a HeldView; return it and its view."""
    ws = await client.connect(url)
    return ws, HeldView.opened.pop()


# The work of a join ---------------------------------------------------------------


async def test_join_examines_a_bounded_number_of_groups(
    client: WebSocketClient, settings: Any
) -> None:
    """The 1,000th join of a connection looks at no more groups than its 1st did."""
    settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION = None
    ws, view = await open_held(client)

    async def hashes_of_joins(numbers: range) -> int:
        before = CountedName.hashes
        for n in numbers:
            await view.join(CountedName(f"scale.{n}"))
        return CountedName.hashes - before

    first = await hashes_of_joins(range(100))
    await hashes_of_joins(range(100, 900))
    last = await hashes_of_joins(range(900, 1000))
    assert len(view.joined_groups) == 1000
    assert last <= first, f"joins 901-1000 hashed {last} names, joins 1-100 {first}"
    await ws.close()


async def test_leave_examines_a_bounded_number_of_groups(
    client: WebSocketClient, settings: Any
) -> None:
    """Leaving one of 1,000 groups (and the unsubscription it causes) looks at a few names."""
    settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION = None
    ws, view = await open_held(client)
    await asyncio.gather(*(view.join(CountedName(f"scale.{n}")) for n in range(1000)))
    before = CountedName.hashes
    for n in range(100):
        await view.leave(CountedName(f"scale.{n}"))
        await view.join(CountedName(f"other.{n}"))  # waits for the hub's turn
    per_change = (CountedName.hashes - before) / 200
    assert per_change < 20, f"{per_change} names hashed per join or leave"
    assert len(view.joined_groups) == 1000
    await ws.close()


# The limit -------------------------------------------------------------------------


async def test_limit_refuses_the_join_past_it(client: WebSocketClient) -> None:
    """Past max_groups_per_connection, join() raises TooManyGroups and joins none of its groups."""
    ws, view = await open_held(client, "/ws/capped/")
    await view.join("a", "b")
    with pytest.raises(TooManyGroups) as refused:
        await view.join("c", "d")
    assert (refused.value.limit, refused.value.count) == (3, 4)
    assert isinstance(refused.value, WebSocketError)
    assert "max_groups_per_connection" in str(refused.value)
    assert view.joined_groups == {"a", "b"}
    await view.join("c")
    with pytest.raises(TooManyGroups):
        await view.join("d")
    await view.leave("a")
    await view.join("d")
    assert view.joined_groups == {"b", "c", "d"}
    await ws.close()


async def test_limit_counts_a_group_once(client: WebSocketClient) -> None:
    """Joining a group the connection is in, or naming it twice, does not count twice."""
    ws, view = await open_held(client, "/ws/capped/")
    await view.join("a", "b", "a")
    await view.join("a")
    await view.join("b", "c", "c")
    assert view.joined_groups == {"a", "b", "c"}
    await ws.close()


async def test_limit_from_setting_and_view(settings: Any) -> None:
    """The limit of groups is the view's, else the setting (100)."""

    def limit(view: WebSocketView) -> int | None:
        return view.get_limits().max_groups_per_connection

    assert limit(WebSocketView()) == 100
    settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION = 5
    assert limit(WebSocketView()) == 5
    settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION = None
    assert limit(WebSocketView()) is None
    assert limit(CatchingView()) == 2


async def test_limit_refusal_reaches_the_hook(client: WebSocketClient) -> None:
    """A hook may catch TooManyGroups and tell the client; the connection stays up."""
    async with client.connect("/ws/catching/") as ws:
        await ws.send("join a b")
        assert await ws.receive(T) == "a,b"
        await ws.send("join c")
        assert await ws.receive(T) == "refused: 3 > 2"
        await ws.send("join b")
        assert await ws.receive(T) == "a,b"


async def test_groups_on_accept_count(client: WebSocketClient) -> None:
    """get_group_names() may fill the limit exactly; then no other join is allowed."""
    ws, view = await open_held(client, "/ws/many/?n=100")
    assert len(view.joined_groups) == 100
    with pytest.raises(TooManyGroups):
        await view.join("one.more")
    await view.join("many.0")
    await ws.close()


async def test_groups_on_accept_past_the_limit_refuse_the_handshake(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """More groups on accept than the limit is a programming error: 500, logged, naming the fix."""
    client.raise_view_exceptions = False  # the failure policy, as a client sees it
    with (
        caplog.at_level(logging.ERROR, "django_wsviews"),
        pytest.raises(HandshakeRejected) as refused,
    ):
        await client.connect("/ws/many/?n=101")
    assert refused.value.status == 500
    assert "ManyNamesView would be in 101 groups on accept" in caplog.text
    assert "WSVIEWS_MAX_GROUPS_PER_CONNECTION" in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_user_group_counts_on_accept(caplog: pytest.LogCaptureFixture) -> None:
    """The user's group counts too: 100 names and the user's group refuse the handshake."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    client = WebSocketClient(
        timeout=T, raise_view_exceptions=False
    )  # with the middleware, for the session
    user = await sync_to_async(get_user_model().objects.create_user)("ann")
    await client.aforce_login(user)
    ws, view = await open_held(client, "/ws/many-user/?n=99")
    assert len(view.joined_groups) == 100
    assert f"@user:{user.pk}" in view.joined_groups
    await ws.close()
    with (
        caplog.at_level(logging.ERROR, "django_wsviews"),
        pytest.raises(HandshakeRejected) as refused,
    ):
        await client.connect("/ws/many-user/?n=100")
    assert refused.value.status == 500
    assert "would be in 101 groups on accept" in caplog.text


async def test_join_refuses_a_list(client: WebSocketClient) -> None:
    """join(["a", "b"]) raises TypeError naming the fix: join(*names)."""
    ws, view = await open_held(client)
    with pytest.raises(TypeError) as refused:
        await view.join(["a", "b"])  # type: ignore[arg-type]
    assert str(refused.value) == (
        "join() takes group names, not a list: unpack it, as in join(*names)."
    )
    assert view.joined_groups == frozenset()
    await ws.close()


# Subscriptions at the backend ------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: pathlib.Path, settings: Any) -> Iterator[RedisServer]:
    """Start a redis-server of the test's own and use it as the backend; kill it after."""
    server = RedisServer(tmp_path)
    server.start()
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": server.url, "PREFIX": f"scale-{uuid.uuid4().hex[:8]}"},
    }
    try:
        yield server
    finally:
        server.kill()


def subscribe_calls(server: RedisServer) -> int:
    """Return how many SUBSCRIBE commands the server has run (INFO commandstats)."""
    watcher = server.client()
    try:
        stats = watcher.info("commandstats")
    finally:
        watcher.close()
    return int(stats.get("cmdstat_subscribe", {}).get("calls", 0))


async def test_one_join_of_1000_groups_is_one_subscribe(
    client: WebSocketClient, settings: Any, redis_server: RedisServer
) -> None:
    """join(*names) with 1,000 names sends Redis one SUBSCRIBE (or two, racing the connect)."""
    settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION = None
    ws, view = await open_held(client)
    await view.join(*(f"batch.{n}" for n in range(1000)))
    assert len(view.joined_groups) == 1000
    assert subscribe_calls(redis_server) <= 2
    await ws.close()
    await get_hub().close()


async def test_groups_on_accept_are_one_subscribe(
    client: WebSocketClient, redis_server: RedisServer
) -> None:
    """The 100 groups of get_group_names() are subscribed together, before the accept."""
    ws = await client.connect("/ws/many/?n=100")
    assert subscribe_calls(redis_server) <= 2
    await ws.close()
    await get_hub().close()


async def test_concurrent_joins_share_a_subscribe(
    client: WebSocketClient, settings: Any, redis_server: RedisServer
) -> None:
    """1,000 joins of one socket made in the same turn of the loop share one SUBSCRIBE."""
    settings.WSVIEWS_MAX_GROUPS_PER_CONNECTION = None
    ws, view = await open_held(client)
    await asyncio.gather(*(view.join(f"turn.{n}") for n in range(1000)))
    assert len(view.joined_groups) == 1000
    assert subscribe_calls(redis_server) <= 2
    await ws.close()
    await get_hub().close()
