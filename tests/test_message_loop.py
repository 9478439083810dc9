"""Tests for django_wsviews.message_loop: reading ahead while a hook waits, and its bound."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from django_wsviews import CloseCode
from django_wsviews.message_loop import READ_AHEAD
from django_wsviews.testing import WebSocketClient

from .support import promise_views
from .support.groups_support import eventually


async def test_a_client_that_leaves_is_noticed_while_a_hook_waits(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """A hook waiting when the client leaves is cancelled; messages read meanwhile are dropped."""
    promise_views.gates["scripted"] = asyncio.Event()  # never set
    ws = await client_ws.connect("/ws/scripted/")
    await ws.send("hold")
    for n in range(READ_AHEAD - 1):
        await ws.send(str(n))
    await ws.close(CloseCode.GOING_AWAY)  # returns once the view has ended
    assert promise_urls["scripted"] == [
        ("receive", "hold"),
        ("cancelled",),
        ("disconnect", CloseCode.GOING_AWAY),
        ("send", "ConnectionClosed"),
    ]


async def test_past_the_read_ahead_bound_a_leave_waits_for_the_hook(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """With READ_AHEAD messages behind a waiting hook, reading stops: the leave is seen after them."""
    gate = promise_views.gates["scripted"] = asyncio.Event()
    ws = await client_ws.connect("/ws/scripted/")
    await ws.send("hold")
    behind = [str(n) for n in range(READ_AHEAD + 8)]
    for message in behind:
        await ws.send(message)
    closing = asyncio.create_task(ws.close(CloseCode.GOING_AWAY))
    # The loop has read READ_AHEAD messages and stopped: the rest and the
    # close wait in the client's queue.
    await eventually(lambda: ws._to_app.qsize() == len(behind) - READ_AHEAD + 1)
    assert promise_urls["scripted"] == [("receive", "hold")]
    gate.set()
    await asyncio.wait_for(closing, 5)
    assert promise_urls["scripted"] == [
        ("receive", "hold"),
        *[("receive", message) for message in behind],
        ("disconnect", CloseCode.GOING_AWAY),
        ("send", "ConnectionClosed"),
    ]


@pytest.mark.urls("tests.support.lifecycle_views")
@pytest.mark.parametrize(
    "message", ["timeout", "after:timeout", "wait_for", "after:wait_for"]
)
async def test_a_timeout_in_a_hook_times_out_the_hook_not_the_connection(
    client_ws: WebSocketClient, message: str
) -> None:
    """asyncio.timeout() and wait_for() in receive() raise TimeoutError there; the socket stays open."""
    async with client_ws.connect("/ws/timeout-in-hook/") as ws:
        for _ in range(3):
            await ws.send(message)
            assert await ws.receive(timeout=5) == f"timed out: {message}"
