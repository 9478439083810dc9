"""WebSocket views the tests route to."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from django_wsviews import CloseCode, JsonWebSocketView, WebSocketView

#: What views record for the tests to inspect, keyed by a test-chosen name.
events: dict[str, list[Any]] = {}


def record(key: str, value: Any) -> None:
    events.setdefault(key, []).append(value)


class EchoView(WebSocketView):
    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class InfoView(WebSocketView):
    """Send back what the view knows about its request, as JSON."""

    async def connect(self) -> None:
        await self.accept()
        request = self.request
        await self.send(
            __import__("json").dumps(
                {
                    "args": list(self.args),
                    "kwargs": {k: str(v) for k, v in self.kwargs.items()},
                    "path": request.path,
                    "path_info": request.path_info,
                    "script_name": request.META["SCRIPT_NAME"],
                    "GET": {k: request.GET.getlist(k) for k in request.GET},
                    "cookies": request.COOKIES,
                    "host": request.get_host(),
                    "secure": request.is_secure(),
                    "absolute": request.build_absolute_uri("/x/"),
                    "user_agent": request.META.get("HTTP_USER_AGENT"),
                    "method": request.method,
                }
            )
        )


class JsonEchoView(JsonWebSocketView):
    async def receive_json(self, content: Any) -> None:
        await self.send_json({"echo": content})


class SubprotocolView(WebSocketView):
    subprotocols = ["v2.chat", "v1.chat"]


class RejectView(WebSocketView):
    status = 403

    async def connect(self) -> None:
        await self.reject(self.status)


class SilentView(WebSocketView):
    """connect() neither accepts nor rejects."""

    async def connect(self) -> None:
        return None


class ConnectErrorView(WebSocketView):
    async def connect(self) -> None:
        raise RuntimeError("connect failed")


class ReceiveErrorView(WebSocketView):
    key = "receive-error"

    async def receive(self, message: str | bytes) -> None:
        if message == "boom":
            raise ValueError("boom")
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        record(self.key, code)


class CloseView(WebSocketView):
    async def receive(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        code, _, reason = message.partition(" ")
        await self.close(int(code), reason)


class RecordingView(WebSocketView):
    """Record each hook call under ``key``."""

    key = "recording"

    async def connect(self) -> None:
        record(self.key, ("connect",))
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        record(self.key, ("receive", message))
        if message == "wait":
            await asyncio.Event().wait()  # never returns: only a disconnect ends it
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        record(self.key, ("disconnect", code))


class SlowOrderView(WebSocketView):
    """Handle messages that suspend; answers must keep their order."""

    async def receive(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await self.send(message)


class SyncEchoView(WebSocketView):
    """Plain-def hooks, run in the connection's worker thread."""

    key = "sync"

    def connect(self) -> None:  # type: ignore[override]
        record(self.key, ("connect-thread", threading.get_ident()))
        self.accept()

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        if message == "sleep":
            time.sleep(0.5)
        self.send(message)
        if message == "close":
            self.close(CloseCode.NORMAL_CLOSURE)

    def disconnect(self, code: int) -> None:  # type: ignore[override]
        record(self.key, ("disconnect", code))


class UserView(WebSocketView):
    """Send the logged-in user's name (or an empty string)."""

    def connect(self) -> None:  # type: ignore[override]
        self.accept()
        user = self.request.user
        self.send(user.get_username() if user.is_authenticated else "")


class SendBeforeAcceptView(WebSocketView):
    async def connect(self) -> None:
        await self.send("too early")


class NotAView:
    pass


async def plain_function(request: Any) -> None:
    return None
