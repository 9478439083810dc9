"""Middleware the handshake tests put in WSVIEWS_MIDDLEWARE."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase

#: What middleware saw, for the tests to inspect.
seen: list[Any] = []


def refuse_teapots(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Any:
    """Refuse handshakes with ?teapot=1 with 418."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        if request.GET.get("teapot"):
            return HttpResponse("I'm a teapot", status=418)
        return get_response(request)

    return middleware


def add_header(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Any:
    """Add a header and a cookie to the handshake response."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        request.tagged_by_middleware = True  # type: ignore[attr-defined]
        response = get_response(request)
        response["X-Handshake"] = "yes"
        response.set_cookie("refreshed", "1")
        return response

    return middleware


class AsyncOnly:
    """An async-only middleware: adapted into the synchronous chain."""

    sync_capable = False
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]
    ) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request.async_middleware_ran = True  # type: ignore[attr-defined]
        return await self.get_response(request)


class ViewRecorder:
    """Record what process_view() is given; refuse views marked ``refuse``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        seen.append((view, args, kwargs))
        if getattr(view.view_class, "refuse", False):
            return HttpResponse(status=451)
        return None
