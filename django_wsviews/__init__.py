"""django-wsviews: WebSocket views for Django, routed by the URLconf."""

from __future__ import annotations

from .actions import ActionError, action
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
from .history import alast_seq, last_seq
from .hooks import call_hook
from .json_views import JsonWebSocketView
from .limits import Limits
from .mixins import LoginRequiredMixin, PermissionRequiredMixin, UserPassesTestMixin
from .presence import PresenceMember, apresence, presence
from .routing import ws_resolve, ws_reverse
from .signals import ClosedBy, RejectReason
from .status import CloseCode
from .tokens import TokenAuthMixin, make_token
from .views import WebSocketView

__version__ = "0.1.0.dev0"

__all__ = [
    "ActionError",
    "BroadcastError",
    "CloseCode",
    "ClosedBy",
    "ConnectionClosed",
    "GroupMessage",
    "HandshakeRejected",
    "HandshakeTimeout",
    "InvalidState",
    "JsonWebSocketView",
    "Limits",
    "LoginRequiredMixin",
    "PermissionRequiredMixin",
    "PresenceMember",
    "RejectReason",
    "State",
    "TokenAuthMixin",
    "TooManyGroups",
    "UserPassesTestMixin",
    "WebSocketError",
    "WebSocketView",
    "abroadcast",
    "aclose_user_sockets",
    "action",
    "alast_seq",
    "apresence",
    "asend_to_user",
    "broadcast",
    "call_hook",
    "close_user_sockets",
    "last_seq",
    "make_token",
    "presence",
    "send_to_user",
    "ws_resolve",
    "ws_reverse",
]
