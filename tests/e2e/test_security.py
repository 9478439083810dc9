"""
End-to-end: the handshake protections, on real servers with a real session.

A user logs in through Django's own LoginView over HTTP; the session cookie
it sets opens a login-required socket. Forged origins, anonymous handshakes
and oversized messages are refused on every server.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from websockets.exceptions import InvalidStatus

from .helpers import (
    SERVER_PARAMS,
    TIMEOUT,
    Server,
    assert_clean,
    by_server,
    drain,
    recv,
    server_close,
    ws_connect,
)

USERNAME, PASSWORD = "alice", "correct-horse-battery"


@pytest.fixture(scope="module", params=SERVER_PARAMS)
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Return a running server whose database has a user to log in as."""
    server = Server(request.param, tmp_path_factory.mktemp(f"{request.param}-security"))
    server.manage("migrate", "--no-input", "-v", "0")
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop_or_kill()


def log_in(server: Server) -> str:
    """Log in through Django's LoginView over HTTP; return the session cookie value."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/login/")
        page = conn.getresponse()
        body = page.read().decode()
        cookies = SimpleCookie(page.getheader("set-cookie"))
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        assert match is not None, body
        form = urllib.parse.urlencode(
            {
                "username": USERNAME,
                "password": PASSWORD,
                "csrfmiddlewaretoken": match.group(1),
            }
        )
        conn.request(
            "POST",
            "/login/",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={cookies['csrftoken'].value}",
                "Origin": own_origin(server),
            },
        )
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 302, answer.status
        session = SimpleCookie(answer.getheader("set-cookie"))
        return session["sessionid"].value
    finally:
        conn.close()


def own_origin(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}"


async def test_logged_in_session_is_accepted(secured: Server) -> None:
    """A real session cookie from Django's login view opens a login-required socket."""
    session = log_in(secured)
    async with ws_connect(
        secured,
        "/ws/whoami/",
        origin=own_origin(secured),
        additional_headers={"Cookie": f"sessionid={session}"},
    ) as ws:
        assert await recv(ws) == USERNAME


async def test_anonymous_handshake_is_refused(secured: Server) -> None:
    """An anonymous handshake to a login-required view is refused with 403."""
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(secured, "/ws/whoami/", origin=own_origin(secured)):
            pass
    assert refused.value.response.status_code == 403


async def test_forged_origin_is_refused_even_with_a_session(secured: Server) -> None:
    """A cross-site handshake carrying the victim's cookie is refused with 403."""
    session = log_in(secured)
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(
            secured,
            "/ws/whoami/",
            origin="https://evil.example",
            additional_headers={"Cookie": f"sessionid={session}"},
        ):
            pass
    assert refused.value.response.status_code == 403
    mark = secured.mark()
    await drain(secured)
    assert_clean(secured.log_since(mark))


async def test_oversized_message_closes_1009(secured: Server) -> None:
    """A message over the view's limit closes with 1009 (4009 on daphne)."""
    async with ws_connect(secured, "/ws/small/", max_size=None) as ws:
        await ws.send(b"x" * (64 * 1024))
        assert len(await recv(ws)) == 64 * 1024
        await ws.send(b"x" * (64 * 1024 + 1))
        closed = await server_close(ws)
    assert closed.rcvd is not None
    assert closed.rcvd.code == by_server(
        secured, uvicorn=1009, hypercorn=1009, daphne=4009, granian=1009
    )
