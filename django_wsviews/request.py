"""The Django request built from a WebSocket handshake."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver

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


# Hosts Django's get_host() accepted, with their ports, as the handshake
# sent them; cleared whenever a setting changes.
_allowed_hosts: set[str] = set()
_ALLOWED_HOSTS_MEMORY = 64


@receiver(setting_changed, dispatch_uid="django_wsviews.request.allowed_hosts")
def _forget_allowed_hosts(**kwargs: Any) -> None:
    _allowed_hosts.clear()


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
        # Several Cookie headers (HTTP/2 splits them) are one list of cookies
        # separated by "; " (RFC 9113, 8.2.3); Django before 6.0 joins them
        # with "," as for other headers, which merges two cookies into one.
        # Only a joined value has a ",", so only then are the headers read again.
        if "," in self.META.get("HTTP_COOKIE", ""):
            cookies = [
                value for name, value in scope.get("headers", ()) if name == b"cookie"
            ]
            if len(cookies) > 1:
                self.META["HTTP_COOKIE"] = "; ".join(
                    value.decode("latin-1") for value in cookies
                )

    def get_host(self) -> str:
        """
        Return the host, validated against ``ALLOWED_HOSTS`` (as Django's does).

        Django's own validation runs once per distinct host: the hosts it
        accepted are remembered (up to ``_ALLOWED_HOSTS_MEMORY``, until a
        setting changes), since every handshake of a site names the same few.
        Refused hosts are never remembered: each raises ``DisallowedHost``.
        """
        raw_host: str = self._get_raw_host()  # type: ignore[attr-defined]
        if raw_host in _allowed_hosts:
            return raw_host
        host = super().get_host()
        if len(_allowed_hosts) < _ALLOWED_HOSTS_MEMORY:
            _allowed_hosts.add(host)
        return host

    def _get_scheme(self) -> str:
        # Daphne leaves "scheme" out; HttpRequest's own default is "http".
        return _HTTP_SCHEME.get(self.scope.get("scheme") or "http", "http")

    @property
    def websocket_scheme(self) -> str:
        """Return ``"wss"`` for a secure handshake, else ``"ws"``."""
        return "wss" if self.is_secure() else "ws"
