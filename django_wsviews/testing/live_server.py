"""
The live server: uvicorn serving the project's ASGI application in a thread.

:class:`LiveServer` serves the application (static files in front), opens
``websockets`` clients to it, starts and stops; the test case and the pytest
fixture built on it, and why a thread, are in
:mod:`django_wsviews.testing.live`.

The failure policy: :meth:`~LiveServer.start` leaves nothing running when it
fails, and says why (uvicorn missing, a port that cannot be bound, an
application that fails to start or does not start within
:data:`STARTUP_TIMEOUT` seconds); :meth:`~LiveServer.stop` is bounded, and
raises RuntimeError if the server's thread outlives the bound.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Mapping
from http.cookies import SimpleCookie
from types import TracebackType
from typing import TYPE_CHECKING, Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test.utils import modify_settings, override_settings

from .. import conf
from ..db import workers
from ..log import get_logger
from .live_databases import FileBackedDatabases

if TYPE_CHECKING:
    import uvicorn
    from websockets.asyncio.client import connect as AsyncConnect
    from websockets.sync.client import ClientConnection

__all__ = ["LiveServer"]

logger = get_logger("django_wsviews.testing")

ASGIApp = Any

#: Seconds for each client helper's handshake and close.
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
        self._databases = FileBackedDatabases()
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
