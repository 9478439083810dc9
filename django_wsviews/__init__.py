"""django-wsviews: WebSocket views for Django, routed by the URLconf."""

from __future__ import annotations

from .exceptions import ConnectionClosed, HandshakeTimeout, InvalidState, WebSocketError
from .routing import ws_resolve, ws_reverse
from .status import CloseCode
from .views import JsonWebSocketView, State, WebSocketView

__version__ = "0.1.0.dev0"

__all__ = [
    "CloseCode",
    "ConnectionClosed",
    "HandshakeTimeout",
    "InvalidState",
    "JsonWebSocketView",
    "State",
    "WebSocketError",
    "WebSocketView",
    "ws_resolve",
    "ws_reverse",
]
