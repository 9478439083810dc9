"""
The live server under Django's test runner: ``python manage.py test``.

With settings.py the test database is SQLite in memory, so these tests also
show that the server sees it through a file while the class runs, and that
it is back in memory afterwards (``tearDownModule``); with
settings_postgres.py it is PostgreSQL's, served as it is.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from pathlib import Path

from django.contrib.auth.models import User
from django.db import connection

from django_wsviews import broadcast
from django_wsviews.testing.live import WebSocketLiveServerTestCase

TIMEOUT = 5.0

_threads_before: set[threading.Thread] = set()


def setUpModule() -> None:
    _threads_before.update(threading.enumerate())


def tearDownModule() -> None:
    """After the class's cleanups: nothing of the server is left."""
    for thread in set(threading.enumerate()) - _threads_before:
        thread.join(TIMEOUT)
    left = [t.name for t in set(threading.enumerate()) - _threads_before]
    assert left == [], f"threads left running: {left}"
    if connection.vendor == "sqlite":
        assert connection.is_in_memory_db(), connection.settings_dict["NAME"]


class LiveServerTests(WebSocketLiveServerTestCase):
    def test_echo(self) -> None:
        """A message sent with the websockets client comes back."""
        with self.live_server.ws_sync("/ws/echo/") as ws:
            ws.send("hello")
            assert ws.recv(timeout=TIMEOUT) == "hello"

    async def test_echo_async(self) -> None:
        """An async test method uses the asyncio client."""
        async with self.live_server.ws("/ws/echo/") as ws:
            await ws.send(b"\x00\x01")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x00\x01"

    def test_logged_in_user(self) -> None:
        """A user created in the test, logged in with its session cookie, is the view's."""
        user = User.objects.create(username="bea")
        self.client.force_login(user)
        with self.live_server.ws_sync("/ws/whoami/", cookies=self.client.cookies) as ws:
            assert ws.recv(timeout=TIMEOUT) == "bea"
            assert ws.recv(timeout=TIMEOUT) == "1"

    def test_tables_are_flushed_between_tests(self) -> None:
        """The same user again: the previous test's rows are gone."""
        User.objects.create(username="bea")
        with self.live_server.ws_sync("/ws/whoami/") as ws:
            assert ws.recv(timeout=TIMEOUT) == ""
            assert ws.recv(timeout=TIMEOUT) == "1"

    def test_static_file(self) -> None:
        """STATIC_URL is served from the app's static directory, with DEBUG off."""
        url = f"{self.live_server_url}/static/live_site/hello.txt"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body = response.read()
        expected = Path(__file__).parent / "static" / "live_site" / "hello.txt"
        assert body == expected.read_bytes()

    def test_asgi_application_setting(self) -> None:
        """The application served is ASGI_APPLICATION's."""
        with urllib.request.urlopen(self.live_server_url + "/", timeout=TIMEOUT) as r:
            assert r.headers["X-Live-Site"] == "asgi.py"

    def test_broadcast_from_the_test(self) -> None:
        """The in-memory backend reaches the server's sockets: one process."""
        with self.live_server.ws_sync("/ws/news/") as ws:
            broadcast("live.news", "extra")
            assert ws.recv(timeout=TIMEOUT) == "extra"

    def test_urls(self) -> None:
        """live_server_url and live_server_ws_url name the same port on 127.0.0.1."""
        port = self.live_server.port
        assert self.live_server_url == f"http://127.0.0.1:{port}"
        assert self.live_server_ws_url == f"ws://127.0.0.1:{port}"

    def test_database_while_serving(self) -> None:
        """SQLite's in-memory test database is served from a file; others as they are."""
        name = str(connection.settings_dict["NAME"])
        if connection.vendor == "sqlite":
            assert not connection.is_in_memory_db()
            assert Path(name).is_file()
        else:
            assert name.startswith("test_"), name
