"""HTTP answers to WebSocket handshakes: refusals, and 426 for plain HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse, HttpResponseBase

from .status import CloseCode

__all__ = ["deny", "response_headers", "upgrade_required"]

DENIAL_EXTENSION = "websocket.http.response"


def upgrade_required() -> HttpResponse:
    """Return the 426 response a plain HTTP request to a WebSocket view gets."""
    response = HttpResponse(
        "This URL serves a WebSocket. Connect with a WebSocket client.\n",
        status=426,
        content_type="text/plain; charset=utf-8",
    )
    response["Upgrade"] = "websocket"
    response["Connection"] = "Upgrade"
    return response


def response_headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    """Return a response's headers and cookies as ASGI header pairs."""
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.items()
    ]
    headers.extend(
        (b"set-cookie", cookie.output(header="").strip().encode("latin-1"))
        for cookie in response.cookies.values()
    )
    return headers


async def deny(
    scope: Any,
    send: Any,
    status: int,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> None:
    """
    Refuse a pending handshake with an HTTP ``status``.

    Where the server advertises the ``websocket.http.response`` extension
    (uvicorn, hypercorn) the client gets ``status``, ``headers`` and ``body``;
    elsewhere (daphne) the handshake is closed before accept and the server
    answers 403.
    """
    if DENIAL_EXTENSION in (scope.get("extensions") or {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": list(headers),
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        # Let the server finish the response before the application returns:
        # uvicorn marks the handshake complete only once the transport is
        # closed, one loop turn later, and logs "ASGI callable returned
        # without completing handshake" if the application is faster.
        await asyncio.sleep(0)
    else:
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
