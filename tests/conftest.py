"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync

from django_wsviews.testing import WebSocketClient

from .support import promise_views, views


@pytest.fixture
def client_ws() -> WebSocketClient:
    """Return a test client for the project's ASGI application."""
    return WebSocketClient()


@pytest.fixture(autouse=True)
def _clear_events() -> Iterator[None]:
    views.events.clear()
    yield
    views.events.clear()


@pytest.fixture
def promise_urls(settings: Any) -> dict[str, list[Any]]:
    """Route to tests.support.promise_urls; return what its views record."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    promise_views.events.clear()
    promise_views.gates.clear()
    return promise_views.events


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every sync_to_async call made while the test runs."""
    hops: list[Any] = []
    original = SyncToAsync.__call__

    async def counting(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(self.func)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    return hops
