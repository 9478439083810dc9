"""
Starlette: ``WebSocketEndpoint`` classes, as the Starlette documentation writes them.

``/ws/echo/`` echoes; ``/ws/group/`` keeps its members in a process-wide set,
since Starlette has no group layer of its own (so it runs the in-memory
broadcast only).
"""

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from bench.apps.stats import STATS_PATH, snapshot_json


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket, data):
        await websocket.send_text(data)


MEMBERS = set()  # the WebSocket objects of the open /ws/group/ connections


class Group(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket):
        MEMBERS.add(websocket)
        await websocket.accept()

    async def on_receive(self, websocket, data):
        if data.startswith("broadcast"):
            for member in list(MEMBERS):
                await member.send_text(data)

    async def on_disconnect(self, websocket, close_code):
        MEMBERS.discard(websocket)


async def stats(request):
    """The process's tasks, descriptors and memory, for the cycles workload."""
    return Response(snapshot_json(), media_type="application/json")


app = Starlette(
    routes=[
        Route(STATS_PATH, stats),
        WebSocketRoute("/ws/echo/", Echo),
        WebSocketRoute("/ws/group/", Group),
    ]
)
