from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from django_wsviews import JsonWebSocketView, WebSocketView


def index(request: HttpRequest) -> HttpResponse:
    """The page that talks to EchoView."""
    return render(request, "chat/index.html")


class EchoView(WebSocketView):
    """Send every message back as it came: text as text, bytes as bytes."""

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class JsonEchoView(JsonWebSocketView):
    """Send every JSON document back."""

    async def receive_json(self, content: Any) -> None:
        await self.send_json(content)


class BoomView(WebSocketView):
    """
    Accept, then fail on the first message.

    The exception is logged and the connection closed with 1011 (internal
    error); the end-to-end tests use this route.
    """

    async def receive(self, message: str | bytes) -> None:
        raise RuntimeError("Boom!")
