"""A connection's bounded group queue: slow clients never hurt the others."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_wsviews import CloseCode, abroadcast
from django_wsviews import conf as wsconf
from django_wsviews.backends.history_base import Seq
from django_wsviews.envelope import GroupMessage
from django_wsviews.history import Resume
from django_wsviews.membership import Membership
from django_wsviews.signals import ClosedBy
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


# One Membership, its connection played by a stand-in ------------------------------


class StandIn:
    """A connection for a Membership: records closes and deliveries; a delivery waits."""

    label = "/ws/stand-in/"

    def __init__(self, *, busy: bool = False) -> None:
        self.busy = busy
        self.closes: list[tuple[int, str, ClosedBy]] = []
        self.delivered: list[GroupMessage] = []
        self.delivering = asyncio.Event()
        self.tasks: list[asyncio.Future[Any]] = []

    def is_closed(self) -> bool:
        return bool(self.closes)

    def is_busy(self) -> bool:
        return self.busy

    async def deliver_group(self, message: GroupMessage) -> None:
        self.delivered.append(message)
        self.delivering.set()
        await asyncio.Event().wait()  # a client that never reads

    async def send_reset(self) -> None:
        raise AssertionError("no history here")

    def close_soon(self, code: int, reason: str, closed_by: ClosedBy) -> None:
        self.closes.append((code, reason, closed_by))

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task


def message(n: int) -> GroupMessage:
    return GroupMessage(group="g", data=f"m{n}")


async def stuck_with_a_full_queue(target: StandIn, size: int) -> Membership:
    """Return a started Membership whose delivery is stuck and whose queue is full."""
    membership = Membership(target, max_groups=None)
    membership.start()
    membership.deliver(message(0))
    await asyncio.wait_for(target.delivering.wait(), T)
    for n in range(1, size + 1):
        membership.deliver(message(n))
    return membership


@pytest.mark.parametrize(
    ("busy", "culprit"),
    [
        (False, "the client reads too slowly"),
        (
            True,
            "the view's hooks are too slow for its group messages (they wait for "
            "the hook running now; see receive_group_concurrently)",
        ),
    ],
)
async def test_a_full_queue_closes_once_and_stops_delivering(
    settings: Any, caplog: pytest.LogCaptureFixture, busy: bool, culprit: str
) -> None:
    """Overflow under "close": one 1013 by the server, the log names who is slow, delivery stops."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = 2
    target = StandIn(busy=busy)
    membership = await stuck_with_a_full_queue(target, 2)
    with caplog.at_level(logging.WARNING, "django_wsviews.groups"):
        membership.deliver(message(3))
    assert target.closes == [
        (CloseCode.TRY_AGAIN_LATER, "Too slow to keep up.", ClosedBy.SERVER)
    ]
    assert caplog.text.rstrip().endswith(culprit + ".")
    await asyncio.wait_for(asyncio.gather(*target.tasks, return_exceptions=True), T)
    assert target.tasks[0].cancelled()  # it was stuck sending to this very client
    for n in range(4, 8):
        membership.deliver(message(n))
    assert len(target.closes) == 1
    assert [m.data for m in target.delivered] == ["m0"]


async def test_drops_warn_once_then_log_at_debug(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The first dropped message is a warning naming the setting and the culprit; later ones DEBUG."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = 2
    settings.WSVIEWS_SEND_QUEUE_OVERFLOW = "drop_newest"
    target = StandIn()
    membership = await stuck_with_a_full_queue(target, 2)
    with caplog.at_level(logging.DEBUG, "django_wsviews.groups"):
        for n in range(3, 6):
            membership.deliver(message(n))
    assert [r.levelno for r in caplog.records] == [logging.WARNING] + [
        logging.DEBUG
    ] * 2
    assert caplog.records[0].getMessage() == (
        "Dropping a group message for WebSocket /ws/stand-in/ (drop_newest): 2 group "
        "messages are waiting (WSVIEWS_SEND_QUEUE_SIZE); the client reads too slowly."
    )
    assert target.closes == []
    membership.leave_all()


async def test_nothing_is_queued_after_leave_all(settings: Any) -> None:
    """Once the connection has ended, messages still reaching it are ignored, not queued."""
    settings.WSVIEWS_SEND_QUEUE_SIZE = 2
    target = StandIn()
    membership = Membership(target, max_groups=None)
    membership.leave_all()
    for n in range(5):
        membership.deliver(message(n))  # over the queue's size: would close
    membership.start()
    assert target.closes == []
    assert target.tasks == []


async def test_a_group_left_can_be_joined_again() -> None:
    """leave() forgets the group: joining it again subscribes again, and messages arrive."""
    target = StandIn()
    membership = Membership(target, max_groups=None)
    membership.start()
    await membership.join(["g"])
    membership.leave(["g"])
    assert membership.groups == set()
    await membership.join(["g"])
    await abroadcast("g", "again")
    await asyncio.wait_for(target.delivering.wait(), T)
    assert [m.data for m in target.delivered] == ["again"]
    membership.leave_all()


class Recorder(StandIn):
    """A connection whose deliveries return at once."""

    async def deliver_group(self, message: GroupMessage) -> None:
        self.delivered.append(message)
        if len(self.delivered) >= 4:
            self.delivering.set()


async def test_a_live_only_message_does_not_end_the_seam() -> None:
    """After a replay, a live message without a seq passes, and duplicates after it are still dropped."""

    def seq_message(offset: int | None) -> GroupMessage:
        seq = None if offset is None else f"e1:{offset}"
        return GroupMessage(group="g", data=f"m{offset}", seq=seq)

    target = Recorder()
    membership = Membership(target, max_groups=None)
    membership.resume_with(
        Resume(
            group="g",
            reset=False,
            messages=(seq_message(1), seq_message(2)),
            through=Seq("e1", 2),
        )
    )
    for offset in (None, 2, 3):  # a presence diff, a duplicate, a new one
        membership.deliver(seq_message(offset))
    membership.start()
    await asyncio.wait_for(target.delivering.wait(), T)
    assert [m.seq for m in target.delivered] == ["e1:1", "e1:2", None, "e1:3"]
    membership.leave_all()
