"""Tests for django_wsviews.tokens: signed-token authentication."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient
from django_wsviews.tokens import make_token, user_for_token

pytestmark = pytest.mark.django_db(transaction=True)


async def test_subprotocol_token_authenticates() -> None:
    """A token offered as a 'bearer.' subprotocol makes request.user its user."""
    user = await User.objects.acreate(username="tok")
    token = await sync_to_async(make_token)(user)
    async with WebSocketClient().connect(
        "/ws/token/", subprotocols=[f"bearer.{token}"]
    ) as ws:
        assert await ws.receive() == "tok"
        assert ws.subprotocol is None  # the token is never echoed back


async def test_bad_token_is_refused() -> None:
    """A forged token leaves the user anonymous, so LoginRequiredMixin refuses."""
    user = await User.objects.acreate(username="victim")
    token = await sync_to_async(make_token)(user)
    forged = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    with pytest.raises(HandshakeRejected) as refused:
        await WebSocketClient().connect("/ws/token/", subprotocols=[f"bearer.{forged}"])
    assert refused.value.status == 403


async def test_query_token_only_where_enabled() -> None:
    """The query-string token works only on views that name the parameter."""
    user = await User.objects.acreate(username="q")
    token = await sync_to_async(make_token)(user)
    async with WebSocketClient().connect(f"/ws/query-token/?token={token}") as ws:
        assert await ws.receive() == "q"
    with pytest.raises(HandshakeRejected):
        await WebSocketClient().connect(f"/ws/token/?token={token}")


async def test_token_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A refused handshake's logs never contain the token."""
    user = await User.objects.acreate(username="secret")
    token = await sync_to_async(make_token)(user)
    with caplog.at_level(logging.DEBUG), pytest.raises(HandshakeRejected):
        await WebSocketClient().connect(f"/ws/token/?token={token}")
    assert token not in caplog.text


def test_token_expires() -> None:
    """A token older than max_age identifies nobody."""
    user = User.objects.create(username="old")
    token = make_token(user)
    assert user_for_token(token, max_age=60) == user
    assert user_for_token(token, max_age=-1) is None


def test_password_change_invalidates_tokens() -> None:
    """Changing the password invalidates tokens made before."""
    user = User.objects.create(username="pw")
    user.set_password("one")
    user.save()
    token = make_token(user)
    user.set_password("two")
    user.save()
    assert user_for_token(token) is None


def test_inactive_and_deleted_users() -> None:
    """Tokens of inactive or deleted users identify nobody."""
    user = User.objects.create(username="gone")
    token = make_token(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert user_for_token(token) is None
    user.delete()
    assert user_for_token(token) is None


def test_token_is_a_valid_subprotocol_name() -> None:
    """Tokens use only characters allowed in a Sec-WebSocket-Protocol value."""
    user = User.objects.create(username="chars")
    token = make_token(user)
    assert set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    )


def test_anonymous_users_get_no_token() -> None:
    """make_token() refuses an anonymous user."""
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(ValueError, match="authenticated"):
        make_token(AnonymousUser())
