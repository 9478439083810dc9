"""
Access mixins for WebSocket views, in the idiom of ``django.contrib.auth.mixins``.

Put the mixin first::

    class InboxView(LoginRequiredMixin, WebSocketView): ...

The check runs before ``connect()``, so overriding ``connect()`` cannot skip
it. It runs in a worker thread (the user and permissions are loaded there, as sync code),
taken from a pool for the check alone. A refused handshake is
answered with 403 by default. Browsers only report 1006 for a refused
handshake, so a view whose page must tell "log in" from "forbidden" sets
``close_on_denial = True``: the socket is accepted, then closed with 4401
(not authenticated) or 4403 (not permitted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from .db import run_sync
from .hooks import report_exception
from .signals import RejectReason
from .status import CloseCode
from .views import WebSocketView

__all__ = [
    "AccessMixin",
    "LoginRequiredMixin",
    "PermissionRequiredMixin",
    "UserPassesTestMixin",
]

if TYPE_CHECKING:
    _Base = WebSocketView
else:
    _Base = object


class AccessMixin(_Base):
    """
    Check access at the handshake; refuse with 403 or close with 4401/4403.

    Subclasses implement :meth:`has_access`, a plain function run in a
    worker thread, where ``self.request.user`` may be used freely.
    """

    #: Accept, then close with 4401/4403, instead of refusing with 403.
    close_on_denial: ClassVar[bool] = False

    #: The close reason sent with 4401/4403 (at most 123 bytes).
    permission_denied_message: ClassVar[str] = ""

    def has_access(self) -> bool:
        """Return whether the handshake may go on (runs in a worker thread)."""
        return True

    def get_permission_denied_message(self) -> str:
        """Return the close reason for a denial."""
        return self.permission_denied_message

    async def dispatch(self) -> None:
        """Check access, then serve the connection or refuse it."""
        try:
            allowed, authenticated = await run_sync(self._check)
        except Exception as exc:
            await report_exception(self, exc)
            return
        if allowed:
            await super().dispatch()
        else:
            await self.handle_no_permission(authenticated)

    def authenticate(self) -> None:
        """
        Set ``request.user`` from the handshake's credentials (in a worker thread).

        The default keeps the user the authentication middleware set.
        """

    def _check(self) -> tuple[bool, bool]:
        self.authenticate()
        user = getattr(self.request, "user", None)
        if user is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs request.user: add "
                "'django.contrib.auth.middleware.AuthenticationMiddleware' to "
                "WSVIEWS_MIDDLEWARE (or MIDDLEWARE, which handshakes use by default)."
            )
        return self.has_access(), bool(user.is_authenticated)

    async def handle_no_permission(self, authenticated: bool) -> None:
        """Refuse the handshake with 403, or accept and close with 4401/4403."""
        if self.close_on_denial:
            await self.accept()
            code = CloseCode.FORBIDDEN if authenticated else CloseCode.UNAUTHORIZED
            await self.close(code, self.get_permission_denied_message())
        else:
            await self._reject(403, reason=RejectReason.PERMISSION)


class LoginRequiredMixin(AccessMixin):
    """Allow only authenticated users."""

    def has_access(self) -> bool:
        """Return whether the user is authenticated."""
        return bool(self.request.user.is_authenticated)


class PermissionRequiredMixin(AccessMixin):
    """Allow only users with every permission in ``permission_required``."""

    permission_required: ClassVar[str | Sequence[str] | None] = None

    def get_permission_required(self) -> Sequence[str]:
        """Return the permissions to check; raise ImproperlyConfigured if unset."""
        if self.permission_required is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__} is missing the permission_required "
                "attribute. Define it, or override get_permission_required()."
            )
        if isinstance(self.permission_required, str):
            return (self.permission_required,)
        return self.permission_required

    def has_permission(self) -> bool:
        """Return whether the user has every required permission."""
        perms = self.get_permission_required()
        user: Any = self.request.user
        return bool(user.has_perms(perms))

    def has_access(self) -> bool:
        """Return :meth:`has_permission`."""
        return self.has_permission()


class UserPassesTestMixin(AccessMixin):
    """Allow only users for whom :meth:`test_func` returns True."""

    def test_func(self) -> bool:
        """Return whether the user may connect (runs in a worker thread)."""
        raise NotImplementedError(
            f"{type(self).__name__} is missing the implementation of the test_func() method."
        )

    def get_test_func(self) -> Any:
        """Return the test to run (``test_func`` by default)."""
        return self.test_func

    def has_access(self) -> bool:
        """Return the result of the test."""
        return bool(self.get_test_func()())
