"""Unit tests of django_wsviews.request: the Django request built from a handshake scope."""

from __future__ import annotations

from typing import Any

import django
import pytest
from django.core.exceptions import DisallowedHost
from django.test import override_settings

from django_wsviews.request import WebSocketRequest

from .support.scopes import websocket_scope

# The scope ------------------------------------------------------------------


def test_scope_is_the_original_object() -> None:
    """request.scope is the server's scope itself, not a copy."""
    scope = websocket_scope()
    assert WebSocketRequest(scope).scope is scope


def test_scope_not_mutated() -> None:
    """Building the request does not add "method" (or anything) to the server's scope."""
    scope = websocket_scope()
    before = dict(scope)
    WebSocketRequest(scope)
    assert scope == before
    assert "method" not in scope


def test_method_get_and_empty_body() -> None:
    """The handshake request is a GET with an empty body."""
    request = WebSocketRequest(websocket_scope())
    assert request.method == "GET"
    assert request.META["REQUEST_METHOD"] == "GET"
    assert request.body == b""


def test_client_and_server_in_meta() -> None:
    """The scope's client and server land in REMOTE_ADDR/REMOTE_PORT and SERVER_NAME/SERVER_PORT."""
    request = WebSocketRequest(
        websocket_scope(client=("10.9.8.7", 4444), server=("example", 8080))
    )
    assert request.META["REMOTE_ADDR"] == "10.9.8.7"
    assert request.META["REMOTE_PORT"] == 4444
    assert request.META["SERVER_NAME"] == "example"
    assert request.META["SERVER_PORT"] == "8080"


# Headers and cookies ----------------------------------------------------------


def test_headers_in_meta_and_headers() -> None:
    """Handshake headers appear in META as HTTP_* and in request.headers."""
    request = WebSocketRequest(
        websocket_scope(
            headers=[
                (b"host", b"testserver"),
                (b"user-agent", b"pytest/1"),
                (b"sec-websocket-version", b"13"),
                (b"x-custom-thing", b"v"),
            ]
        )
    )
    assert request.META["HTTP_USER_AGENT"] == "pytest/1"
    assert request.META["HTTP_SEC_WEBSOCKET_VERSION"] == "13"
    assert request.META["HTTP_X_CUSTOM_THING"] == "v"
    assert request.headers["X-Custom-Thing"] == "v"


def test_repeated_headers_joined() -> None:
    """A repeated header is joined with commas, as Django does."""
    request = WebSocketRequest(
        websocket_scope(
            headers=[(b"host", b"testserver"), (b"x-a", b"1"), (b"x-a", b"2")]
        )
    )
    assert request.META["HTTP_X_A"] == "1,2"


def test_header_names_with_underscores_dropped() -> None:
    """A header spelt with underscores is dropped, so it cannot spoof its hyphenated twin."""
    request = WebSocketRequest(
        websocket_scope(
            headers=[
                (b"host", b"testserver"),
                (b"x_forwarded_proto", b"https"),
                (b"x_custom", b"spoof"),
            ]
        )
    )
    assert "HTTP_X_FORWARDED_PROTO" not in request.META
    assert "HTTP_X_CUSTOM" not in request.META


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_underscore_header_cannot_spoof_proxy_ssl_header() -> None:
    """x_forwarded_proto does not make the request secure under SECURE_PROXY_SSL_HEADER."""
    request = WebSocketRequest(
        websocket_scope(
            headers=[(b"host", b"testserver"), (b"x_forwarded_proto", b"https")]
        )
    )
    assert not request.is_secure()


def test_cookies_parsed() -> None:
    """The Cookie header is parsed into COOKIES."""
    request = WebSocketRequest(
        websocket_scope(
            headers=[
                (b"host", b"testserver"),
                (b"cookie", b"sessionid=abc; theme=dark"),
            ]
        )
    )
    assert request.COOKIES == {"sessionid": "abc", "theme": "dark"}


def test_split_cookie_headers_merged() -> None:
    """Several Cookie headers (as HTTP/2 sends them) are merged into one COOKIES."""
    request = WebSocketRequest(
        websocket_scope(
            headers=[(b"host", b"testserver"), (b"cookie", b"a=1"), (b"cookie", b"b=2")]
        )
    )
    assert request.COOKIES == {"a": "1", "b": "2"}


def test_no_cookie_header_empty_cookies() -> None:
    """Without a Cookie header COOKIES is empty."""
    assert WebSocketRequest(websocket_scope()).COOKIES == {}


# Query string -----------------------------------------------------------------


def test_get_parsed_with_repeated_keys() -> None:
    """GET is parsed from query_string; repeated keys keep every value, in order."""
    request = WebSocketRequest(
        websocket_scope(query_string=b"room=lobby&tag=a&tag=b&empty=")
    )
    assert request.GET["room"] == "lobby"
    assert request.GET.getlist("tag") == ["a", "b"]
    assert request.GET["empty"] == ""
    assert request.META["QUERY_STRING"] == "room=lobby&tag=a&tag=b&empty="


def test_get_percent_decoded_as_utf8() -> None:
    """Percent-encoded UTF-8 in the query string is decoded."""
    request = WebSocketRequest(websocket_scope(query_string=b"q=%C3%A9t%C3%A9&s=a+b"))
    assert request.GET["q"] == "été"
    assert request.GET["s"] == "a b"


def test_malformed_query_string_does_not_raise() -> None:
    """A malformed query string (bad escapes, stray separators, invalid UTF-8 escapes) still parses."""
    request = WebSocketRequest(websocket_scope(query_string=b"a=%zz&&=x&b&c=%ff"))
    assert request.GET["a"] == "%zz"
    assert request.GET["b"] == ""
    assert request.GET["c"] == "\ufffd"


def test_empty_query_string() -> None:
    """No query string gives an empty GET."""
    request = WebSocketRequest(websocket_scope(query_string=b""))
    assert dict(request.GET) == {}
    assert request.META["QUERY_STRING"] == ""


# Paths ------------------------------------------------------------------------


def test_path_without_prefix() -> None:
    """Without a script prefix, path and path_info are the scope's path."""
    request = WebSocketRequest(websocket_scope(path="/ws/chat/lobby/"))
    assert request.path == "/ws/chat/lobby/"
    assert request.path_info == "/ws/chat/lobby/"
    assert request.META["SCRIPT_NAME"] == ""
    assert request.META["PATH_INFO"] == "/ws/chat/lobby/"


def test_root_path_removed_from_path_info() -> None:
    """The scope's root_path is the script name, removed from path_info but kept in path."""
    request = WebSocketRequest(
        websocket_scope(path="/prefix/ws/chat/", root_path="/prefix")
    )
    assert request.path == "/prefix/ws/chat/"
    assert request.path_info == "/ws/chat/"
    assert request.META["SCRIPT_NAME"] == "/prefix"


@pytest.mark.skipif(
    django.VERSION < (5, 0),
    reason="Django 4.2's ASGIRequest keeps root_path in path under FORCE_SCRIPT_NAME",
)
@override_settings(FORCE_SCRIPT_NAME="/forced")
def test_force_script_name_overrides_root_path() -> None:
    """FORCE_SCRIPT_NAME is the script name, whatever root_path says."""
    request = WebSocketRequest(
        websocket_scope(path="/forced/ws/chat/", root_path="/other")
    )
    assert request.path == "/forced/ws/chat/"
    assert request.path_info == "/ws/chat/"
    assert request.META["SCRIPT_NAME"] == "/forced"


# Scheme and security ------------------------------------------------------------


def test_ws_not_secure() -> None:
    """scheme ws: not secure, request.scheme http, websocket_scheme ws."""
    request = WebSocketRequest(websocket_scope(scheme="ws"))
    assert request.is_secure() is False
    assert request.scheme == "http"
    assert request.websocket_scheme == "ws"


def test_wss_secure() -> None:
    """scheme wss: secure, request.scheme https, websocket_scheme wss."""
    request = WebSocketRequest(
        websocket_scope(scheme="wss", server=("testserver", 443))
    )
    assert request.is_secure() is True
    assert request.scheme == "https"
    assert request.websocket_scheme == "wss"


def test_scheme_absent_is_http() -> None:
    """A scope without "scheme" (as daphne may send) counts as plain http."""
    scope = websocket_scope()
    del scope["scheme"]
    request = WebSocketRequest(scope)
    assert request.scheme == "http"
    assert request.is_secure() is False


def test_unknown_scheme_is_http() -> None:
    """An unexpected scheme value is treated as plain http, never as secure."""
    request = WebSocketRequest(websocket_scope(scheme="gopher"))
    assert request.scheme == "http"
    assert request.is_secure() is False


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_secure_proxy_ssl_header_honoured() -> None:
    """Behind a TLS-terminating proxy, X-Forwarded-Proto: https makes a ws handshake secure."""
    secure = WebSocketRequest(
        websocket_scope(
            headers=[(b"host", b"testserver"), (b"x-forwarded-proto", b"https")]
        )
    )
    assert secure.is_secure() is True
    assert secure.websocket_scheme == "wss"
    plain = WebSocketRequest(
        websocket_scope(
            headers=[(b"host", b"testserver"), (b"x-forwarded-proto", b"http")]
        )
    )
    assert plain.is_secure() is False


# Host and absolute URIs ------------------------------------------------------------


def test_get_host_from_host_header() -> None:
    """get_host() returns the Host header, port included."""
    request = WebSocketRequest(websocket_scope(headers=[(b"host", b"localhost:8000")]))
    assert request.get_host() == "localhost:8000"


def test_get_host_without_header_uses_server() -> None:
    """Without a Host header, get_host() falls back to the scope's server."""
    request = WebSocketRequest(websocket_scope(headers=[], server=("localhost", 8000)))
    assert request.get_host() == "localhost:8000"


def test_get_host_disallowed() -> None:
    """A Host outside ALLOWED_HOSTS raises DisallowedHost."""
    request = WebSocketRequest(websocket_scope(headers=[(b"host", b"evil.example")]))
    with pytest.raises(DisallowedHost):
        request.get_host()


def test_build_absolute_uri_plain() -> None:
    """build_absolute_uri() uses http and the host; with no argument it is the full path."""
    request = WebSocketRequest(
        websocket_scope(
            path="/ws/echo/",
            query_string=b"a=1",
            headers=[(b"host", b"localhost:8000")],
        )
    )
    assert request.build_absolute_uri() == "http://localhost:8000/ws/echo/?a=1"
    assert request.build_absolute_uri("/x/") == "http://localhost:8000/x/"


def test_build_absolute_uri_secure() -> None:
    """On wss, build_absolute_uri() gives https URLs."""
    request = WebSocketRequest(websocket_scope(scheme="wss"))
    assert request.build_absolute_uri("/x/") == "https://testserver/x/"


def test_build_absolute_uri_keeps_script_prefix() -> None:
    """build_absolute_uri() of the request itself keeps the script prefix in the path."""
    request = WebSocketRequest(
        websocket_scope(path="/prefix/ws/echo/", root_path="/prefix")
    )
    assert request.build_absolute_uri() == "http://testserver/prefix/ws/echo/"


# The request inside the ASGI application ----------------------------------------


async def test_non_utf8_query_string_refused_with_400() -> None:
    """A raw non-UTF-8 byte in query_string refuses the handshake with 400, as Django's ASGI handler does."""
    import asyncio

    from django.core.handlers.asgi import ASGIHandler

    from django_wsviews.asgi import WebSocketMiddleware

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = websocket_scope(
        path="/ws/echo/",
        query_string=b"q=\xff",
        extensions={"websocket.http.response": {}},
    )
    await asyncio.wait_for(WebSocketMiddleware(ASGIHandler())(scope, receive, send), 5)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 400
