"""
WebSocket views for the URLconfs of the unit tests (tests/urls_*.py).

Kept apart from tests/views.py so that these tests do not depend on views
other suites change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.http import HttpResponse
from django.views import View

from django_wsviews import WebSocketView

#: Notes the views below leave for the tests, keyed by a test-chosen name.
notes: dict[str, list[Any]] = {}

#: Events the views set, keyed by a test-chosen name.
signals: dict[str, asyncio.Event] = {}


def note(key: str, value: Any) -> None:
    """Append ``value`` to ``notes[key]``."""
    notes.setdefault(key, []).append(value)


class Echo(WebSocketView):
    """Send every message back."""

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class Other(WebSocketView):
    """A second view class, to tell routes apart by their view."""


class HangingConnect(WebSocketView):
    """connect() never answers; notes its cancellation under "hanging-connect"."""

    async def connect(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            note("hanging-connect", "cancelled")
            event = signals.get("hanging-connect")
            if event is not None:
                event.set()
            raise


class HangingDisconnect(WebSocketView):
    """disconnect() never returns."""

    async def disconnect(self, code: int) -> None:
        await asyncio.Event().wait()


class DisconnectRecorder(WebSocketView):
    """Accept, echo, and note the close code disconnect() gets under "disconnect"."""

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        note("disconnect", code)


class Greeter(WebSocketView):
    """Send "hello" then b"\\x00bin" then JSON on connect, then close with 4321 "done"."""

    async def connect(self) -> None:
        await self.accept()
        await self.send("hello")
        await self.send(b"\x00bin")
        await self.send('{"n": 1, "list": [1, 2]}')
        await self.close(4321, "done")


class Crashing(WebSocketView):
    """Raise on every message (closed with 1011 by the default handler)."""

    async def receive(self, message: str | bytes) -> None:
        raise RuntimeError("crash on purpose")


class PlainHttpView(View):
    """A Django HTTP class-based view."""

    def get(self, request: Any) -> HttpResponse:
        return HttpResponse("http")


def plain_function(request: Any) -> HttpResponse:
    """A Django HTTP function view."""
    return HttpResponse("http")


class NotAView:
    """A class that is no view at all."""
