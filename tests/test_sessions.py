"""Tests for django_wsviews.sessions: sockets that follow their session."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.test import RequestFactory

from django_wsviews import CloseCode, ConnectionClosed, sessions
from django_wsviews.testing import WebSocketClient

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in_client(username: str) -> tuple[WebSocketClient, User]:
    user = await User.objects.acreate(username=username)
    client = WebSocketClient()
    await client.aforce_login(user)
    return client, user


def session_key(client: WebSocketClient) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def log_out(key: str, user: User) -> None:
    request = RequestFactory().get("/logout/")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    request.user = user
    logout(request)


async def test_logout_closes_the_sessions_sockets() -> None:
    """Logging out closes, with 4401, the sockets opened with that session only."""
    client, user = await logged_in_client("leaver")
    other, _ = await logged_in_client("stayer")
    mine = await client.connect("/ws/echo/")
    theirs = await other.connect("/ws/echo/")
    await sync_to_async(log_out)(session_key(client), user)
    assert await mine.wait_closed() == CloseCode.UNAUTHORIZED
    await theirs.send("still open")
    assert await theirs.receive() == "still open"
    await theirs.close()


async def test_logout_closes_every_socket_of_the_session() -> None:
    """Logging out closes all the sockets opened with that session, not only one."""
    client, user = await logged_in_client("tabs")
    tabs = [await client.connect("/ws/echo/") for _ in range(3)]
    await sync_to_async(log_out)(session_key(client), user)
    for tab in tabs:
        assert await tab.wait_closed() == CloseCode.UNAUTHORIZED


async def delete_session(client: WebSocketClient) -> None:
    """Delete the client's session from the store, as a logout elsewhere would."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key(client))
    await sync_to_async(store.delete)()


async def echo_then_message_without_session(
    path: str, username: str
) -> ConnectionClosed:
    """Echo once on ``path``, delete the session, send again; return the ConnectionClosed that follows."""
    client, _ = await logged_in_client(username)
    ws = await client.connect(path)
    await ws.send("a")
    assert await ws.receive() == "a"
    await delete_session(client)
    await ws.send("b")
    with pytest.raises(ConnectionClosed) as closed:
        await ws.receive()
    return closed.value


async def test_recheck_each_message() -> None:
    """With Limits(session_recheck_interval=0) a message after the session ends closes 4401."""
    closed = await echo_then_message_without_session("/ws/recheck/", "rechecked")
    assert (closed.code, closed.reason) == (CloseCode.UNAUTHORIZED, "Session ended.")


async def test_recheck_by_the_project_setting(settings: Any) -> None:
    """WSVIEWS_SESSION_RECHECK_INTERVAL re-reads the session of a view that sets no limits."""
    settings.WSVIEWS_SESSION_RECHECK_INTERVAL = 0
    closed = await echo_then_message_without_session("/ws/echo/", "project-wide")
    assert closed.code == CloseCode.UNAUTHORIZED


async def test_no_recheck_by_default() -> None:
    """Without a recheck interval a socket outlives its deleted session (logout is what closes it)."""
    client, _ = await logged_in_client("unchecked")
    ws = await client.connect("/ws/echo/")
    await delete_session(client)
    await ws.send("still here")
    assert await ws.receive() == "still here"
    await ws.close()


async def test_recheck_periodically() -> None:
    """With an interval the session is re-read without waiting for a message."""
    client, _ = await logged_in_client("periodic")
    ws = await client.connect("/ws/recheck-periodic/")
    await delete_session(client)
    assert await ws.wait_closed() == CloseCode.UNAUTHORIZED


async def test_password_change_ends_the_session() -> None:
    """A password change elsewhere fails Django's session check: the socket closes."""
    client, user = await logged_in_client("pwchange")
    ws = await client.connect("/ws/recheck/")

    def change_password() -> None:
        user.set_password("new")
        user.save()

    await sync_to_async(change_password)()
    await ws.send("x")
    assert await ws.wait_closed() == CloseCode.UNAUTHORIZED


async def test_anonymous_sockets_stay_valid() -> None:
    """A socket opened anonymously is never closed by the recheck."""
    async with WebSocketClient().connect("/ws/recheck/") as ws:
        await ws.send("a")
        assert await ws.receive() == "a"


async def test_a_session_without_a_login_stays_valid() -> None:
    """A socket opened with a session nobody is logged in to is not closed by the recheck."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["visits"] = 1
    await sync_to_async(store.save)()
    client = WebSocketClient()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    async with client.connect("/ws/recheck/") as ws:
        for message in ("a", "b"):
            await ws.send(message)
            assert await ws.receive() == message


async def test_a_failing_recheck_is_the_views_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error while re-reading the session goes to handle_exception(), as it was raised."""
    client, _ = await logged_in_client("unlucky")
    ws = await client.connect("/ws/recheck/")

    def store_down(key: str) -> None:
        raise RuntimeError("the session store is down")

    monkeypatch.setattr(sessions, "_fresh_session", store_down)
    await ws.send("x")
    with pytest.raises(RuntimeError, match="the session store is down"):
        await ws.wait_closed()


async def test_deleting_a_user_closes_their_sockets() -> None:
    """Deleting a user closes, with 4401, the sockets that joined their user group."""
    client, user = await logged_in_client("doomed")
    ws = await client.connect("/ws/login-required/")
    assert await ws.receive() == "doomed"
    await user.adelete()
    assert await ws.wait_closed() == CloseCode.UNAUTHORIZED
