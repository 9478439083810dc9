"""Tests for django_wsviews.mixins: access checks at the handshake."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import path

from django_wsviews import (
    CloseCode,
    ConnectionClosed,
    UserPassesTestMixin,
    WebSocketView,
)
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(username: str, **fields: object) -> WebSocketClient:
    user = await User.objects.acreate(username=username, **fields)
    client = WebSocketClient()
    await client.aforce_login(user)
    return client


async def test_login_required_refuses_anonymous_with_403() -> None:
    """An anonymous handshake to a login-required view is refused with 403."""
    with pytest.raises(HandshakeRejected) as refused:
        await WebSocketClient().connect("/ws/login-required/")
    assert refused.value.status == 403


async def test_login_required_accepts_a_user() -> None:
    """A logged-in user is accepted, and request.user is already loaded in connect()."""
    client = await logged_in("mia")
    async with client.connect("/ws/login-required/") as ws:
        assert await ws.receive() == "mia"


async def test_close_on_denial_uses_4401_with_the_message() -> None:
    """close_on_denial accepts, then closes with 4401 and the denial message."""
    ws = await WebSocketClient().connect("/ws/login-required-close/")
    with pytest.raises(ConnectionClosed) as closed:
        await ws.receive()
    assert (closed.value.code, closed.value.reason) == (
        CloseCode.UNAUTHORIZED,
        "Log in first.",
    )


async def test_permission_required_4403_for_a_user_without_it() -> None:
    """An authenticated user without the permission gets 4403."""
    client = await logged_in("noperm")
    ws = await client.connect("/ws/permission/")
    assert await ws.wait_closed() == CloseCode.FORBIDDEN


async def test_permission_required_accepts_a_user_with_it() -> None:
    """A user with the permission is accepted."""
    user = await User.objects.acreate(username="perm")
    permission = await Permission.objects.aget(codename="view_user")
    await user.user_permissions.aadd(permission)
    client = WebSocketClient()
    await client.aforce_login(user)
    async with client.connect("/ws/permission/") as ws:
        assert await ws.receive() == "perm"


async def test_missing_permission_required_is_a_500() -> None:
    """A PermissionRequiredMixin without permission_required refuses with 500."""
    client = await logged_in("x")
    client.raise_view_exceptions = False  # the failure policy, as a client sees it
    with pytest.raises(HandshakeRejected) as refused:
        await client.connect("/ws/misconfigured-permission/")
    assert refused.value.status == 500


async def test_user_passes_test() -> None:
    """UserPassesTestMixin runs test_func() on the user."""
    with pytest.raises(HandshakeRejected):
        await (await logged_in("plain")).connect("/ws/staff/")
    async with (await logged_in("boss", is_staff=True)).connect("/ws/staff/") as ws:
        assert await ws.receive() == "boss"


async def test_missing_permission_required_names_the_view_and_the_fix() -> None:
    """The error of a PermissionRequiredMixin without permission_required says what to do."""
    client = await logged_in("y")
    with pytest.raises(ImproperlyConfigured) as error:
        await client.connect("/ws/misconfigured-permission/")
    assert str(error.value) == (
        "MisconfiguredPermissionView is missing the permission_required "
        "attribute. Define it, or override get_permission_required()."
    )


class NoTestFuncView(UserPassesTestMixin, WebSocketView):
    """A view that forgot its test_func()."""


urlpatterns: list[object] = []
ws_urlpatterns = [path("ws/no-test-func/", NoTestFuncView.as_view())]


@pytest.mark.urls(__name__)
async def test_user_passes_test_without_test_func_names_the_view() -> None:
    """A UserPassesTestMixin view without test_func() fails saying which view lacks it."""
    client = await logged_in("forgetful")
    with pytest.raises(
        NotImplementedError,
        match=r"^NoTestFuncView is missing the implementation of the test_func\(\) method\.$",
    ):
        await client.connect("/ws/no-test-func/")


async def test_connect_override_cannot_skip_the_check() -> None:
    """The check runs before connect(), so a view's own connect() cannot bypass it."""
    with pytest.raises(HandshakeRejected):
        await WebSocketClient().connect("/ws/login-required/")


@override_settings(WSVIEWS_MIDDLEWARE=[])
async def test_mixin_without_auth_middleware_explains(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without AuthenticationMiddleware the mixin refuses with 500 and says what to add."""
    with pytest.raises(HandshakeRejected) as refused:
        await WebSocketClient(raise_view_exceptions=False).connect(
            "/ws/login-required/"
        )
    assert refused.value.status == 500
    assert "AuthenticationMiddleware" in caplog.text
