"""Views for the lifecycle tests: hooks that wait until the test lets them go."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import ClassVar

from django.urls import path

from django_wsviews import GroupMessage, JsonWebSocketView, WebSocketView, call_hook


class GatedView(WebSocketView):
    """
    Join ``gated``; ``wait`` makes receive() wait for the test's event, then say ``done``.

    Every live instance is in ``instances``; ``started`` is set once
    receive() is waiting.
    """

    group_names = ("gated",)
    instances: ClassVar[list[GatedView]] = []

    async def connect(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.instances.append(self)
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        self.started.set()
        await self.release.wait()
        await self.send("done")

    async def receive_group(self, message: GroupMessage) -> None:
        await self.send(f"group:{message.data!r}")


class ConcurrentGatedView(GatedView):
    """The same, with group messages delivered while receive() waits."""

    receive_group_concurrently = True


class BusySyncView(WebSocketView):
    """A plain-def receive() that blocks its worker thread until the test releases it."""

    group_names = ("busy",)
    release = threading.Event()
    started = threading.Event()

    def receive(self, message: str | bytes) -> None:
        self.started.set()
        self.release.wait(10)


class HeldView(WebSocketView):
    """Keep the view where a test can reach it from another thread."""

    instances: ClassVar[list[HeldView]] = []

    async def connect(self) -> None:
        self.instances.append(self)
        await self.accept()


ws_urlpatterns = [
    path("ws/gated/", GatedView.as_view()),
    path("ws/gated-concurrent/", ConcurrentGatedView.as_view()),
    path("ws/busy-sync/", BusySyncView.as_view()),
    path("ws/held/", HeldView.as_view()),
]
urlpatterns: list[object] = []


class OwnHelperView(JsonWebSocketView):
    """receive_json() hands each message to a plain-def method of its own through call_hook()."""

    async def receive_json(self, content: object) -> None:
        await call_hook(self.handle_chat, content, loop_thread=threading.get_ident())

    def handle_chat(self, content: object, *, loop_thread: int) -> None:
        on_loop = threading.get_ident() == loop_thread
        self.send_json({"echo": content, "on_loop": on_loop})  # no await: a thread


ws_urlpatterns.append(path("ws/own-helper/", OwnHelperView.as_view()))


class WeakHeldView(WebSocketView):
    """Remember each instance by weak reference only."""

    refs: ClassVar[list[weakref.ref[WeakHeldView]]] = []

    async def connect(self) -> None:
        self.refs.append(weakref.ref(self))
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


ws_urlpatterns.append(path("ws/weak/", WeakHeldView.as_view()))


class TimeoutInHookView(WebSocketView):
    """
    Each message: wait, bounded by a timeout, for something that never comes.

    ``after:<s>`` suspends first (an await that completes), as a hook that
    read the database would, then enters the timeout; ``wait_for`` uses
    ``asyncio.wait_for()`` instead of ``asyncio.timeout()``.
    """

    async def receive(self, message: str | bytes) -> None:
        text = str(message)
        if text.startswith("after:"):
            await asyncio.sleep(0)
        never = asyncio.get_running_loop().create_future()
        try:
            if "wait_for" in text or not hasattr(asyncio, "timeout"):
                await asyncio.wait_for(never, 0.05)
            else:
                async with asyncio.timeout(0.05):
                    await never
        except TimeoutError:
            await self.send(f"timed out: {text}")


ws_urlpatterns.append(path("ws/timeout-in-hook/", TimeoutInHookView.as_view()))
