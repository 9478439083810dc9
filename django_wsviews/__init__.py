"""django-wsviews: WebSocket views for Django, routed by the URLconf."""

from __future__ import annotations

from .envelope import GroupMessage
from .exceptions import (
    BroadcastError,
    ConnectionClosed,
    HandshakeTimeout,
    InvalidState,
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
from .routing import ws_resolve, ws_reverse
from .status import CloseCode
from .views import JsonWebSocketView, State, WebSocketView

__version__ = "0.1.0.dev0"

__all__ = [
    "BroadcastError",
    "CloseCode",
    "ConnectionClosed",
    "GroupMessage",
    "HandshakeTimeout",
    "InvalidState",
    "JsonWebSocketView",
    "State",
    "WebSocketError",
    "WebSocketView",
    "abroadcast",
    "aclose_user_sockets",
    "asend_to_user",
    "broadcast",
    "close_user_sockets",
    "send_to_user",
    "ws_resolve",
    "ws_reverse",
]
