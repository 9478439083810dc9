"""Unit tests of django_wsviews.origins: the Origin check against cross-site WebSocket hijacking."""

from __future__ import annotations

import pytest
from django.core.exceptions import DisallowedHost
from django.test import override_settings

from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.origins import origin_allowed
from django_wsviews.request import WebSocketRequest
from django_wsviews.testing import WebSocketClient


def handshake(
    origin: str,
    host: str = "testserver",
    scheme: str = "ws",
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> WebSocketRequest:
    """Return the request of a handshake from ``origin`` to ``host``."""
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    headers.extend(extra_headers or [])
    return WebSocketRequest(
        {
            "type": "websocket",
            "scheme": scheme,
            "path": "/ws/echo/",
            "query_string": b"",
            "headers": headers,
        }
    )


# The site's own origin ------------------------------------------------------------


def test_same_origin_allowed() -> None:
    """The page's own origin (http for ws) may open a socket."""
    assert origin_allowed(handshake("http://testserver")) is True


def test_same_origin_with_port_allowed() -> None:
    """The own origin includes the port of the Host header."""
    assert (
        origin_allowed(handshake("http://localhost:8000", host="localhost:8000"))
        is True
    )


def test_different_port_refused() -> None:
    """The same host on another port is another origin (RFC 6454)."""
    assert (
        origin_allowed(handshake("http://localhost:9000", host="localhost:8000"))
        is False
    )
    assert origin_allowed(handshake("http://localhost", host="localhost:8000")) is False
    assert origin_allowed(handshake("http://localhost:8000", host="localhost")) is False


def test_secure_same_origin_allowed() -> None:
    """On wss the own origin is https."""
    assert origin_allowed(handshake("https://testserver", scheme="wss")) is True


def test_scheme_mismatch_refused() -> None:
    """An https origin does not match a ws handshake, nor an http origin a wss one."""
    assert origin_allowed(handshake("https://testserver", scheme="ws")) is False
    assert origin_allowed(handshake("http://testserver", scheme="wss")) is False


def test_ws_scheme_origin_refused() -> None:
    """Origins are page origins (http/https); a ws:// "origin" is not the site's own."""
    assert origin_allowed(handshake("ws://testserver")) is False


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_secure_behind_proxy_uses_https_origin() -> None:
    """Behind a TLS proxy (SECURE_PROXY_SSL_HEADER), the own origin is https."""
    proxied = [(b"x-forwarded-proto", b"https")]
    assert (
        origin_allowed(handshake("https://testserver", extra_headers=proxied)) is True
    )
    assert (
        origin_allowed(handshake("http://testserver", extra_headers=proxied)) is False
    )


def test_other_site_refused() -> None:
    """A foreign site is refused, including look-alike hosts."""
    assert origin_allowed(handshake("http://evil.example")) is False
    assert origin_allowed(handshake("http://testserver.evil.example")) is False
    assert origin_allowed(handshake("http://eviltestserver")) is False


# Trusted origins -----------------------------------------------------------------------


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.com"])
def test_csrf_trusted_origin_exact() -> None:
    """An origin listed exactly in CSRF_TRUSTED_ORIGINS is allowed; its neighbours are not."""
    assert origin_allowed(handshake("https://app.example.com")) is True
    assert origin_allowed(handshake("http://app.example.com")) is False
    assert origin_allowed(handshake("https://app.example.com:8443")) is False
    assert origin_allowed(handshake("https://other.example.com")) is False


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.example.com"])
def test_csrf_trusted_origin_wildcard_subdomain() -> None:
    """A "*." entry allows subdomains at any depth and the domain itself, scheme and port fixed."""
    assert origin_allowed(handshake("https://app.example.com")) is True
    assert origin_allowed(handshake("https://a.b.example.com")) is True
    assert origin_allowed(handshake("https://example.com")) is True
    assert origin_allowed(handshake("http://app.example.com")) is False
    assert origin_allowed(handshake("https://app.example.com:8443")) is False
    assert origin_allowed(handshake("https://evilexample.com")) is False
    assert origin_allowed(handshake("https://example.com.evil.net")) is False


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.example.com:8443"])
def test_csrf_trusted_origin_wildcard_with_port() -> None:
    """A wildcard entry with a port allows that port only."""
    assert origin_allowed(handshake("https://app.example.com:8443")) is True
    assert origin_allowed(handshake("https://app.example.com")) is False


def test_extra_origins_exact_and_wildcard() -> None:
    """extra_origins are trusted like CSRF_TRUSTED_ORIGINS, exact or wildcard."""
    extra = ["https://partner.example.org", "https://*.cdn.example.net"]
    assert origin_allowed(handshake("https://partner.example.org"), extra) is True
    assert origin_allowed(handshake("https://x.cdn.example.net"), extra) is True
    assert origin_allowed(handshake("https://other.example.org"), extra) is False
    assert origin_allowed(handshake("https://partner.example.org")) is False


def test_extra_origins_one_shot_iterable() -> None:
    """extra_origins may be any iterable, even a generator."""
    extra = (o for o in ["https://partner.example.org"])
    assert origin_allowed(handshake("https://partner.example.org"), extra) is True


# Hostile values ------------------------------------------------------------------------


def test_null_origin_refused() -> None:
    """Origin: null (sandboxed frames, file: pages) is refused."""
    assert origin_allowed(handshake("null")) is False


def test_null_origin_refused_even_if_listed() -> None:
    """Origin: null is refused even when listed as trusted."""
    assert origin_allowed(handshake("null"), ["null"]) is False


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.example.com"])
def test_malformed_origin_refused() -> None:
    """A malformed Origin (unparsable, empty, no scheme) is refused without raising."""
    assert origin_allowed(handshake("https://[::1")) is False
    assert origin_allowed(handshake("")) is False
    assert origin_allowed(handshake("app.example.com")) is False
    assert origin_allowed(handshake("https://")) is False


def test_disallowed_host_raises() -> None:
    """A Host outside ALLOWED_HOSTS raises DisallowedHost, even for a matching Origin."""
    with pytest.raises(DisallowedHost):
        origin_allowed(handshake("http://evil.example", host="evil.example"))


# Through the handshake -----------------------------------------------------------------


async def test_handshake_foreign_origin_rejected_403() -> None:
    """A handshake from a foreign Origin is refused with 403 before the view runs."""
    client = WebSocketClient()
    with pytest.raises(HandshakeRejected) as info:
        await client.connect("/ws/echo/", headers={"Origin": "http://evil.example"})
    assert info.value.status == 403


async def test_handshake_own_origin_accepted() -> None:
    """A handshake from the site's own Origin is accepted."""
    client = WebSocketClient()
    async with client.connect(
        "/ws/echo/", headers={"Origin": "http://testserver"}
    ) as ws:
        await ws.send("ping")
        assert await ws.receive() == "ping"
