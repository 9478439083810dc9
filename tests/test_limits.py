"""Tests for django_wsviews.limits and the limits views enforce."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_wsviews import CloseCode, ConnectionClosed, Limits, WebSocketView
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.limits import TokenBucket, message_size_exceeds, parse_rate
from django_wsviews.testing import WebSocketClient


class TestParseRate:
    @pytest.mark.parametrize(
        ("rate", "expected"),
        [
            ("20/s", (20.0, 1.0)),
            ("600/min", (600.0, 60.0)),
            ("100/10s", (100.0, 10.0)),
            ("5/h", (5.0, 3600.0)),
            ((3, 2), (3.0, 2.0)),
            (None, None),
        ],
    )
    def test_valid(self, rate: object, expected: object) -> None:
        """Rates parse to (messages, seconds)."""
        assert parse_rate(rate) == expected  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "rate", ["fast", "10", "10/fortnight", (0, 1), (1,), "x/s"]
    )
    def test_invalid(self, rate: object) -> None:
        """A malformed rate raises ImproperlyConfigured naming the accepted forms."""
        with pytest.raises(ImproperlyConfigured, match="N/s"):
            parse_rate(rate)  # type: ignore[arg-type]

    def test_invalid_names_the_rate_and_every_form(self) -> None:
        """The error quotes the rate given and lists the forms a string or a tuple may take."""
        forms = (
            "write it as 'N/s', 'N/min', 'N/h' or 'N/10s', or as a (messages, seconds)"
        )
        with pytest.raises(ImproperlyConfigured) as string:
            parse_rate("fast")
        assert str(string.value) == f"Invalid rate 'fast': {forms} tuple."
        with pytest.raises(ImproperlyConfigured) as pair:
            parse_rate((0, 1))
        assert str(pair.value) == (
            f"Invalid rate (0, 1): {forms} tuple of positive numbers."
        )


class TestLimits:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("max_message_size", 0),
            ("max_message_size", 1.5),
            ("max_message_size", True),
            ("max_connections_per_user", -1),
            ("max_groups_per_connection", "100"),
            ("idle_timeout", 0),
            ("idle_timeout", "60"),
            ("idle_timeout", False),
            ("session_recheck_interval", -1),
            ("session_recheck_interval", "60"),
            ("session_recheck_interval", True),
            ("rate", "20 per second"),
        ],
    )
    def test_invalid_value_is_refused_where_made(
        self, field: str, value: object
    ) -> None:
        """An invalid limit raises ImproperlyConfigured when the Limits is made, naming the field."""
        with pytest.raises(
            ImproperlyConfigured, match=field if field != "rate" else "N/s"
        ):
            Limits(**{field: value})  # type: ignore[arg-type]

    @override_settings(
        WSVIEWS_MAX_MESSAGE_SIZE=10,
        WSVIEWS_RATE_LIMIT="5/s",
        WSVIEWS_IDLE_TIMEOUT=30,
        WSVIEWS_MAX_CONNECTIONS_PER_USER=3,
        WSVIEWS_MAX_GROUPS_PER_CONNECTION=7,
        WSVIEWS_SESSION_RECHECK_INTERVAL=60,
    )
    def test_get_limits_takes_each_unset_field_from_the_settings(self) -> None:
        """A view's own field wins; each field it leaves None is the project's setting."""

        class View(WebSocketView):
            limits = Limits(idle_timeout=2, max_groups_per_connection=1)

        assert View().get_limits() == Limits(
            max_message_size=10,
            rate=(5.0, 1.0),
            idle_timeout=2,
            max_connections_per_user=3,
            max_groups_per_connection=1,
            session_recheck_interval=60,
        )
        assert (
            View(limits=Limits(session_recheck_interval=0))
            .get_limits()
            .session_recheck_interval
            == 0
        )
        as_view_kwarg = View(limits=Limits(max_message_size=4)).get_limits()
        assert (as_view_kwarg.max_message_size, as_view_kwarg.idle_timeout) == (4, 30)

    def test_get_limits_follows_a_changed_setting(self) -> None:
        """Resolved limits are remembered per Limits, but a setting change is seen."""
        view = WebSocketView()
        with override_settings(WSVIEWS_IDLE_TIMEOUT=5):
            assert view.get_limits().idle_timeout == 5
            assert view.get_limits() is view.get_limits()
        with override_settings(WSVIEWS_IDLE_TIMEOUT=7):
            assert view.get_limits().idle_timeout == 7
        assert view.get_limits().idle_timeout is None


class TestTokenBucket:
    def test_burst_then_refill(self) -> None:
        """A bucket allows a burst of its size, then refills at its rate."""
        bucket = TokenBucket((2, 1.0), now=0.0)
        assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
        assert bucket.take(0.25) is False  # half a token back: not enough
        assert bucket.take(0.5) is True  # one whole token back

    def test_never_above_capacity(self) -> None:
        """A long pause refills to the capacity, not beyond."""
        bucket = TokenBucket((2, 1.0), now=0.0)
        assert [bucket.take(100.0) for _ in range(3)] == [True, True, False]


class TestMessageSize:
    @pytest.mark.parametrize(
        ("message", "limit", "over"),
        [
            ("12345678", 8, False),
            ("123456789", 8, True),
            ("éééé", 8, False),
            ("ééééé", 8, True),
            (b"\x00" * 8, 8, False),
            (b"\x00" * 9, 8, True),
            ("", 0, False),
        ],
    )
    def test_counts_utf8_bytes(
        self, message: str | bytes, limit: int, over: bool
    ) -> None:
        """Text is measured in UTF-8 bytes, bytes as they are."""
        assert message_size_exceeds(message, limit) is over


class TestEnforced:
    async def test_oversized_message_closes_1009(
        self, client_ws: WebSocketClient
    ) -> None:
        """A message over max_message_size closes with 1009 and is not handled."""
        async with client_ws.connect("/ws/small/") as ws:
            await ws.send("éééé")
            assert await ws.receive() == "éééé"
            await ws.send("ééééé")
            assert await ws.wait_closed() == CloseCode.MESSAGE_TOO_BIG

    async def test_default_limit_is_one_mebibyte(
        self, client_ws: WebSocketClient
    ) -> None:
        """By default 1 MiB passes and one byte more closes with 1009."""
        async with client_ws.connect("/ws/echo/") as ws:
            await ws.send(b"x" * 2**20)
            assert len(await ws.receive()) == 2**20
            await ws.send(b"x" * (2**20 + 1))
            assert await ws.wait_closed() == CloseCode.MESSAGE_TOO_BIG

    @override_settings(WSVIEWS_MAX_MESSAGE_SIZE=None)
    async def test_limit_can_be_lifted(self, client_ws: WebSocketClient) -> None:
        """WSVIEWS_MAX_MESSAGE_SIZE=None lifts the limit."""
        async with client_ws.connect("/ws/echo/") as ws:
            await ws.send(b"x" * (2**20 + 1))
            assert len(await ws.receive()) == 2**20 + 1

    async def test_rate_limit_closes_1008(self, client_ws: WebSocketClient) -> None:
        """Past the rate limit the connection closes with 1008 (policy violation)."""
        async with client_ws.connect("/ws/rate/") as ws:
            for i in range(3):
                await ws.send(str(i))
                assert await ws.receive() == str(i)
            await ws.send("one too many")
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
        assert closed.value.code == CloseCode.POLICY_VIOLATION
        assert closed.value.reason == "Rate limit exceeded."

    async def test_rate_limit_hook_can_keep_the_socket(
        self, client_ws: WebSocketClient
    ) -> None:
        """An overridden handle_rate_limit_exceeded() can answer instead of closing."""
        async with client_ws.connect("/ws/lenient-rate/") as ws:
            for message in ["a", "b", "c", "d"]:
                await ws.send(message)
            answers = [await ws.receive() for _ in range(4)]
        assert answers == ["a", "b", "slow down", "slow down"]

    @pytest.mark.django_db(transaction=True)
    async def test_get_limits_varies_them_per_user(self) -> None:
        """A get_limits() override lifts the rate limit for staff only."""
        staff = WebSocketClient()
        await staff.aforce_login(
            await User.objects.acreate(username="boss", is_staff=True)
        )
        async with staff.connect("/ws/rate-but-staff/") as ws:
            for i in range(5):
                await ws.send(str(i))
                assert await ws.receive() == str(i)
        others = WebSocketClient()
        await others.aforce_login(await User.objects.acreate(username="clerk"))
        async with others.connect("/ws/rate-but-staff/") as ws:
            for i in range(3):
                await ws.send(str(i))
                assert await ws.receive() == str(i)
            await ws.send("one too many")
            assert await ws.wait_closed() == CloseCode.POLICY_VIOLATION

    @override_settings(WSVIEWS_RATE_LIMIT="1/h")
    async def test_project_rate_limit(self, client_ws: WebSocketClient) -> None:
        """WSVIEWS_RATE_LIMIT applies to views that set no rate of their own."""
        async with client_ws.connect("/ws/echo/") as ws:
            await ws.send("a")
            assert await ws.receive() == "a"
            await ws.send("b")
            assert await ws.wait_closed() == CloseCode.POLICY_VIOLATION

    async def test_idle_connection_closes_1001(
        self, client_ws: WebSocketClient
    ) -> None:
        """A connection with no traffic for idle_timeout seconds closes with 1001."""
        async with client_ws.connect("/ws/idle/") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive(timeout=5)
        assert (closed.value.code, closed.value.reason) == (
            CloseCode.GOING_AWAY,
            "Idle.",
        )


@pytest.mark.django_db(transaction=True)
class TestConnectionsPerUser:
    async def test_refused_with_429_past_the_limit(self) -> None:
        """A user's third socket is refused with 429; closing one makes room again."""
        user = await User.objects.acreate(username="busy")
        client = WebSocketClient()
        await client.aforce_login(user)
        first = await client.connect("/ws/per-user/")
        second = await client.connect("/ws/per-user/")
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/per-user/")
        assert refused.value.status == 429
        await first.close()
        third = await client.connect("/ws/per-user/")
        assert await third.receive() == "busy"
        await second.close()
        await third.close()

    async def test_users_are_counted_apart(self) -> None:
        """One user's connections do not count against another's."""
        clients = []
        for name in ("ann", "bob"):
            client = WebSocketClient()
            await client.aforce_login(await User.objects.acreate(username=name))
            clients.append(client)
        sockets = [await c.connect("/ws/per-user/") for c in clients for _ in range(2)]
        # Each user is at the limit (2), not over it: all four are served...
        names = [await ws.receive() for ws in sockets]
        assert names == ["ann", "ann", "bob", "bob"]
        # ...and a third of either user's is refused.
        for client in clients:
            with pytest.raises(HandshakeRejected) as refused:
                await client.connect("/ws/per-user/")
            assert refused.value.status == 429
        for ws in sockets:
            await ws.close()

    @override_settings(WSVIEWS_MAX_CONNECTIONS_PER_USER=1)
    async def test_project_setting(self) -> None:
        """WSVIEWS_MAX_CONNECTIONS_PER_USER applies to views without their own limit."""
        user = await User.objects.acreate(username="single")
        client = WebSocketClient()
        await client.aforce_login(user)
        async with client.connect("/ws/user/"):
            with pytest.raises(HandshakeRejected) as refused:
                await client.connect("/ws/user/")
        assert refused.value.status == 429

    @override_settings(WSVIEWS_MAX_CONNECTIONS_PER_USER=2)
    async def test_a_closed_socket_frees_one_slot_only(self) -> None:
        """Closing one of a user's sockets frees one slot: the others still count."""
        user = await User.objects.acreate(username="juggler")
        client = WebSocketClient()
        await client.aforce_login(user)
        first = await client.connect("/ws/user/")
        second = await client.connect("/ws/user/")
        await first.close()
        third = await client.connect("/ws/user/")
        with pytest.raises(HandshakeRejected) as refused:
            await client.connect("/ws/user/")
        assert refused.value.status == 429
        await second.close()
        await third.close()

    @override_settings(WSVIEWS_MAX_CONNECTIONS_PER_USER=1)
    async def test_anonymous_connections_are_not_counted(self) -> None:
        """The limit is per authenticated user; anonymous sockets are not limited by it."""
        client = WebSocketClient()
        first = await client.connect("/ws/echo/")
        second = await client.connect("/ws/echo/")
        for ws in (first, second):
            await ws.send("anonymous")
            assert await ws.receive() == "anonymous"
        await first.close()
        await second.close()


# What docs/security.rst promises of the limits, through a connection --------


async def test_four_byte_characters_are_counted_in_utf8(
    client_ws: WebSocketClient,
) -> None:
    """Text is measured in UTF-8 before decoding: two 4-byte characters fit in 8 bytes, one byte more closes 1009."""
    async with client_ws.connect("/ws/small/") as ws:  # max_message_size=8
        await ws.send("\U0001f600\U0001f600")
        assert await ws.receive() == "\U0001f600\U0001f600"
        await ws.send("\U0001f600\U0001f600a")
        assert await ws.wait_closed() == CloseCode.MESSAGE_TOO_BIG


async def test_incoming_messages_postpone_the_idle_close(
    client_ws: WebSocketClient, settings: Any
) -> None:
    """The idle timeout counts from the last message either way: a client that keeps sending stays."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    async with client_ws.connect("/ws/quiet-idle/") as ws:  # idle_timeout=1.0
        for _ in range(15):  # 1.5 s in all, longer than the idle timeout
            await ws.send("still here")  # the view answers nothing
            await ws.assert_no_message(timeout=0.1)  # and does not close
        closed = await ws.wait_closed()
    assert (closed.code, closed.reason) == (CloseCode.GOING_AWAY, "Idle.")
