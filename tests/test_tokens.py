"""Tests for django_wsviews.tokens: signed-token authentication."""

from __future__ import annotations

import logging
import time
from typing import Any
from unittest import mock

import django
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core import signing
from django.test import override_settings
from django.urls import path
from django.views.debug import ExceptionReporter

from django_wsviews import CloseCode, LoginRequiredMixin, WebSocketView
from django_wsviews.exceptions import ConnectionClosed, HandshakeRejected
from django_wsviews.testing import WebSocketClient
from django_wsviews.tokens import TokenAuthMixin, make_token, user_for_token

from .support.views import NameView

pytestmark = pytest.mark.django_db(transaction=True)


class ChatTokenView(TokenAuthMixin, NameView):
    """A token-authenticated view that speaks two subprotocols of its own."""

    subprotocols = ("chat.v2", "chat.v1")


class CloseOnDenialTokenView(TokenAuthMixin, LoginRequiredMixin, NameView):
    """Accept, then close with 4401, a handshake without a valid token."""

    close_on_denial = True


class FailingTokenView(TokenAuthMixin, LoginRequiredMixin, WebSocketView):
    """Authenticate from the token, then fail in connect()."""

    async def connect(self) -> None:
        raise RuntimeError("connect() failed")


class HeaderTokenView(TokenAuthMixin, WebSocketView):
    """Send what the view sees of Sec-WebSocket-Protocol: META, headers, scope."""

    async def connect(self) -> None:
        await self.accept()
        await self.send(self.request.headers["Sec-WebSocket-Protocol"])
        await self.send(self.request.META["HTTP_SEC_WEBSOCKET_PROTOCOL"])
        await self.send(", ".join(self.scope["subprotocols"]))


class FailingAcceptView(TokenAuthMixin, WebSocketView):
    """Fail inside accept(), once the bearer item is chosen as the answer."""

    def get_group_names(self) -> list[str]:
        raise RuntimeError("get_group_names() failed")


class UnofferedBearerView(TokenAuthMixin, WebSocketView):
    """Accept with a bearer item the client did not offer (a bug)."""

    async def connect(self) -> None:
        # Built at run time: a traceback quotes this line, not the value.
        await self.accept(subprotocol="bearer." + "never-offered".upper())


class UnofferedChoiceView(TokenAuthMixin, WebSocketView):
    """Choose a subprotocol the client did not offer (a bug)."""

    def select_subprotocol(self) -> str | None:
        return "chat.v9"


urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/chat/", ChatTokenView.as_view()),
    path("ws/close-on-denial/", CloseOnDenialTokenView.as_view()),
    path("ws/failing/", FailingTokenView.as_view()),
    path("ws/header-token/", HeaderTokenView.as_view()),
    path("ws/failing-accept/", FailingAcceptView.as_view()),
    path("ws/unoffered-bearer/", UnofferedBearerView.as_view()),
    path("ws/unoffered-choice/", UnofferedChoiceView.as_view()),
]

#: Route the handshakes to the views above.
with_token_urls = override_settings(ROOT_URLCONF=__name__)

#: accept() is a coroutine: Django hides its local variables in error reports
#: (sensitive_variables) from 5.0 on.
needs_async_sensitive_variables = pytest.mark.skipif(
    django.VERSION < (5, 0),
    reason="sensitive_variables() covers coroutines from Django 5.0",
)


async def token_for(username: str) -> str:
    """Return a token of a new user called ``username``."""
    user = await User.objects.acreate(username=username)
    return str(await sync_to_async(make_token)(user))


def leaked(records: list[logging.LogRecord], secret: str) -> list[str]:
    """
    Return the texts made from ``records`` that contain ``secret``.

    Each record as a handler would format it, traceback included, and, for a
    record that carries the request, the reports Django's AdminEmailHandler
    would mail (request, META and, in the HTML one, each frame's local
    variables).
    """
    texts = []
    for record in records:
        texts.append(logging.Formatter().format(record))
        request = getattr(record, "request", None)
        if request is not None and record.exc_info:
            exc_type, exc_value, tb = record.exc_info
            reporter = ExceptionReporter(
                request, exc_type, exc_value, tb, is_email=True
            )
            texts.append(reporter.get_traceback_text())
            texts.append(reporter.get_traceback_html())
    return [text for text in texts if secret in text]


async def test_subprotocol_token_authenticates() -> None:
    """A token offered as a 'bearer.' subprotocol makes request.user its user."""
    user = await User.objects.acreate(username="tok")
    token = await sync_to_async(make_token)(user)
    async with WebSocketClient().connect(
        "/ws/token/", subprotocols=[f"bearer.{token}"]
    ) as ws:
        assert await ws.receive() == "tok"


async def test_accept_answers_the_offered_token_item() -> None:
    """A view that lists no subprotocols accepts with the bearer item itself."""
    token = await token_for("echo")
    async with WebSocketClient().connect(
        "/ws/token/", subprotocols=[f"bearer.{token}"]
    ) as ws:
        assert ws.subprotocol == f"bearer.{token}"


async def test_accept_ignores_protocols_the_view_does_not_list() -> None:
    """Beside protocols the view does not speak, the bearer item is the answer."""
    token = await token_for("other")
    async with WebSocketClient().connect(
        "/ws/token/", subprotocols=["graphql-ws", f"bearer.{token}", "chat.v1"]
    ) as ws:
        assert ws.subprotocol == f"bearer.{token}"
        assert await ws.receive() == "other"


@with_token_urls
async def test_accept_prefers_the_views_own_subprotocol() -> None:
    """A listed protocol offered beside the token is the answer, wherever the token is."""
    token = await token_for("chat")
    for offered in (
        [f"bearer.{token}", "chat.v1"],
        ["chat.v1", f"bearer.{token}"],
        ["graphql-ws", f"bearer.{token}", "chat.v1", "chat.v2"],
    ):
        async with WebSocketClient().connect("/ws/chat/", subprotocols=offered) as ws:
            assert ws.subprotocol == "chat.v1", offered
            assert await ws.receive() == "chat"


@with_token_urls
async def test_accept_answers_the_token_when_no_listed_protocol_is_offered() -> None:
    """A view with subprotocols still answers the bearer item when none of them is offered."""
    token = await token_for("nolisted")
    async with WebSocketClient().connect(
        "/ws/chat/", subprotocols=["chat.v3", f"bearer.{token}"]
    ) as ws:
        assert ws.subprotocol == f"bearer.{token}"
        assert await ws.receive() == "nolisted"


@with_token_urls
async def test_accept_without_a_token_keeps_the_views_choice() -> None:
    """Without a bearer item the view's own choice (or none) is the answer."""
    async with WebSocketClient().connect("/ws/chat/", subprotocols=["chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert await ws.receive() == ""
    async with WebSocketClient().connect("/ws/chat/", subprotocols=["other"]) as ws:
        assert ws.subprotocol is None
    async with WebSocketClient().connect("/ws/chat/") as ws:
        assert ws.subprotocol is None


async def test_query_string_token_accepts_without_a_subprotocol() -> None:
    """A token in the query string is not a subprotocol: the answer has none."""
    token = await token_for("query")
    async with WebSocketClient().connect(f"/ws/query-token/?token={token}") as ws:
        assert ws.subprotocol is None
        assert await ws.receive() == "query"


async def test_first_bearer_item_is_read_and_answered() -> None:
    """Of two bearer items the first one is the token, and the answer."""
    token = await token_for("first")
    async with WebSocketClient().connect(
        "/ws/token/", subprotocols=[f"bearer.{token}", "bearer.second"]
    ) as ws:
        assert ws.subprotocol == f"bearer.{token}"
        assert await ws.receive() == "first"


@with_token_urls
async def test_close_on_denial_accepts_with_the_bearer_item() -> None:
    """A bad token on a close_on_denial view is accepted with its item, then closed with 4401."""
    async with WebSocketClient().connect(
        "/ws/close-on-denial/", subprotocols=["bearer.not-a-token"]
    ) as ws:
        assert ws.subprotocol == "bearer.not-a-token"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
    assert closed.value.code == CloseCode.UNAUTHORIZED


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


@with_token_urls
async def test_token_is_not_in_error_logs(caplog: pytest.LogCaptureFixture) -> None:
    """A view's error log and the report mailed from it never contain the token."""
    token = await token_for("failing")
    with caplog.at_level(logging.DEBUG), pytest.raises(HandshakeRejected) as refused:
        await WebSocketClient(raise_view_exceptions=False).connect(
            "/ws/failing/", subprotocols=[f"bearer.{token}"]
        )
    assert refused.value.status == 500
    assert any(record.exc_info for record in caplog.records)
    assert leaked(caplog.records, token) == []


@with_token_urls
async def test_request_headers_mask_the_token() -> None:
    """request.headers and META show the bearer items masked; the scope keeps them."""
    token = await token_for("masked")
    offered = ["chat.v1", f"bearer.{token}", "bearer.second"]
    async with WebSocketClient().connect(
        "/ws/header-token/", subprotocols=offered
    ) as ws:
        masked = "chat.v1, bearer.********************, bearer.********************"
        assert await ws.receive() == masked
        assert await ws.receive() == masked
        assert await ws.receive() == ", ".join(offered)


@needs_async_sensitive_variables
@with_token_urls
async def test_token_is_not_in_logs_of_a_failed_accept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error inside accept(), after the bearer item is chosen, logs no token."""
    token = await token_for("accepting")
    with caplog.at_level(logging.DEBUG), pytest.raises(HandshakeRejected) as refused:
        await WebSocketClient(raise_view_exceptions=False).connect(
            "/ws/failing-accept/", subprotocols=[f"bearer.{token}"]
        )
    assert refused.value.status == 500
    assert any(record.exc_info for record in caplog.records)
    assert leaked(caplog.records, token) == []


@with_token_urls
async def test_unoffered_subprotocol_error_hides_the_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """accept() with a subprotocol the client did not offer fails without naming it."""
    with caplog.at_level(logging.DEBUG), pytest.raises(HandshakeRejected):
        await WebSocketClient(raise_view_exceptions=False).connect(
            "/ws/unoffered-bearer/", subprotocols=["bearer.offered"]
        )
    errors = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert [type(error) for error in errors] == [ValueError]
    assert "did not offer" in str(errors[0])
    assert "NEVER-OFFERED" not in caplog.text
    if django.VERSION >= (5, 0):  # see needs_async_sensitive_variables
        assert leaked(caplog.records, "NEVER-OFFERED") == []


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


@with_token_urls
async def test_unoffered_choice_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """A select_subprotocol() answer the client did not offer refuses the handshake."""
    with caplog.at_level(logging.ERROR), pytest.raises(HandshakeRejected) as refused:
        await WebSocketClient(raise_view_exceptions=False).connect(
            "/ws/unoffered-choice/", subprotocols=["chat.v1"]
        )
    assert refused.value.status == 500
    errors = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert "UnofferedChoiceView.select_subprotocol() returned one" in str(errors[0])


async def test_the_views_token_max_age_decides(settings: Any) -> None:
    """A two-minute-old token opens a view with the default token_max_age, not one with 60 seconds."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    user = await User.objects.acreate(username="aged")
    made_at = int(time.time()) - 120
    with mock.patch.object(
        signing.TimestampSigner,
        "timestamp",
        return_value=signing.b62_encode(made_at),
    ):
        token = await sync_to_async(make_token)(user)
    client = WebSocketClient()
    async with client.connect("/ws/token/", subprotocols=[f"bearer.{token}"]) as ws:
        assert await ws.receive() == "aged"
    with pytest.raises(HandshakeRejected) as refused:
        await client.connect("/ws/token-60s/", subprotocols=[f"bearer.{token}"])
    assert refused.value.status == 403
