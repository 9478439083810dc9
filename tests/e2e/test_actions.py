"""Named actions through uvicorn, hypercorn and daphne, with the ``websockets`` client."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from .helpers import Server, assert_clean, drain, recv, ws_connect


async def ask(ws: ClientConnection, message: dict[str, Any]) -> Any:
    """Send a call and return the next message, decoded."""
    await ws.send(json.dumps(message))
    return json.loads(await recv(ws))


async def test_calls_and_replies(server: Server) -> None:
    """wsviews.v1 is accepted; ok, error and unknown replies come in order; notifications get none."""
    mark = server.mark()
    async with ws_connect(server, "/ws/actions/", subprotocols=["wsviews.v1"]) as ws:
        assert ws.subprotocol == "wsviews.v1"
        assert await ask(
            ws, {"action": "rooms.post", "id": "c7", "payload": {"text": "hello"}}
        ) == {"id": "c7", "ok": True, "result": {"text": "hello", "length": 5}}
        assert await ask(ws, {"action": "forbidden", "id": 2}) == {
            "id": 2,
            "ok": False,
            "error": {"code": "forbidden", "message": "Not you."},
        }
        assert await ask(ws, {"action": "send", "id": 3, "payload": "x"}) == {
            "id": 3,
            "ok": False,
            "error": {"code": "unknown_action", "message": "No such action."},
        }
        # A notification (no id) runs and is not answered: the next message
        # is the reply to the call after it.
        await ws.send(json.dumps({"action": "forbidden"}))
        assert await ask(ws, {"action": "where", "id": 4}) == {
            "id": 4,
            "ok": True,
            "result": {"on_loop": False},
        }
        reply = await ask(ws, {"action": "rooms.post", "id": 5, "payload": {}})
        assert reply["error"]["code"] == "invalid"
        assert reply["error"]["details"] == {"text": ["Empty."]}
    await drain(server)
    assert_clean(server.log_since(mark))
