"""HTTP answers to WebSocket handshakes: refusals, and 426 for plain HTTP to a view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from .status import CloseCode

__all__ = ["deny", "response_headers", "upgrade_required", "view_callable"]

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


def view_callable(view_class: type, initkwargs: dict[str, Any]) -> Callable[..., Any]:
    """
    Return what ``view_class.as_view(**initkwargs)`` puts in a URLconf.

    It carries ``view_class`` and ``view_initkwargs`` (the handshake builds
    the view from them) and the attributes decorators left on
    ``dispatch()`` (``login_not_required``, through ``method_decorator``), as
    Django's views do; called by Django's HTTP handler (the view was routed
    in ``urlpatterns``), it answers 426 Upgrade Required.
    """

    async def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return upgrade_required()

    view.view_class = view_class  # type: ignore[attr-defined]
    view.view_initkwargs = initkwargs  # type: ignore[attr-defined]
    view.__doc__ = view_class.__doc__
    view.__module__ = view_class.__module__
    view.__qualname__ = f"{view_class.__qualname__}.as_view.<locals>.view"
    view.__dict__.update(view_class.dispatch.__dict__)  # type: ignore[attr-defined]
    return view


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
