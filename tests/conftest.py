"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_wsviews.testing import WebSocketClient

from .support import views


@pytest.fixture
def client_ws() -> WebSocketClient:
    """Return a test client for the project's ASGI application."""
    return WebSocketClient()


@pytest.fixture(autouse=True)
def _clear_events() -> Iterator[None]:
    views.events.clear()
    yield
    views.events.clear()
