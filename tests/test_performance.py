"""
Regression guards for the hot paths, without timing anything.

Speed is measured by the benchmark in bench/; these tests pin the structural
facts it depends on: no worker-thread hop per message or per handshake with
the default middleware, and a bounded amount of Python work per message.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Any

import django
import pytest
from django.conf import settings
from django.test import override_settings

import django_wsviews
from django_wsviews.handshake import HandshakeHandler
from django_wsviews.testing import WebSocketClient

#: Python frames entered in django-wsviews and Django per echoed message:
#: the connection's four suspended coroutines resumed (__call__, websocket,
#: dispatch, Lifecycle.serve), then the view's receive(), send() and
#: _send_message().
CALLS_PER_MESSAGE = 7


async def test_no_thread_hop_with_the_default_middleware(
    thread_hops: list[Any],
) -> None:
    """A handshake through startproject's middleware and 100 echoes hop to no thread."""
    async with WebSocketClient(headers={"Origin": "http://testserver"}).connect(
        "/ws/echo/"
    ) as ws:
        for i in range(100):
            await ws.send(str(i))
            assert await ws.receive() == str(i)
    assert thread_hops == []


@override_settings(
    WSVIEWS_MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "tests.support.middleware.add_header",
    ]
)
async def test_other_middleware_cost_one_hop_per_handshake(
    thread_hops: list[Any],
) -> None:
    """Middleware not known to be I/O-free run in one thread call per handshake."""
    async with WebSocketClient().connect("/ws/echo/") as ws:
        for i in range(10):
            await ws.send(str(i))
            assert await ws.receive() == str(i)
    # (The test client runs that call in the connection's own thread, whose
    # database connections are then closed: a second hop, at the end only.)
    assert [hop.__name__ for hop in thread_hops].count("run_with_hygiene") == 1


def test_default_middleware_run_inline() -> None:
    """startproject's MIDDLEWARE are all known to do no I/O on a handshake."""
    assert HandshakeHandler().inline is True


@pytest.mark.skipif(
    django.VERSION < (6, 0), reason="ContentSecurityPolicyMiddleware is Django 6.0's"
)
def test_content_security_policy_middleware_runs_inline() -> None:
    """Django 6.0's CSP middleware (a lazy nonce, a response header) keeps the chain on the loop."""
    middleware = [
        *settings.MIDDLEWARE,
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        assert HandshakeHandler().inline is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"WSVIEWS_MIDDLEWARE": ["tests.support.middleware.add_header"]},
        {"CSRF_USE_SESSIONS": True},
        {"SESSION_SAVE_EVERY_REQUEST": True},
    ],
)
def test_middleware_that_may_do_io_run_in_a_thread(overrides: dict[str, Any]) -> None:
    """Unknown middleware, or settings that make sessions load, move the chain off the loop."""
    with override_settings(**overrides):
        assert HandshakeHandler().inline is False


@override_settings(WSVIEWS_INLINE_MIDDLEWARE=["tests.support.middleware.add_header"])
def test_inline_list_is_a_setting() -> None:
    """WSVIEWS_INLINE_MIDDLEWARE names further middleware safe to run on the loop."""
    with override_settings(WSVIEWS_MIDDLEWARE=["tests.support.middleware.add_header"]):
        assert HandshakeHandler().inline is True


async def test_python_calls_per_message_are_bounded() -> None:
    """Echoing a message costs at most a handful of Python calls in the library and Django."""
    calls = 0
    # Where the code counted lives, wherever the checkout or the venv is: the
    # library less its test client, and Django.
    library = os.path.dirname(django_wsviews.__file__) + os.sep
    test_client = os.path.join(library, "testing") + os.sep
    django_dir = os.path.dirname(django.__file__) + os.sep

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            filename = frame.f_code.co_filename
            in_library = filename.startswith(library) and not filename.startswith(
                test_client
            )
            if in_library or filename.startswith(django_dir):
                calls += 1

    async with WebSocketClient().connect("/ws/echo/") as ws:
        await ws.send("warm-up")
        await ws.receive()
        sys.setprofile(profile)
        try:
            for _ in range(200):
                await ws.send("x")
                await ws.receive()
        finally:
            sys.setprofile(None)
    assert calls > 0, "the profile counted nothing: the paths are wrong"
    assert calls / 200 <= CALLS_PER_MESSAGE, calls / 200
