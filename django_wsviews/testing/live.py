"""
A live server for tests: the project's ASGI application on uvicorn, in a thread.

Django's ``LiveServerTestCase`` serves WSGI, so no WebSocket; this module
serves the project's ASGI application (``settings.ASGI_APPLICATION`` if set,
else :func:`~django_wsviews.asgi.get_asgi_application`) with uvicorn on
127.0.0.1 and a free port, static files in front of it, so that a real
client (``websockets``, a browser driven by Playwright) can talk to it::

    class ChatTests(WebSocketLiveServerTestCase):
        def test_echo(self):
            with self.live_server.ws_sync("/ws/echo/") as ws:
                ws.send("hello")
                self.assertEqual(ws.recv(timeout=5), "hello")

or, with pytest, the ``ws_live_server`` fixture.

Why a thread of the test process, and not a subprocess (as Channels'
``ChannelsLiveServerTestCase`` runs daphne): the server then shares the
test's settings (``override_settings`` reaches it), caches, in-memory group
backend (a ``broadcast()`` in the test reaches the server's sockets) and test
database configuration, with nothing to pickle or pass through the
environment, and behaves the same whatever the platform's process start
method. What it does not share is database connections, as with Django's
``LiveServerTestCase``: the server's threads open their own, so the test
case is a ``TransactionTestCase`` (the fixture uses ``transactional_db``),
whose data is committed, seen by the server, and flushed after each test.

An in-memory SQLite test database (Django's default for SQLite) is served
from a file while the server runs, and comes back as it was when the server
stops (:mod:`django_wsviews.testing.live_databases` says why). PostgreSQL,
MySQL and file-backed SQLite test databases are used as they are.

uvicorn refuses WebSocket messages over ``WSVIEWS_MAX_MESSAGE_SIZE`` (as in
production, see :doc:`servers`). Stopping is bounded and clean: open
WebSockets are closed with 1012 (service restart), the lifespan shutdown
runs (each view's ``disconnect()``), and the server's threads end.

The server itself, :class:`LiveServer`, is in
:mod:`django_wsviews.testing.live_server` (importable from here too); this
module holds the test case and the pytest fixture built on it, and is the
pytest plugin that provides the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from django.test import TransactionTestCase
from django.utils.functional import classproperty

from .live_server import ASGIApp, LiveServer

__all__ = ["LiveServer", "WebSocketLiveServerTestCase", "ws_live_server"]


class WebSocketLiveServerTestCase(TransactionTestCase):
    """
    A ``TransactionTestCase`` with a live server for the class: HTTP, WebSockets, static files.

    The server (:attr:`live_server`, a :class:`LiveServer`) starts in
    ``setUpClass()`` and stops after ``tearDownClass()``; tests reach it at
    :attr:`live_server_url` and :attr:`live_server_ws_url`. As with any
    ``TransactionTestCase``, what a test writes to the database is committed,
    so the server sees it, and the tables are flushed after each test.
    """

    #: Where the server listens; port 0 picks a free port.
    host: ClassVar[str] = "127.0.0.1"
    port: ClassVar[int] = 0
    #: Whether ``STATIC_URL`` is served from the staticfiles finders.
    serve_static: ClassVar[bool] = True
    live_server_class: ClassVar[type[LiveServer]] = LiveServer

    live_server: ClassVar[LiveServer]

    @classproperty
    def live_server_url(cls) -> str:
        """Return the server's ``http://`` URL, such as ``http://127.0.0.1:50123``."""
        return cls.live_server.url

    @classproperty
    def live_server_ws_url(cls) -> str:
        """Return the server's ``ws://`` URL, such as ``ws://127.0.0.1:50123``."""
        return cls.live_server.ws_url

    @classmethod
    def get_application(cls) -> ASGIApp | None:
        """Return the ASGI application to serve; None (the default) serves the project's."""
        return None

    @classmethod
    def setUpClass(cls) -> None:
        """Start the live server for the class's tests."""
        super().setUpClass()
        cls.live_server = cls.live_server_class(
            cls.get_application(),
            host=cls.host,
            port=cls.port,
            static=cls.serve_static,
        )
        cls.live_server.start()
        cls.addClassCleanup(cls.live_server.stop)


def _live_server_fixture(transactional_db: None) -> Iterator[LiveServer]:
    """
    Return a live server for the test (pytest): ``.url``, ``.ws_url``, ``.ws()``, ``.ws_sync()``.

    The test's database is transactional (``transactional_db``): what it
    writes is committed, so the server sees it, and flushed after the test.
    A server per test: no connection, group member or setting outlives it.
    """
    with LiveServer() as server:
        yield server


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is not a dependency
    ws_live_server: Any = None
else:
    ws_live_server = pytest.fixture(name="ws_live_server")(_live_server_fixture)
