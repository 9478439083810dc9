"""
ASGI entry point of the end-to-end test project.

``application`` is django-wsviews' :func:`get_asgi_application`, wrapped in
:class:`Tracker`, which lets a test wait (without sleeping) until the server
has finished every connection it opened so far: the WebSocket path
``/e2e/drain/`` answers "drained" once no other ASGI call is running.
Anything escaping the application is logged with a marker line before the
server sees it, and the application's lifespan answers are logged too.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.e2e.project.settings")

from django_wsviews.asgi import get_asgi_application

logger = logging.getLogger("e2e")

DRAIN_PATH = "/e2e/drain/"
DRAIN_TIMEOUT = 5.0


class Tracker:
    """Count the ASGI calls in flight; answer ``/e2e/drain/`` once there are none."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.in_flight: dict[int, str] = {}
        self._ids = itertools.count()
        self._idle: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"] == DRAIN_PATH:
            return await self.drain(receive, send)
        if scope["type"] == "lifespan":
            return await self.lifespan(scope, receive, send)
        key = next(self._ids)
        self.in_flight[key] = f"{scope['type']} {scope.get('path')}"
        try:
            await self.app(scope, receive, send)
        except Exception:
            logger.exception("E2E-ESCAPED: exception escaped the application")
            raise
        finally:
            del self.in_flight[key]
            if not self.in_flight and self._idle is not None:
                self._idle.set()

    async def lifespan(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the lifespan protocol through, logging what the application answers."""

        async def logged_send(message: Any) -> None:
            logger.info("e2e lifespan %s", message["type"])
            await send(message)

        await self.app(scope, receive, logged_send)

    async def _until_idle(self) -> None:
        while self.in_flight:
            self._idle = asyncio.Event()
            await self._idle.wait()

    async def drain(self, receive: Any, send: Any) -> None:
        """Accept, wait until no other call runs, say so, close."""
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        try:
            await asyncio.wait_for(self._until_idle(), DRAIN_TIMEOUT)
            answer = "drained"
        except asyncio.TimeoutError:
            answer = "busy: " + ", ".join(sorted(self.in_flight.values()))
        logger.info("e2e %s", answer)  # proves to the tests that the log is captured
        await send({"type": "websocket.send", "text": answer})
        await send({"type": "websocket.close", "code": 1000})


application = Tracker(get_asgi_application())
