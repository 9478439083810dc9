"""A connection's bounded group queue: slow clients never hurt the others."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_wsviews import CloseCode, abroadcast
from django_wsviews import conf as wsconf
from django_wsviews.testing import WebSocketClient

from .support.groups_support import connect_stalled

pytestmark = pytest.mark.urls("tests.support.groups_urls")

T = 5.0


@pytest.fixture
def client(settings: Any) -> WebSocketClient:
    """Return a test client; handshakes skip the middleware (no thread per connection)."""
    settings.WSVIEWS_MIDDLEWARE = []
    return WebSocketClient(timeout=T)


async def test_slow_client_closed_while_1000_others_receive(
    client: WebSocketClient, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A member that stops reading is closed with 1013 and logged; 1,000 others get every message."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = 4
    members = list(
        await asyncio.gather(*(client.connect("/ws/room/big/") for _ in range(1000)))
    )
    slow = await connect_stalled(client, "/ws/room/big/")
    with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
        for n in range(10):
            await abroadcast("room.big", f"message {n}")
        assert await slow.wait_closed(T) == CloseCode.TRY_AGAIN_LATER
    for ws in members:
        assert [await ws.receive(T) for _ in range(10)] == [
            f"message {n}" for n in range(10)
        ]
    assert "Closing WebSocket /ws/room/big/ with 1013" in caplog.text
    assert slow.blocked.is_set()
    await asyncio.gather(*(ws.close() for ws in members))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("drop_newest", ["m0", "m1", "m2"]), ("drop_oldest", ["m0", "m4", "m5"])],
)
async def test_drop_policies(
    client: WebSocketClient,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    policy: str,
    expected: list[str],
) -> None:
    """drop_newest keeps the first messages, drop_oldest the latest; the first drop is logged."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = 2
    settings.WSVIEWS_SEND_QUEUE_OVERFLOW = policy
    slow = await connect_stalled(client, "/ws/room/d/")
    await abroadcast("room.d", "m0")
    await asyncio.wait_for(slow.blocked.wait(), T)  # m0 is being sent
    with caplog.at_level(logging.DEBUG, "django_wsviews.groups"):
        for n in range(1, 6):
            await abroadcast("room.d", f"m{n}")
    slow.resume.set()
    assert [await slow.receive(T) for _ in range(3)] == expected
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"Dropping a group message for WebSocket /ws/room/d/ ({policy})" in (
        warnings[0].getMessage()
    )
    await slow.close()


async def test_queue_holds_its_size(client: WebSocketClient, settings: Any) -> None:
    """Up to WSVIEWS_SEND_QUEUE_SIZE messages wait without closing the connection."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = 3
    slow = await connect_stalled(client, "/ws/room/q/")
    await abroadcast("room.q", "m0")
    await asyncio.wait_for(slow.blocked.wait(), T)
    for n in range(1, 4):
        await abroadcast("room.q", f"m{n}")
    slow.resume.set()
    assert [await slow.receive(T) for _ in range(4)] == ["m0", "m1", "m2", "m3"]
    await slow.close()


@pytest.mark.parametrize("size", [0, -1, 2.5, "10", True])
def test_queue_size_setting_checked(settings: Any, size: object) -> None:
    """A queue size that is not a positive integer is ImproperlyConfigured."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = size
    with pytest.raises(ImproperlyConfigured, match="positive integer"):
        wsconf.settings.WSVIEWS_SEND_QUEUE_SIZE  # noqa: B018


def test_overflow_setting_checked(settings: Any) -> None:
    """An unknown overflow policy is ImproperlyConfigured, listing the choices."""
    settings.WSVIEWS_SEND_QUEUE_OVERFLOW = "explode"
    with pytest.raises(
        ImproperlyConfigured, match="'close', 'drop_oldest', 'drop_newest'"
    ):
        wsconf.settings.WSVIEWS_SEND_QUEUE_OVERFLOW  # noqa: B018


def test_defaults() -> None:
    """By default 100 messages may wait, and a full queue closes the connection."""
    assert wsconf.settings.WSVIEWS_SEND_QUEUE_SIZE == 100
    assert wsconf.settings.WSVIEWS_SEND_QUEUE_OVERFLOW == "close"
