"""
The Origin check that protects WebSocket handshakes from cross-site use.

Browsers send ``Origin`` on every WebSocket handshake and, unlike for HTTP
requests, apply no same-origin policy to the socket: without this check any
site a user visits could open a socket with the user's cookies (cross-site
WebSocket hijacking). The rules follow CSRF's: the origin must be the
request's own (scheme, host and port, RFC 6454), or be listed in
``CSRF_TRUSTED_ORIGINS`` or ``WSVIEWS_ALLOWED_ORIGINS`` (where ``*`` matches
subdomains, as in ``https://*.example.com``).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import is_same_domain

__all__ = ["origin_allowed"]


def origin_allowed(request: HttpRequest, extra_origins: Iterable[str] = ()) -> bool:
    """
    Return whether the handshake's ``Origin`` may open a socket.

    A handshake without ``Origin`` (not from a browser) is not judged here:
    the caller decides, per ``WSVIEWS_ALLOW_MISSING_ORIGIN``. ``Origin: null``
    is never allowed. Raise :class:`~django.core.exceptions.DisallowedHost`
    when the ``Host`` header is not in ``ALLOWED_HOSTS``.
    """
    origin = request.META["HTTP_ORIGIN"]
    own = f"{'https' if request.is_secure() else 'http'}://{request.get_host()}"
    if origin == own:
        return True
    if origin == "null":
        return False
    trusted = [*settings.CSRF_TRUSTED_ORIGINS, *extra_origins]
    if origin in trusted:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    for pattern in trusted:
        if "*" not in pattern:
            continue
        allowed = urlsplit(pattern)
        if allowed.scheme == parsed.scheme and is_same_domain(
            parsed.netloc, allowed.netloc.lstrip("*")
        ):
            return True
    return False
