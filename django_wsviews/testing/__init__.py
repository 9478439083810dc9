"""
Testing WebSocket views: an in-process client, broadcast capture, pytest fixtures.

- :class:`WebSocketClient` opens connections to your routes without a server
  or a socket, through the real ASGI application, middleware and resolver
  (:mod:`django_wsviews.testing.client`); its connections
  (:mod:`django_wsviews.testing.connection`) raise a view's exception in
  the test, and every wait has a timeout.
- :func:`capture_broadcasts` records what :mod:`django_wsviews.groups` sends,
  to assert on it without connecting a socket
  (:mod:`django_wsviews.testing.broadcasts`).
- With pytest-django, the fixtures ``ws_client`` and ``broadcasts`` come from
  :mod:`django_wsviews.testing.pytest_plugin`, which pytest loads by itself.

See :doc:`testing`.
"""

from __future__ import annotations

# The names before "as" stay importable from here, as before the package
# was split; they are not part of __all__.
from .broadcasts import BroadcastCapture, CapturedBroadcast, capture_broadcasts
from .client import DEFAULT_EXTENSIONS as DEFAULT_EXTENSIONS
from .client import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from .client import WebSocketClient
from .client import _Connecting as _Connecting
from .connection import ClientDisconnected as ClientDisconnected
from .connection import Closed, WebSocketTestConnection

__all__ = [
    "BroadcastCapture",
    "CapturedBroadcast",
    "Closed",
    "WebSocketClient",
    "WebSocketTestConnection",
    "capture_broadcasts",
]
