from __future__ import annotations

from django_wsviews.testing import WebSocketClient


async def test_echo(client_ws: WebSocketClient) -> None:
    """A text frame comes back."""
    async with client_ws.connect("/ws/echo/") as ws:
        await ws.send("hi")
        assert await ws.receive() == "hi"
        await ws.send(b"\x00\x01")
        assert await ws.receive() == b"\x00\x01"
