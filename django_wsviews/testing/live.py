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

An in-memory SQLite test database (Django's default for SQLite) cannot be
opened safely from the server's many threads: SQLite locks a shared in-memory
database by table, failing instead of waiting, and Django never closes
in-memory connections. While the server runs, such a database is copied to a
file in a temporary directory and every connection opens that file; the
in-memory database comes back, as it was, when the server stops. PostgreSQL,
MySQL and file-backed SQLite test databases are used as they are.

uvicorn refuses WebSocket messages over ``WSVIEWS_MAX_MESSAGE_SIZE`` (as in
production, see :doc:`servers`). Stopping is bounded and clean: open
WebSockets are closed with 1012 (service restart), the lifespan shutdown
runs (each view's ``disconnect()``), and the server's threads end.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, cast

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import TransactionTestCase
from django.test.utils import modify_settings, override_settings
from django.utils.functional import classproperty

from .. import conf
from ..db import workers
from ..log import get_logger

if TYPE_CHECKING:
    import uvicorn
    from websockets.asyncio.client import connect as AsyncConnect
    from websockets.sync.client import ClientConnection

__all__ = ["LiveServer", "WebSocketLiveServerTestCase", "ws_live_server"]

logger = get_logger("django_wsviews.testing")

ASGIApp = Any

#: Seconds for each client helper's handshake and close, and for database hand-overs.
DEFAULT_TIMEOUT = 5.0

#: Seconds the application has to start (its lifespan startup runs the checks).
STARTUP_TIMEOUT = 30.0

#: Seconds a stopping server waits for its worker threads to end.
THREAD_JOIN_TIMEOUT = 5.0

#: uvicorn's own limit, used when ``WSVIEWS_MAX_MESSAGE_SIZE`` is None (no limit).
UVICORN_DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024

#: How the names of django-wsviews' worker threads begin: ``db.workers``'
#: thread_name_prefix, then the number ThreadPoolExecutor appends.
_WORKER_THREAD_PREFIX = "django_wsviews_"


def _project_application() -> ASGIApp:
    """
    Return the project's ASGI application: ``settings.ASGI_APPLICATION``, else ours.

    ``ASGI_APPLICATION`` is a dotted path, as ``runserver`` reads it; without
    it, :func:`~django_wsviews.asgi.get_asgi_application`. Raise
    ImproperlyConfigured when the path cannot be imported.
    """
    # Django is set up in a test process already: importing asgi.py, or
    # get_asgi_application(), runs django.setup() again, which would configure
    # logging again (a LOGGING that disables existing loggers would silence
    # those made since). Without LOGGING_CONFIG, setup() leaves logging alone.
    with override_settings(LOGGING_CONFIG=None):
        from ..asgi import project_application

        return project_application()


class _ServedApplication:
    """
    What uvicorn serves: the application, with the lifespan in a thread context of its own.

    The lifespan's sync calls (the system checks at startup) would otherwise
    run in asgiref's process-wide thread, the one an async test's ORM calls
    use; in a context of their own they run in a thread that ends, its
    database connections closed, with the lifespan. Remember why startup
    failed, to say so in the test.
    """

    def __init__(self, application: ASGIApp) -> None:
        self.application = application
        self.startup_error: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one ASGI call; a lifespan in its own thread-sensitive context."""
        if scope["type"] != "lifespan":
            await self.application(scope, receive, send)
            return

        async def lifespan_send(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed":
                self.startup_error = message.get("message") or "no reason given"
            await send(message)

        async with ThreadSensitiveContext():
            try:
                await self.application(scope, receive, lifespan_send)
            finally:
                await sync_to_async(connections.close_all)()


class _FileBackedDatabases:
    """
    Serve the in-memory SQLite test databases from files, then bring them back.

    Each in-memory SQLite alias is copied (SQLite's backup API) to a file in a
    temporary directory, and its ``NAME`` points there: connections opened
    from now on, the server's, open the file. The threads where a test's own
    code queries the database, this one and asgiref's process-wide thread
    (where an async test's ORM calls run under pytest-asyncio), get a fresh
    connection to the file; their in-memory connection is kept aside, and
    with it the in-memory database, until :meth:`restore`.
    """

    def __init__(self) -> None:
        self.directory: Path | None = None
        #: alias -> the NAME to restore.
        self.names: dict[str, str] = {}
        #: (thread id, alias) -> the connection set aside.
        self.kept: dict[tuple[int, str], Any] = {}

    def swap(self) -> None:
        """Copy every in-memory SQLite test database to a file, and use the files."""
        aliases = [
            conn.alias
            for conn in connections.all()
            if conn.vendor == "sqlite" and cast(Any, conn).is_in_memory_db()
        ]
        for alias in aliases:
            if connections[alias].in_atomic_block:
                raise ImproperlyConfigured(
                    f"The live server cannot copy the in-memory test database "
                    f"{alias!r} inside a transaction: the server would not see the "
                    "test's data. Use WebSocketLiveServerTestCase (a "
                    "TransactionTestCase), or with pytest the ws_live_server "
                    "fixture or django_db(transaction=True), not TestCase or "
                    "django_db."
                )
        if not aliases:
            return
        self.directory = Path(tempfile.mkdtemp(prefix="django-wsviews-live-"))
        files = {}
        for alias in aliases:
            conn = connections[alias]
            conn.ensure_connection()
            files[alias] = self.directory / f"{alias}.sqlite3"
            target = sqlite3.connect(files[alias])
            try:
                conn.connection.backup(target)
            finally:
                target.close()
        for alias, path in files.items():
            self.names[alias] = connections[alias].settings_dict["NAME"]
            self._set_name(alias, str(path))
        self._in_test_threads(self._use_files)

    def restore(self) -> None:
        """Close the files' connections, bring the in-memory databases back, remove the files."""
        try:
            if self.names:
                self._in_test_threads(self._close_files)
        finally:
            for alias, name in self.names.items():
                self._set_name(alias, name)
            self.names = {}
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None

    # In each test thread ----------------------------------------------------

    def _use_files(self) -> None:
        ident = threading.get_ident()
        for alias in self.names:
            kept = connections[alias]
            fresh = connections.create_connection(alias)
            # TransactionTestCase.serialized_rollback reads it from the connection.
            contents = getattr(kept, "_test_serialized_contents", None)
            if contents is not None:
                setattr(fresh, "_test_serialized_contents", contents)  # noqa: B010
            self.kept[ident, alias] = kept
            connections[alias] = fresh

    def _close_files(self) -> None:
        ident = threading.get_ident()
        for alias in self.names:
            # A file connection: this thread's, or one it opened meanwhile.
            connections[alias].close()
            kept = self.kept.pop((ident, alias), None)
            if kept is not None:
                connections[alias] = kept

    # Helpers ------------------------------------------------------------------

    @staticmethod
    def _set_name(alias: str, name: str) -> None:
        # As Django's create_test_db() does: the connections' settings, and settings.
        connections.settings[alias]["NAME"] = name
        settings.DATABASES[alias]["NAME"] = name

    @staticmethod
    def _in_test_threads(function: Callable[[], None]) -> None:
        """Run ``function`` here, then in asgiref's process-wide thread if it runs."""
        function()
        executor = SyncToAsync.single_thread_executor
        # A thread it has not started has no connection: do not start it.
        if getattr(executor, "_threads", True):
            executor.submit(function).result(DEFAULT_TIMEOUT)


class LiveServer:
    """
    uvicorn serving the project's ASGI application in a thread of this process.

    ``application`` defaults to the project's: ``settings.ASGI_APPLICATION``
    (a dotted path) if set, else
    :func:`~django_wsviews.asgi.get_asgi_application`. ``static`` puts
    :class:`~django_wsviews.staticfiles.DebugStaticFilesHandler` in front of
    it, serving ``STATIC_URL`` from the staticfiles finders whatever
    ``DEBUG``, when ``django.contrib.staticfiles`` is installed, as Django's
    ``StaticLiveServerTestCase`` does. ``host`` is an IPv4 address or a name;
    port 0 picks a free port. ``timeout`` bounds the client helpers'
    handshakes and closes.

    :meth:`start` and :meth:`stop`, or ``with LiveServer() as server:``. The
    server sees the data a test has committed (see
    :ref:`testing-live-server` for the test database).
    """

    def __init__(
        self,
        application: ASGIApp | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        static: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.application = application
        self.host = host
        self.requested_port = port
        self.static = static
        self.timeout = timeout
        #: The port the server listens on, once started.
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._served: _ServedApplication | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._databases = _FileBackedDatabases()
        self._allowed_hosts: modify_settings | None = None
        self._threads_before: set[threading.Thread] = set()

    def __repr__(self) -> str:
        where = f"{self.url}" if self.port is not None else "not started"
        return f"<LiveServer {where}>"

    # URLs -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the server's ``http://`` URL, such as ``http://127.0.0.1:50123``."""
        return f"http://{self._netloc()}"

    @property
    def ws_url(self) -> str:
        """Return the server's ``ws://`` URL, such as ``ws://127.0.0.1:50123``."""
        return f"ws://{self._netloc()}"

    def _netloc(self) -> str:
        if self.port is None:
            raise RuntimeError("The live server is not running: call start() first.")
        return f"{self.host}:{self.port}"

    # Clients ----------------------------------------------------------------

    def _client_options(
        self,
        path: str,
        cookies: Mapping[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(
                f"Give a path starting with '/', such as '/ws/echo/', not {path!r}."
            )
        kwargs.setdefault("origin", self.url)
        kwargs.setdefault("open_timeout", self.timeout)
        kwargs.setdefault("close_timeout", self.timeout)
        if cookies:
            headers = dict(kwargs.pop("additional_headers", None) or {})
            headers["Cookie"] = _cookie_header(cookies)
            kwargs["additional_headers"] = headers
        return self.ws_url + path, kwargs

    def ws(
        self, path: str, *, cookies: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> AsyncConnect:
        """
        Return a ``websockets`` (asyncio) connection to ``path``, for ``async with``.

        ``path`` may carry a query string. The handshake sends ``Origin``
        (the server's URL, as a page of the site would; ``origin=None`` sends
        none) and ``cookies`` (a mapping of names to values, or Django's
        ``client.cookies`` after ``client.force_login(user)``); the handshake
        and the close are bounded by ``timeout``. Other keyword arguments go
        to :func:`websockets.asyncio.client.connect`. Raise ValueError for a
        path that does not start with ``/``; a refused handshake raises
        ``websockets``' ``InvalidStatus``.
        """
        from websockets.asyncio.client import connect

        url, options = self._client_options(path, cookies, kwargs)
        return connect(url, **options)

    def ws_sync(
        self, path: str, *, cookies: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> ClientConnection:
        """
        Open a ``websockets`` (sync) connection to ``path``; use it in ``with``.

        As :meth:`ws`, with :func:`websockets.sync.client.connect`, for plain
        ``def`` tests: the handshake happens now. Give ``recv()`` a
        ``timeout``.
        """
        from websockets.sync.client import connect

        url, options = self._client_options(path, cookies, kwargs)
        connection: ClientConnection = connect(url, **options)
        return connection

    # Life -------------------------------------------------------------------

    def get_ws_max_size(self) -> int:
        """Return the largest WebSocket message uvicorn reads: ``WSVIEWS_MAX_MESSAGE_SIZE``."""
        size = conf.settings.WSVIEWS_MAX_MESSAGE_SIZE
        return UVICORN_DEFAULT_WS_MAX_SIZE if size is None else size

    def start(self) -> None:
        """
        Start serving, and return once the application has started.

        Add the host to ``ALLOWED_HOSTS`` and copy in-memory SQLite test
        databases to files until :meth:`stop`. Raise ImproperlyConfigured when
        uvicorn is not installed, OSError when the port cannot be bound, and
        RuntimeError, saying why, when the application fails to start (a
        system check, say) or does not start within 30 seconds; nothing is
        left running then.
        """
        if self._thread is not None:
            raise RuntimeError("This live server is running already.")
        self._threads_before = set(threading.enumerate())
        self._error = None
        self._allowed_hosts = modify_settings(ALLOWED_HOSTS={"append": self.host})
        self._allowed_hosts.enable()
        try:
            self._databases.swap()
            self._serve()
        except BaseException:
            self.stop()
            raise

    def _serve(self) -> None:
        try:
            import uvicorn
        except ImportError as exc:
            raise ImproperlyConfigured(
                "The live server runs uvicorn, which is not installed: "
                "pip install uvicorn (or django-wsviews[servers])."
            ) from exc
        application = self.application
        if application is None:
            application = _project_application()
        if self.static:
            from ..staticfiles import DebugStaticFilesHandler

            application = DebugStaticFilesHandler(application, insecure=True)
        self._served = _ServedApplication(application)
        shutdown_timeout = conf.settings.WSVIEWS_SHUTDOWN_TIMEOUT
        config = uvicorn.Config(
            self._served,
            interface="asgi3",
            lifespan="auto",
            ws_max_size=self.get_ws_max_size(),
            timeout_graceful_shutdown=math.ceil(shutdown_timeout),
            proxy_headers=False,
            # The test process's logging stays as it is.
            log_config=None,
        )
        ready = self._ready

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:
                try:
                    await super().startup(sockets=sockets)
                finally:
                    ready.set()

        self._server = server = Server(config)
        sock = socket.create_server((self.host, self.requested_port))
        self._thread = threading.Thread(
            target=self._run,
            args=(server, sock),
            name=f"django_wsviews live server {sock.getsockname()[1]}",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(STARTUP_TIMEOUT):
            raise RuntimeError(
                f"The live server did not start within {STARTUP_TIMEOUT} seconds."
            )
        if not server.started:
            self._thread.join(self.timeout)
            reason = self._served.startup_error or repr(self._error)
            raise RuntimeError(
                f"The live server's application failed to start: {reason}"
            )
        self.port = int(sock.getsockname()[1])
        logger.debug("Live server started at %s.", self.url)

    def _run(self, server: Any, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # SystemExit: the application failed to start
            self._error = exc
        finally:
            sock.close()
            connections.close_all()
            self._ready.set()

    def stop(self) -> None:
        """
        Stop the server and wait (bounded) for it; restore the settings and databases.

        uvicorn closes open WebSockets with 1012 and runs the lifespan
        shutdown (each view's ``disconnect()``), each within
        ``WSVIEWS_SHUTDOWN_TIMEOUT`` seconds; the threads the server started
        end. Raise RuntimeError if the server's thread outlives that bound.
        Calling it again, or before :meth:`start`, does nothing.
        """
        server, thread = self._server, self._thread
        try:
            if server is not None and thread is not None:
                self._stop_thread(server, thread)
        finally:
            self._server = self._thread = None
            self.port = None
            try:
                self._databases.restore()
            finally:
                if self._allowed_hosts is not None:
                    self._allowed_hosts.disable()
                    self._allowed_hosts = None
                self._ready.clear()

    def _stop_thread(self, server: Any, thread: threading.Thread) -> None:
        logger.debug("Stopping the live server on port %s.", self.port)
        server.should_exit = True
        # uvicorn waits for its connections, then for the lifespan shutdown.
        bound = 2 * conf.settings.WSVIEWS_SHUTDOWN_TIMEOUT + self.timeout
        thread.join(bound)
        if thread.is_alive():
            server.force_exit = True
            thread.join(self.timeout)
            if thread.is_alive():
                raise RuntimeError(
                    f"The live server did not stop within {bound} seconds; its "
                    "thread is left running."
                )
        # Hook calls' worker threads, idle now: end them and wait.
        workers.clear()
        deadline = time.monotonic() + THREAD_JOIN_TIMEOUT
        for worker in set(threading.enumerate()) - self._threads_before:
            if worker.name.startswith(_WORKER_THREAD_PREFIX):
                worker.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _cookie_header(cookies: Mapping[str, Any]) -> str:
    """Return a ``Cookie`` header for a mapping of names to values or morsels."""
    if isinstance(cookies, SimpleCookie):
        pairs = [(name, morsel.value) for name, morsel in cookies.items()]
    else:
        pairs = [(name, str(value)) for name, value in cookies.items()]
    return "; ".join(f"{name}={value}" for name, value in pairs)


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
