"""The Django request built from a WebSocket handshake."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest

if TYPE_CHECKING:
    from asgiref.typing import WebSocketScope

__all__ = ["WebSocketRequest", "get_script_prefix"]

# ws -> http so that is_secure(), SECURE_PROXY_SSL_HEADER and CSRF's origin
# logic behave as they do for the page that opened the socket.
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def get_script_prefix(scope: Any) -> str:
    """Return the script prefix: ``FORCE_SCRIPT_NAME``, else the scope's ``root_path``."""
    if settings.FORCE_SCRIPT_NAME:
        return str(settings.FORCE_SCRIPT_NAME)
    return str(scope.get("root_path", "") or "")


class WebSocketRequest(ASGIRequest):
    """
    An :class:`~django.http.HttpRequest` for a WebSocket handshake.

    Everything code written for views expects is there: ``META`` with the
    handshake's headers, ``COOKIES``, ``GET``, ``path``/``path_info`` (with the
    script prefix from ``root_path`` or ``FORCE_SCRIPT_NAME`` removed),
    ``get_host()``, ``build_absolute_uri()`` and ``is_secure()`` (true for
    ``wss``). The method is ``GET``, the body is empty. ``request.scope`` is the
    server's own scope, not a copy.
    """

    def __init__(self, scope: WebSocketScope | dict[str, Any]) -> None:
        # ASGIRequest reads the method from the scope, which a websocket scope
        # lacks; a one-off shallow copy for the constructor is all it costs.
        super().__init__({**scope, "method": "GET"}, io.BytesIO())
        self.scope = scope

    def get_host(self) -> str:
        """
        Return the host, validated against ``ALLOWED_HOSTS`` (as Django's does).

        Remembered after the first call: the handshake's middleware and the
        origin check each ask, and a handshake's headers do not change.
        """
        try:
            return self._validated_host
        except AttributeError:
            self._validated_host: str = super().get_host()
            return self._validated_host

    def _get_scheme(self) -> str:
        # Daphne leaves "scheme" out; HttpRequest's own default is "http".
        return _HTTP_SCHEME.get(self.scope.get("scheme") or "http", "http")

    @property
    def websocket_scheme(self) -> str:
        """Return ``"wss"`` for a secure handshake, else ``"ws"``."""
        return "wss" if self.is_secure() else "ws"
