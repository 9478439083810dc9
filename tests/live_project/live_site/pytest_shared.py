"""
One live server for a module's tests, as the docs show: a module-scoped fixture.

Each test still marks its database transactional, so the server sees its
rows and they are flushed after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from django_wsviews.testing.live import LiveServer

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def shared_live_server(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[LiveServer]:
    """Return a live server for the whole module."""
    with django_db_blocker.unblock(), LiveServer() as server:
        yield server


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", [1, 2])
def test_shared_server(shared_live_server: LiveServer, run: int) -> None:
    """Both runs see their own user only: the first run's row was flushed."""
    User.objects.create(username="ada")
    with shared_live_server.ws_sync("/ws/whoami/") as ws:
        assert ws.recv(timeout=TIMEOUT) == ""
        assert ws.recv(timeout=TIMEOUT) == "1"
