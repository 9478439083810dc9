"""Unit tests of django_wsviews.responses: 426 for plain HTTP, header conversion, deny()."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.test import Client, override_settings

from django_wsviews.responses import deny, response_headers, upgrade_required
from django_wsviews.status import CloseCode

DENIAL = {"websocket.http.response": {}}


class Collector:
    """A fake ASGI send that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


# upgrade_required() ------------------------------------------------------------


def test_upgrade_required_status_and_headers() -> None:
    """The plain-HTTP answer is 426 with Upgrade: websocket and Connection: Upgrade."""
    response = upgrade_required()
    assert response.status_code == 426
    assert response["Upgrade"] == "websocket"
    assert response["Connection"] == "Upgrade"
    assert response["Content-Type"].startswith("text/plain")
    assert response.content


def test_upgrade_required_fresh_each_time() -> None:
    """Each call builds a new response, so one caller's changes do not leak to the next."""
    first = upgrade_required()
    first["X-Changed"] = "1"
    assert "X-Changed" not in upgrade_required()


@override_settings(ROOT_URLCONF="tests.support.urls_checks_e003")
def test_websocket_view_over_http_answers_426() -> None:
    """A WebSocket view reached through Django's HTTP handler answers 426 Upgrade Required."""
    response = Client().get("/as-view/")
    assert response.status_code == 426
    assert response["Upgrade"] == "websocket"


# response_headers() ---------------------------------------------------------------


def test_response_headers_are_latin1_byte_pairs() -> None:
    """Headers come out as (bytes, bytes) pairs with names and values intact."""
    response = HttpResponse(content_type="text/plain")
    response["X-Thing"] = "café"
    headers = response_headers(response)
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in headers)
    assert (b"Content-Type", b"text/plain") in headers
    assert (b"X-Thing", "café".encode("latin-1")) in headers


def test_response_headers_include_cookies() -> None:
    """Cookies set on the response become Set-Cookie headers with their attributes."""
    response = HttpResponse()
    response.set_cookie("sessionid", "abc", httponly=True, samesite="Lax")
    response.set_cookie("theme", "dark", path="/ws/")
    cookies = [v for k, v in response_headers(response) if k.lower() == b"set-cookie"]
    assert len(cookies) == 2
    session = next(c for c in cookies if c.startswith(b"sessionid=abc"))
    assert b"HttpOnly" in session
    assert b"SameSite=Lax" in session
    assert b"Path=/" in session
    theme = next(c for c in cookies if c.startswith(b"theme=dark"))
    assert b"Path=/ws/" in theme
    assert not any(
        c.startswith(b" ") or c.lower().startswith(b"set-cookie") for c in cookies
    )


def test_response_headers_deleted_cookie() -> None:
    """A deleted cookie is sent as an expiring Set-Cookie."""
    response = HttpResponse()
    response.delete_cookie("sessionid")
    (cookie,) = [v for k, v in response_headers(response) if k == b"set-cookie"]
    assert cookie.startswith(b'sessionid=""')
    assert b"Max-Age=0" in cookie


def test_response_headers_without_cookies() -> None:
    """Without cookies there is no Set-Cookie header."""
    headers = response_headers(HttpResponse())
    assert not any(k.lower() == b"set-cookie" for k, _ in headers)


# deny() -------------------------------------------------------------------------------


async def test_deny_with_denial_extension() -> None:
    """With websocket.http.response, deny() sends the status, headers and body as a response."""
    send = Collector()
    await deny(
        {"type": "websocket", "extensions": DENIAL},
        send,
        404,
        [(b"content-type", b"text/plain")],
        b"Not Found\n",
    )
    assert send.messages == [
        {
            "type": "websocket.http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"text/plain")],
        },
        {"type": "websocket.http.response.body", "body": b"Not Found\n"},
    ]


async def test_deny_with_extension_defaults() -> None:
    """With the extension and no headers or body, deny() sends empty ones."""
    send = Collector()
    await deny({"type": "websocket", "extensions": DENIAL}, send, 403)
    assert send.messages == [
        {"type": "websocket.http.response.start", "status": 403, "headers": []},
        {"type": "websocket.http.response.body", "body": b""},
    ]


async def test_deny_consumes_header_iterator() -> None:
    """Headers given as a one-shot iterator are sent as a list."""
    send = Collector()
    headers = iter([(b"x-a", b"1"), (b"x-b", b"2")])
    await deny({"type": "websocket", "extensions": DENIAL}, send, 401, headers)
    assert send.messages[0]["headers"] == [(b"x-a", b"1"), (b"x-b", b"2")]


async def test_deny_without_extension_closes() -> None:
    """Without the extension (daphne), deny() closes before accept with 1008, whatever the status."""
    for extensions in ({}, None, {"websocket.other": {}}):
        send = Collector()
        await deny(
            {"type": "websocket", "extensions": extensions},
            send,
            404,
            [(b"content-type", b"text/plain")],
            b"Not Found\n",
        )
        assert send.messages == [{"type": "websocket.close", "code": 1008}]
        assert send.messages[0]["code"] == CloseCode.POLICY_VIOLATION


async def test_deny_scope_without_extensions_key() -> None:
    """A scope with no "extensions" key at all is treated as a server without the extension."""
    send = Collector()
    await deny({"type": "websocket"}, send, 500)
    assert send.messages == [{"type": "websocket.close", "code": 1008}]
