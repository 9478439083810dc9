"""
The project's ASGI application (``ASGI_APPLICATION``), marked so tests can tell.

Every HTTP response carries ``X-Live-Site: asgi.py``: a test that sees it
knows the live server served this application, not a default one.
"""

from __future__ import annotations

import os
from typing import Any

from django_wsviews.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "live_site.settings")

django_application = get_asgi_application()


async def application(scope: Any, receive: Any, send: Any) -> None:
    """Serve with django-wsviews' application, marking HTTP responses."""

    async def marked_send(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"x-live-site", b"asgi.py")]
            message = {**message, "headers": headers}
        await send(message)

    await django_application(scope, receive, marked_send)
