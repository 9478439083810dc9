"""Views of the end-to-end test project."""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, models
from django.http import HttpRequest, HttpResponse

from django_wsviews import JsonWebSocketView, Limits, LoginRequiredMixin, WebSocketView

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

    limits = Limits(max_message_size=64 * 2**20)


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

    limits = Limits(max_message_size=64 * 1024)


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


# htmx's ws extension from a browser (tests/e2e/test_htmx.py) -----------------

import itertools  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

from django import forms  # noqa: E402
from django.http import FileResponse, Http404  # noqa: E402

from django_wsviews import CloseCode  # noqa: E402
from django_wsviews.htmx import (  # noqa: E402
    HtmxMessage,
    HtmxWebSocketView,
    abroadcast_html,
)

#: The files of htmx and its ws extension, by the name the page asks for,
#: in the npm folder the test installs them to (E2E_HTMX_DIR): nothing of
#: htmx is in the repository.
HTMX_ASSETS = {
    "htmx.min.js": ("htmx.org", "dist", "htmx.min.js"),
    "ws.js": ("htmx-ext-ws", "dist", "ws.js"),
}
HTMX_GROUP = "e2e.htmx"


def htmx_asset(request: HttpRequest, name: str) -> FileResponse:
    """Serve htmx or its ws extension from E2E_HTMX_DIR; 404 without it."""
    root = os.environ.get("E2E_HTMX_DIR")
    if not root or name not in HTMX_ASSETS:
        raise Http404("No such htmx asset (is E2E_HTMX_DIR set?).")
    path = Path(root, "node_modules", *HTMX_ASSETS[name])
    return FileResponse(path.open("rb"), content_type="text/javascript")


def htmx_chat(request: HttpRequest) -> HttpResponse:
    """The page of docs/htmx.rst: ws-connect, a ws-send form, a restart button."""
    return render(request, "htmx_chat.html")


class HtmxChatForm(forms.Form):
    """What the page's ws-send form posts."""

    text = forms.CharField(max_length=100)


_htmx_connections = itertools.count(1)


class HtmxChatView(HtmxWebSocketView):
    """
    Number each connection in #status; broadcast a valid message to every
    page, send the errors of an invalid one to its own; on the restart
    button, close with 1012 as a server restart does.
    """

    group_names = [HTMX_GROUP]

    async def connect(self) -> None:
        await self.accept()
        await self.send_html("htmx_status.html", {"number": next(_htmx_connections)})

    async def receive_htmx(self, message: HtmxMessage) -> None:
        if message.trigger_name == "restart":
            await self.close(CloseCode.SERVICE_RESTART)
            return
        form = HtmxChatForm(message.data)
        if not form.is_valid():
            await self.send_html("htmx_errors.html", {"form": form})
            return
        await abroadcast_html(
            HTMX_GROUP,
            "htmx_message.html",
            {
                "text": form.cleaned_data["text"],
                "trigger": message.trigger,
                "url": message.current_url,
            },
        )


# The JavaScript client from a browser (tests/e2e/test_js_client.py) ---------

import json  # noqa: E402
import mimetypes  # noqa: E402

from django.contrib.staticfiles import finders  # noqa: E402
from django.http import HttpResponseNotFound  # noqa: E402


def found_static_file(request: HttpRequest, path: str) -> HttpResponse:
    """Serve the static file the staticfiles finders find at ``path``, or 404."""
    found = finders.find(path)
    if not found:
        return HttpResponseNotFound(f"No static file {path!r}.")
    with open(found, "rb") as file:
        content = file.read()
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return HttpResponse(content, content_type=content_type)


def js_client_page(request: HttpRequest) -> HttpResponse:
    """The page that loads wsviews.js with {% wsviews_js %} and names routes with {% ws_route %}."""
    return render(request, "js_client.html")


class JsProtocolView(WebSocketView):
    """
    Speak docs/protocol.rst by hand, for the client's call/reply tests.

    A stand-in for a view with actions that uses nothing of
    ``django_wsviews.actions``, so the client's tests do not depend on it.
    A call (``{"action", "id", "payload"}``) is answered as the protocol
    says; any other JSON message is sent back as it came. Actions:

    - ``echo``: the payload is the result;
    - ``fail``: an error reply made of the payload's code, message, details;
    - ``silent``: no reply;
    - ``hold``: no reply until ``release``, which first sends the held
      call's reply, then its own;
    - ``whoami``: what the handshake carried (``wsviews_last``, the
      subprotocols offered, the one accepted);
    - ``emit``: send each item of the payload as an application message,
      then reply;
    - ``close``: close with the payload as the code.
    """

    subprotocols = ("wsviews.v1",)

    held: Any = None

    async def receive(self, message: str | bytes) -> None:
        content = json.loads(message)
        if not isinstance(content, dict) or "action" not in content:
            await self.send(json.dumps(content))
            return
        action, call_id, payload = (
            content["action"],
            content.get("id"),
            content.get("payload"),
        )
        if action == "echo":
            await self.reply(call_id, result=payload)
        elif action == "fail":
            await self.reply(call_id, error=payload)
        elif action == "silent":
            pass
        elif action == "hold":
            self.held = call_id
        elif action == "release":
            await self.reply(self.held, result="released late")
            await self.reply(call_id, result=self.held)
        elif action == "whoami":
            await self.reply(
                call_id,
                result={
                    "last": self.request.GET.get("wsviews_last"),
                    "offered": list(self.scope.get("subprotocols") or ()),
                    "accepted": self.select_subprotocol(),
                },
            )
        elif action == "emit":
            for item in payload:
                await self.send(json.dumps(item))
            await self.reply(call_id, result=len(payload))
        elif action == "close":
            await self.close(int(payload))
        else:
            await self.reply(
                call_id,
                error={"code": "unknown_action", "message": f"No action {action!r}."},
            )

    async def reply(
        self, call_id: Any, *, result: Any = None, error: Any = None
    ) -> None:
        """Send the reply to call ``call_id`` (none when it had no id)."""
        if call_id is None:
            return
        if error is None:
            await self.send(json.dumps({"id": call_id, "ok": True, "result": result}))
        else:
            await self.send(json.dumps({"id": call_id, "ok": False, "error": error}))


# Named actions (tests/e2e/test_actions.py) ----------------------------------

import threading  # noqa: E402

from django_wsviews import ActionError, action  # noqa: E402


class ActionsView(JsonWebSocketView):
    """A view with named actions: async and plain def, a refusal, a check of the payload."""

    @action("rooms.post")
    async def post(self, payload: dict[str, str]) -> dict[str, Any]:
        if not payload.get("text"):
            raise ActionError("invalid", "The text is empty.", {"text": ["Empty."]})
        return {"text": payload["text"], "length": len(payload["text"])}

    @action
    def where(self) -> dict[str, Any]:
        """A plain def: runs in the worker thread, off the event loop's."""
        return {"on_loop": threading.get_ident() == self._loop_thread}

    @action
    async def forbidden(self) -> None:
        raise ActionError("forbidden", "Not you.")
