"""Shared fixtures."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType
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


#: Under mutation testing, a test that runs longer than this has hung on the
#: mutant: it fails, and the mutant counts as killed. (mutmut's own limit is
#: fifteen times the time of every test that reaches the mutant, which for
#: the backends' shared listener is a quarter of an hour per hung mutant.)
MUTANT_TEST_TIMEOUT = 60


def _under_a_mutant() -> bool:
    """Return whether mutmut is running the tests against a mutant (not its clean or stats runs)."""
    return os.environ.get("MUTANT_UNDER_TEST", "") not in (
        "", "fail", "stats", "list_all_tests", "mutant_generation",
    )  # fmt: skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Under a mutant, fail a test that has not ended within MUTANT_TEST_TIMEOUT."""
    if not _under_a_mutant():
        return (yield)

    def hung(signum: int, frame: FrameType | None) -> None:
        pytest.fail(f"Still running after {MUTANT_TEST_TIMEOUT} s under a mutant")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(MUTANT_TEST_TIMEOUT)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
