"""Tests for django_wsviews.connection: the actions of a connection at their edges."""

from __future__ import annotations

from typing import Any

import pytest

from django_wsviews import WebSocketView
from django_wsviews.exceptions import HandshakeRejected, InvalidState
from django_wsviews.testing import WebSocketClient


async def test_closing_a_closed_connection_does_nothing(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """A second close() neither raises nor changes the code the client got."""
    async with client_ws.connect("/ws/scripted/") as ws:
        await ws.send("close twice")
        closed = await ws.wait_closed()
    assert (closed.code, closed.reason) == (4001, "first")
    assert ("closed twice",) in promise_urls["scripted"]
    assert ("disconnect", 4001) in promise_urls["scripted"]


async def test_close_before_accept_refuses_the_handshake(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """close() in connect(), before accept(), refuses the handshake with 403."""
    with pytest.raises(HandshakeRejected) as refused:
        await client_ws.connect("/ws/close-before-accept/")
    assert refused.value.status == 403


async def test_reject_after_accept_raises_invalid_state(
    client_ws: WebSocketClient, promise_urls: dict[str, list[Any]]
) -> None:
    """reject() after accept() raises InvalidState naming close(); the socket stays open."""
    async with client_ws.connect("/ws/reject-after-accept/") as ws:
        await ws.send("still open")
        await ws.assert_no_message(timeout=0.05)
    [(_, message), *_] = promise_urls["scripted"]
    assert "use close()" in message


@pytest.mark.parametrize(
    "action",
    [
        lambda view: view.send("x"),
        lambda view: view.accept(),
        lambda view: view.close(),
        lambda view: view.join("g"),
    ],
    ids=["send", "accept", "close", "join"],
)
def test_a_view_serving_no_connection_refuses_actions(action: Any) -> None:
    """A view made by hand, serving no connection, raises InvalidState, not AttributeError."""
    with pytest.raises(InvalidState, match="not serving a connection"):
        action(WebSocketView())


async def test_send_before_accept_says_so(client_ws: WebSocketClient) -> None:
    """send() in connect(), before accept(), raises InvalidState naming the order."""
    with pytest.raises(InvalidState, match=r"^send\(\) called before accept\(\)\.$"):
        await client_ws.connect("/ws/early/")
