"""django-wsviews: WebSocket views for Django, routed by the URLconf."""

from __future__ import annotations

from .connection import State
from .envelope import GroupMessage
from .exceptions import (
    BroadcastError,
    ConnectionClosed,
    HandshakeRejected,
    HandshakeTimeout,
    InvalidState,
    TooManyGroups,
    WebSocketError,
)
from .groups import (
    abroadcast,
    aclose_user_sockets,
    asend_to_user,
    broadcast,
    close_user_sockets,
    send_to_user,
)
from .mixins import LoginRequiredMixin, PermissionRequiredMixin, UserPassesTestMixin
from .routing import ws_resolve, ws_reverse
from .status import CloseCode
from .tokens import TokenAuthMixin, make_token
from .views import JsonWebSocketView, WebSocketView

__version__ = "0.1.0.dev0"

__all__ = [
    "BroadcastError",
    "CloseCode",
    "ConnectionClosed",
    "GroupMessage",
    "HandshakeRejected",
    "HandshakeTimeout",
    "InvalidState",
    "JsonWebSocketView",
    "LoginRequiredMixin",
    "PermissionRequiredMixin",
    "State",
    "TokenAuthMixin",
    "TooManyGroups",
    "UserPassesTestMixin",
    "WebSocketError",
    "WebSocketView",
    "abroadcast",
    "aclose_user_sockets",
    "asend_to_user",
    "broadcast",
    "close_user_sockets",
    "make_token",
    "send_to_user",
    "ws_resolve",
    "ws_reverse",
]
