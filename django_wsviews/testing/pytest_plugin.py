"""
The pytest plugin of django-wsviews: fixtures for testing WebSocket views.

pytest loads it by itself wherever django-wsviews is installed (the
``pytest11`` entry point). It is active where pytest-django is, and does
nothing elsewhere. Its fixtures:

``ws_client``
    A :class:`~django_wsviews.testing.WebSocketClient` for the project's
    ASGI application (every wait bounded by its 5-second timeout).
``broadcasts``
    A :class:`~django_wsviews.testing.BroadcastCapture`, active for the whole
    test: what the test and the views broadcast.
``ws_live_server``
    A live server, :class:`~django_wsviews.testing.live.LiveServer`, for
    real clients (from :mod:`django_wsviews.testing.live`).

Like pytest-django's own fixtures, they skip the test when no Django
settings are configured. This module imports nothing but pytest until
pytest-django is found: it loads in every pytest run of an environment that
has django-wsviews installed, a Django project or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from . import BroadcastCapture, WebSocketClient

__all__ = ["WebSocketFixtures", "pytest_configure"]

#: pytest-django's name in pytest's plugin manager.
PYTEST_DJANGO = "django"


def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures, and the live server's, when pytest-django is active."""
    manager = config.pluginmanager
    if not manager.hasplugin(PYTEST_DJANGO):
        return
    manager.register(WebSocketFixtures(), "django_wsviews.fixtures")
    from . import live

    if not manager.is_registered(live):  # a conftest may have listed it already
        manager.register(live, "django_wsviews.testing.live")


def _skip_without_settings() -> None:
    """Skip the test when Django has no settings, as pytest-django's fixtures do."""
    from django.conf import settings

    if not settings.configured:
        pytest.skip("no Django settings specified")


class WebSocketFixtures:
    """The plugin's fixtures, registered as a plugin of their own when pytest-django is active."""

    @pytest.fixture
    def ws_client(self) -> WebSocketClient:
        """Return a test client for the project's ASGI application."""
        _skip_without_settings()
        from . import WebSocketClient

        return WebSocketClient()

    @pytest.fixture
    def broadcasts(self) -> Iterator[BroadcastCapture]:
        """Capture what is broadcast during the test (it still goes out)."""
        _skip_without_settings()
        from . import capture_broadcasts

        with capture_broadcasts() as captured:
            yield captured
