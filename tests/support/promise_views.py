"""Views for the tests that hold the documentation's promises (tests/test_docs_promises.py lists them)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from django.contrib.auth import decorators
from django.utils.decorators import method_decorator

from django_wsviews import (
    CloseCode,
    ConnectionClosed,
    InvalidState,
    JsonWebSocketView,
    Limits,
    WebSocketView,
    action,
)
from django_wsviews.backends import BaseBackend

#: Django 5.1's marker; earlier versions have no LoginRequiredMiddleware either.
login_not_required: Callable[[Any], Any] = getattr(
    decorators, "login_not_required", lambda view: view
)

#: What the views record, keyed by the view's ``key``, for the tests to read.
events: dict[str, list[Any]] = {}
#: Events a test sets to let a held receive() return, keyed like ``events``.
gates: dict[str, asyncio.Event] = {}


class ScriptedView(WebSocketView):
    """Do in connect() what ``script`` says; hold receive() on "hold"; record all."""

    key = "scripted"
    script = "accept"

    def record(self, *event: Any) -> None:
        events.setdefault(self.key, []).append(event)

    async def connect(self) -> None:
        if self.script == "close-before-accept":
            await self.close()
            return
        if self.script == "reject":
            await self.reject(403)
            return
        await self.accept()
        if self.script == "reject-after-accept":
            try:
                await self.reject(403)
            except InvalidState as exc:
                self.record("reject", str(exc))

    async def receive(self, message: str | bytes) -> None:
        self.record("receive", message)
        if message == "hold":
            try:
                await gates[self.key].wait()
            except asyncio.CancelledError:
                self.record("cancelled")
                raise
        elif message == "close twice":
            await self.close(4001, "first")
            await self.close(4002, "second")
            self.record("closed twice")

    async def disconnect(self, code: int) -> None:
        self.record("disconnect", code)
        try:
            await self.send("too late")
        except ConnectionClosed as exc:
            self.record("send", type(exc).__name__)
        except InvalidState as exc:
            self.record("send", type(exc).__name__)


@method_decorator(login_not_required, name="dispatch")
class PublicView(WebSocketView):
    """Say who is connecting: a view marked ``login_not_required``."""

    async def connect(self) -> None:
        await self.accept()
        user = await self.request.auser()
        await self.send(user.get_username())


class CloseByNameView(WebSocketView):
    """Close with the CloseCode member the message names ("GOING_AWAY")."""

    async def receive(self, message: str | bytes) -> None:
        await self.close(CloseCode[str(message)], "by name")


class QuietIdleView(WebSocketView):
    """Answer nothing; close when idle for a second."""

    limits = Limits(idle_timeout=1.0)


class SessionWriterView(WebSocketView):
    """Change the session in a plain connect() without saving it; say the language."""

    def connect(self) -> None:  # type: ignore[override]
        self.accept()
        self.request.session["touched"] = True
        self.send(getattr(self.request, "LANGUAGE_CODE", ""))


#: Set by BlockingView once its receive() blocks; set ``release`` to end it.
blocking = {"entered": threading.Event(), "release": threading.Event()}


class BlockingView(WebSocketView):
    """Block the event loop's thread in receive() until the test releases it."""

    async def receive(self, message: str | bytes) -> None:
        blocking["entered"].set()
        blocking["release"].wait(10)  # deliberately blocks the whole server


class OwnReceiveView(JsonWebSocketView):
    """A view with an action that overrides receive(), calling super() or not."""

    call_super = False

    @action
    async def ping(self) -> str:
        return "pong"

    async def receive(self, message: str | bytes) -> None:
        if self.call_super:
            await super().receive(message)
        else:
            await self.send("mine")


class BrokenBeforeAcceptView(WebSocketView):
    """Fail in connect(), and fail again in handle_exception()."""

    async def connect(self) -> None:
        raise ValueError("connect failed")

    async def handle_exception(self, exc: Exception) -> None:
        raise RuntimeError("failed too") from exc


class StorelessBackend(BaseBackend):
    """A group backend with no presence store (delivers nothing)."""

    async def subscribe(self, groups: Any) -> None:
        """Subscribe nothing."""

    async def unsubscribe(self, groups: Any) -> None:
        """Unsubscribe nothing."""

    async def publish(self, group: str, payload: bytes) -> None:
        """Publish nothing."""
