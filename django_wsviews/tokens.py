"""
Signed tokens for clients that cannot send the session cookie.

A single-page app on another origin, a mobile app or a script gets a token
from an authenticated HTTP view::

    from django_wsviews.tokens import make_token


    def socket_token(request):
        return JsonResponse({"token": make_token(request.user)})

and offers it when connecting, as a subprotocol (so that it stays out of
access logs, which record query strings)::

    new WebSocket(url, ["bearer." + token])

A view with :class:`TokenAuthMixin` turns the token back into
``request.user``, and accepts with a subprotocol the client offered, as
RFC 6455 requires and browsers enforce: the view's own (a protocol in its
``subprotocols`` offered beside the token), or else the ``"bearer.<token>"``
item itself. The library never logs subprotocols, and masks the token in
``request.META`` once read.

Tokens are signed with ``SECRET_KEY`` (``django.core.signing``), expire
after ``max_age`` seconds, and stop working when the user's password changes
(they carry part of the session auth hash).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.core import signing
from django.utils.crypto import constant_time_compare
from django.views.decorators.debug import sensitive_variables

from .mixins import AccessMixin

__all__ = ["TokenAuthMixin", "make_token", "user_for_token"]

SALT = "django_wsviews.tokens"

#: The subprotocol prefix that marks a token: offer ``"bearer.<token>"``.
SUBPROTOCOL_PREFIX = "bearer."

# What replaces a token in request.META (Django's error reports use the same).
_MASK = "*" * 20
_TOKEN_ITEMS = re.compile(r"(?<![^,\s])" + re.escape(SUBPROTOCOL_PREFIX) + r"[^,\s]+")


def _signer(salt: str) -> signing.TimestampSigner:
    # "." separates the parts so the token is a valid subprotocol name.
    return signing.TimestampSigner(salt=salt, sep=".")


def _hash_part(user: Any) -> str:
    return str(user.get_session_auth_hash())[:20]


def make_token(user: Any, *, salt: str = SALT) -> str:
    """Return a signed token that identifies ``user`` (an authenticated user)."""
    if not getattr(user, "is_authenticated", False):
        raise ValueError("make_token() needs an authenticated user.")
    return _signer(salt).sign_object({"u": str(user.pk), "h": _hash_part(user)})


@sensitive_variables("token", "payload")
def user_for_token(token: str, *, max_age: float = 3600, salt: str = SALT) -> Any:
    """
    Return the user a token identifies, or None.

    None when the signature is wrong, the token is older than ``max_age``
    seconds, the user no longer exists or is inactive, or the user's password
    has changed since the token was made. Database access: run it in sync
    code (a worker thread).
    """
    try:
        payload = _signer(salt).unsign_object(token, max_age=max_age)
        user = get_user_model()._default_manager.get(pk=payload["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    except get_user_model().DoesNotExist:
        return None
    if not getattr(user, "is_active", True):
        return None
    if not constant_time_compare(str(payload.get("h", "")), _hash_part(user)):
        return None
    return user


class TokenAuthMixin(AccessMixin):
    """
    Authenticate the handshake from a signed token instead of the session.

    The token is read from an offered subprotocol ``"bearer.<token>"``, or,
    when ``token_query_parameter`` is set, from the query string (which
    servers write to their access logs: prefer the subprotocol). Without a
    valid token the user is anonymous; combine with
    :class:`~django_wsviews.mixins.LoginRequiredMixin` to refuse them.

    ``accept()`` answers with the first offered subprotocol the view lists,
    or else with the offered ``"bearer.<token>"`` item itself: a browser
    fails a handshake whose answer is not one of the subprotocols it offered.
    """

    #: Seconds a token stays valid.
    token_max_age: ClassVar[float] = 3600

    #: The query parameter that may carry the token; None (the default) to
    #: accept it only as a subprotocol.
    token_query_parameter: ClassVar[str | None] = None

    @sensitive_variables()
    def get_token(self) -> str | None:
        """Return the token the client offered, or None."""
        offered = _token_subprotocol(self.scope)
        if offered is not None:
            return offered[len(SUBPROTOCOL_PREFIX) :]
        if self.token_query_parameter:
            value = self.request.GET.get(self.token_query_parameter)
            return str(value) if value else None
        return None

    @sensitive_variables("token")
    def authenticate(self) -> None:
        """
        Set ``request.user`` to the token's user, or an anonymous user.

        First masks the bearer items of ``request.META`` (and
        ``request.headers``), which error reports and error trackers copy;
        ``self.scope`` keeps what the client sent.
        """
        from django.contrib.auth.models import AnonymousUser

        _mask_token_items(self.request)
        token = self.get_token()
        user = user_for_token(token, max_age=self.token_max_age) if token else None
        self.request.user = user or AnonymousUser()
        super().authenticate()

    def select_subprotocol(self) -> str | None:
        """
        Return the subprotocol to accept: the view's own, else the token's.

        The view's choice (the first offered subprotocol it lists) comes
        first; failing that, the offered ``"bearer.<token>"`` item, whether or
        not the token is valid (a view with ``close_on_denial`` accepts
        before closing with 4401). None when neither was offered, e.g. for a
        token in the query string.
        """
        selected = super().select_subprotocol()
        if selected is not None:
            return selected
        return _token_subprotocol(self.scope)


def _token_subprotocol(scope: Any) -> str | None:
    """Return the first offered subprotocol that carries a token, or None."""
    for offered in scope.get("subprotocols") or ():
        if offered.startswith(SUBPROTOCOL_PREFIX):
            return str(offered)
    return None


def _mask_token_items(request: Any) -> None:
    """Replace each token in the request's ``Sec-WebSocket-Protocol`` with a mask."""
    value = request.META.get("HTTP_SEC_WEBSOCKET_PROTOCOL")
    if value and SUBPROTOCOL_PREFIX in value:
        request.META["HTTP_SEC_WEBSOCKET_PROTOCOL"] = _TOKEN_ITEMS.sub(
            SUBPROTOCOL_PREFIX + _MASK, value
        )
        request.__dict__.pop("headers", None)  # HttpRequest.headers, if cached
