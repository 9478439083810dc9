"""Views of the end-to-end test project."""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, models
from django.http import HttpRequest, HttpResponse

from django_wsviews import JsonWebSocketView, LoginRequiredMixin, WebSocketView

from .models import Backend

logger = logging.getLogger("e2e")


def hello(request: HttpRequest) -> HttpResponse:
    """A plain HTTP page, served by Django through the WebSocket middleware."""
    return HttpResponse("hello from django\n", content_type="text/plain")


class EchoView(WebSocketView):
    """Send every message back as it came: text as text, bytes as bytes."""

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class BigEchoView(EchoView):
    """Echo, with the library's message size limit (1 MiB) raised past the servers' own."""

    max_message_size = 64 * 2**20


class JsonEchoView(JsonWebSocketView):
    """Send every JSON document back."""

    async def receive_json(self, content: Any) -> None:
        await self.send_json(content)


class BoomView(WebSocketView):
    """Accept, then raise on any message (the library closes with 1011)."""

    async def receive(self, message: str | bytes) -> None:
        raise RuntimeError(f"Boom! {message!r}")


class InfoView(JsonWebSocketView):
    """
    Accept (with an extra response header) and answer any message with what
    the view sees of the handshake: URL, query, cookies, headers, scope.
    """

    subprotocols = ("chat.v2", "chat.v1")

    async def connect(self) -> None:
        await self.accept(headers=[("x-e2e-accept", "yes")])

    async def receive_json(self, content: Any) -> None:
        request = self.request
        await self.send_json(
            {
                "path": request.path,
                "path_info": request.path_info,
                "kwargs": self.kwargs,
                "query_string": self.scope.get("query_string", b"").decode("latin-1"),
                "GET": {key: request.GET.getlist(key) for key in request.GET},
                "COOKIES": request.COOKIES,
                "token": request.META.get("HTTP_X_E2E_TOKEN"),
                "host": request.get_host(),
                "scheme": self.scope.get("scheme"),
                "is_secure": request.is_secure(),
                "extensions": sorted(self.scope.get("extensions") or {}),
                "offered": list(self.scope.get("subprotocols") or ()),
                "subprotocol": self.select_subprotocol(),
            }
        )


class TrackedView(WebSocketView):
    """Echo, and log connect() and disconnect(code) under the URL's tag."""

    async def connect(self) -> None:
        logger.info("e2e connect tag=%s", self.kwargs["tag"])
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        logger.info("e2e disconnect tag=%s code=%s", self.kwargs["tag"], code)


class FloodView(WebSocketView):
    """
    On "COUNT SIZE [YIELD]", send COUNT binary messages of SIZE bytes as fast
    as the server takes them (giving the event loop a turn after each one if
    YIELD is 1); log how many went out when the connection ends.
    """

    sent = 0

    async def receive(self, message: str | bytes) -> None:
        count, size, *rest = (int(part) for part in str(message).split())
        pause = bool(rest and rest[0])
        chunk = b"x" * size
        for _ in range(count):
            await self.send(chunk)
            self.sent += 1
            if pause:
                await asyncio.sleep(0)
        logger.info("e2e flood finished tag=%s sent=%d", self.kwargs["tag"], self.sent)

    async def disconnect(self, code: int) -> None:
        logger.info(
            "e2e disconnect tag=%s code=%s sent=%d", self.kwargs["tag"], code, self.sent
        )


# Hand-over between the connections of one test, in this server process.
_started: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(
    asyncio.Event
)
_released: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(
    asyncio.Event
)

#: Bound on every wait in the hand-over views: none of them can hang a server.
#: (asyncio.wait_for rather than asyncio.timeout: Python 3.10 is supported.)
HANDOVER_TIMEOUT = 10.0


class HoldView(WebSocketView):
    """
    A connect() that holds the handshake: it says it started (see
    :class:`StartedView`), waits to be released (see :class:`ReleaseView`),
    then accepts, whether or not the client is still there.
    """

    async def connect(self) -> None:
        tag = self.kwargs["tag"]
        logger.info("e2e connect tag=%s", tag)
        _started[tag].set()
        await asyncio.wait_for(_released[tag].wait(), HANDOVER_TIMEOUT)
        logger.info("e2e accepting tag=%s", tag)
        await self.accept()
        logger.info("e2e accepted tag=%s", tag)

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        logger.info("e2e disconnect tag=%s code=%s", self.kwargs["tag"], code)


class StartedView(WebSocketView):
    """Accept, then send "started" once HoldView's connect() for the tag is running."""

    async def connect(self) -> None:
        await self.accept()
        await asyncio.wait_for(_started[self.kwargs["tag"]].wait(), HANDOVER_TIMEOUT)
        await self.send("started")


class ReleaseView(WebSocketView):
    """Accept, release HoldView's connect() for the tag, and send "released"."""

    async def connect(self) -> None:
        await self.accept()
        _released[self.kwargs["tag"]].set()
        await self.send("released")


class WhoAmIView(LoginRequiredMixin, WebSocketView):
    """A login-required view that sends the user's name on connect."""

    async def connect(self) -> None:
        await self.accept()
        await self.send(self.request.user.get_username())


class SmallView(EchoView):
    """Echo, with a message size limit below every server's own."""

    max_message_size = 64 * 1024


class QueryView(WebSocketView):
    """Query the ``pg`` database from a plain hook and an async one, then answer."""

    def connect(self) -> None:  # type: ignore[override]
        with connections["pg"].cursor() as cursor:
            cursor.execute("SELECT 1")
        self.accept()

    async def receive(self, message: str | bytes) -> None:
        await sync_to_async(_select_one)()
        await self.send(message)


def _select_one() -> None:
    with connections["pg"].cursor() as cursor:
        cursor.execute("SELECT 1")


# Token authentication from a browser (tests/e2e/test_browser.py) -------------

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402

from django_wsviews import TokenAuthMixin, make_token  # noqa: E402


@login_required
def socket_token(request: HttpRequest) -> JsonResponse:
    """Return a socket token for the logged-in user, as docs/security.rst shows."""
    return JsonResponse({"token": make_token(request.user)})


def token_page(request: HttpRequest) -> HttpResponse:
    """A page whose script opens token-authenticated sockets as the docs say."""
    return render(request, "token_socket.html")


class TokenEchoView(TokenAuthMixin, LoginRequiredMixin, EchoView):
    """Echo, for a user authenticated by a token; speaks an optional protocol."""

    subprotocols = ("echo.v1",)


class OrmQueryView(WebSocketView):
    """
    Answer every message with the pid of the PostgreSQL connection that an
    async ORM query on the ``pg`` database ran on.
    """

    async def receive(self, message: str | bytes) -> None:
        backend = await Backend.objects.using("pg").aget(
            pid=models.Func(
                function="pg_backend_pid", output_field=models.IntegerField()
            )
        )
        await self.send(str(backend.pid))
