"""
``manage.py runserver``, with ``django_wsviews`` installed, serves a startproject project on uvicorn.

Each test runs ``python manage.py runserver 127.0.0.1:<port>`` in a
subprocess (its own session, ended by process group) on a fresh
``startproject`` with an ``echo`` app: HTTP, a WebSocket echo, static files
from an app and from the admin, ``--nostatic``, the autoreloader, and the
server's message limit. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .helpers import (
    POLL_INTERVAL,
    REPO_ROOT,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    TIMEOUT,
    free_port,
    recv,
    server_close,
)

ECHO_VIEWS = """\
import logging

from django.http import HttpResponse

from django_wsviews import WebSocketView

PREFIX = ""


def hello(request):
    return HttpResponse("hello from django")


class EchoView(WebSocketView):
    async def receive(self, message):
        await self.send(PREFIX + message)

    async def disconnect(self, code):
        logging.getLogger("echo").warning("echo disconnected with %s", code)
"""

URLS_TAIL = """
from echo.views import EchoView, hello

urlpatterns += [path("hello/", hello)]
ws_urlpatterns = [path("ws/echo/", EchoView.as_view())]
"""

STATIC_TEXT = "served from the echo app's static folder\n"
BANNER = "Starting ASGI/WebSocket development server at"
STARTED = "Application startup complete."


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Return a fresh ``startproject mysite`` with django_wsviews first and an echo app."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=STARTUP_TIMEOUT,
        env=env,
    )
    settings = tmp_path / "mysite" / "settings.py"
    text = settings.read_text()
    assert "DEBUG = True" in text
    assert "'django.contrib.staticfiles',\n]" in text
    settings.write_text(
        text.replace(
            "INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "django_wsviews",'
        ).replace(
            "'django.contrib.staticfiles',\n]",
            "'django.contrib.staticfiles',\n    'echo',\n]",
        )
    )
    echo = tmp_path / "echo"
    (echo / "static" / "echo").mkdir(parents=True)
    (echo / "__init__.py").write_text("")
    (echo / "views.py").write_text(ECHO_VIEWS)
    (echo / "static" / "echo" / "hello.txt").write_text(STATIC_TEXT)
    urls = tmp_path / "mysite" / "urls.py"
    urls.write_text(urls.read_text() + URLS_TAIL)
    return tmp_path


@contextlib.contextmanager
def sigint_not_ignored() -> Iterator[None]:
    """
    Let a command started here stop on SIGINT, as from a terminal's Ctrl-C.

    A test run started in the background (``&`` in a script) ignores SIGINT,
    and an ignored signal stays ignored across exec: the command would never
    see it. A handler, unlike SIG_IGN, is reset to the default by exec.
    """
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class Runserver:
    """``python manage.py runserver 127.0.0.1:<port>`` in a subprocess, output to a file."""

    def __init__(self, project: Path, *args: str) -> None:
        self.project = project
        self.port = free_port()
        self.log_path = project / "runserver.log"
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        with open(self.log_path, "wb") as log, sigint_not_ignored():
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    f"127.0.0.1:{self.port}",
                    *args,
                ],
                cwd=project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        """Return what the command wrote so far."""
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def wait_for(self, text: str, count: int = 1) -> str:
        """Wait (bounded) until ``text`` is in the output ``count`` times; return the output."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if self.process.poll() is not None:
                pytest.fail(f"runserver exited with {self.process.returncode}:\n{log}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} (x{count}) within {STARTUP_TIMEOUT}s:\n{log}")
            time.sleep(POLL_INTERVAL)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it outlives STOP_TIMEOUT."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """GET ``path``; return the status, the content type and the body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return (
                response.status,
                response.getheader("content-type", ""),
                response.read(),
            )
        finally:
            conn.close()

    def ws(self, path: str = "/ws/echo/", **kwargs: Any) -> connect:
        """Return a ``websockets`` connect() to ``path``, with bounded handshakes."""
        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            **kwargs,
        )


Start = Callable[..., Runserver]


@pytest.fixture
def runserver(project: Path) -> Iterator[Start]:
    """Return a starter of runserver on the project; every process is ended at teardown."""
    started: list[Runserver] = []

    def start(*args: str) -> Runserver:
        server = Runserver(project, *args)
        started.append(server)
        server.wait_for(STARTED)
        return server

    yield start
    for server in started:
        server.stop()


async def echo(ws: ClientConnection, text: str) -> str | bytes:
    """Send ``text`` and return the answer (bounded)."""
    await ws.send(text)
    return await recv(ws)


async def test_serves_http_websockets_and_static_files(runserver: Start) -> None:
    """The banner, an HTTP page, an app's static file, the admin's CSS and a WebSocket echo."""
    server = runserver()
    log = server.log()
    assert f"{BANNER} http://127.0.0.1:{server.port}/" in log
    assert "Django version " in log
    assert "using settings 'mysite.settings'" in log
    assert "System check identified no issues" in log
    assert "Starting development server at" not in log  # not Django's own

    assert server.get("/hello/") == (
        200,
        "text/html; charset=utf-8",
        b"hello from django",
    )
    status, _, body = server.get("/static/echo/hello.txt")
    assert (status, body.decode()) == (200, STATIC_TEXT)
    status, content_type, body = server.get("/static/admin/css/base.css")
    assert (status, content_type) == (200, "text/css")
    assert b"body {" in body
    assert server.get("/static/echo/missing.txt")[0] == 404

    async with server.ws() as ws:
        assert await echo(ws, "hello") == "hello"
    assert "Traceback" not in server.log()


async def test_nostatic_serves_no_static_files(runserver: Start) -> None:
    """With --nostatic, STATIC_URL is the URLconf's (404); pages and WebSockets still serve."""
    server = runserver("--nostatic")
    assert server.get("/static/echo/hello.txt")[0] == 404
    assert server.get("/static/admin/css/base.css")[0] == 404
    assert server.get("/hello/")[0] == 200
    async with server.ws() as ws:
        assert await echo(ws, "hello") == "hello"


async def reconnect(server: Runserver) -> ClientConnection:
    """Connect as a reconnecting client does after a close: retry until the server is back (bounded)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            return await server.ws()
        except OSError:  # the new process does not listen yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_INTERVAL)


async def touch_until_reloaded(server: Runserver, path: Path) -> None:
    """
    Move ``path``'s mtime forward until the autoreloader restarts (bounded).

    Django's StatReloader takes a file's first mtime as its baseline, once a
    second: an edit made before it first looked at the module is not a
    change. Each touch is a later mtime, so one comes after the baseline.
    """
    reloading = f"{path.name} changed, reloading."
    stamp = time.time()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while reloading not in server.log():
        if server.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {reloading!r}:\n{server.log()}")
        stamp += 1
        os.utime(path, (stamp, stamp))
        # Not time.sleep(): the open socket's client must keep answering.
        await asyncio.sleep(POLL_INTERVAL * 4)


async def test_code_change_reloads_and_clients_reconnect(
    runserver: Start, project: Path
) -> None:
    """A module edit restarts the server: open sockets get 1012, a new socket runs the new code."""
    server = runserver()
    async with server.ws() as old:
        assert await echo(old, "before") == "before"

        views = project / "echo" / "views.py"
        views.write_text(ECHO_VIEWS.replace('PREFIX = ""', 'PREFIX = "reloaded: "'))
        await touch_until_reloaded(server, views)
        closed = await server_close(old)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1012  # service restart: come back

    log = server.wait_for(STARTED, count=2)
    assert log.count(BANNER) == 2
    # The old process ran the view's disconnect() before it exited.
    assert "echo disconnected with 1012" in log

    new = await reconnect(server)
    try:
        assert await echo(new, "after") == "reloaded: after"
    finally:
        await new.close()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize(
    ("args", "refused_by_library"),
    [((), False), (("--ws-max-size", str(4 * 2**20)), True)],
    ids=["default", "server-limit-above-the-library's"],
)
async def test_server_refuses_messages_over_the_library_limit(
    runserver: Start, args: tuple[str, ...], refused_by_library: bool
) -> None:
    """2 MiB that compress to kilobytes get 1009 from uvicorn itself: WSVIEWS_MAX_MESSAGE_SIZE is its limit."""
    # With a server limit above the library's (the second case), the message
    # is inflated and the library refuses it, logging "Message over": the
    # absence of that line in the first case is what the test pins.
    server = runserver(*args)
    async with server.ws(max_size=None) as ws:
        assert ws.protocol.extensions, "the client negotiated no compression"
        await ws.send("a" * (2 * 2**20))
        with pytest.raises(ConnectionClosed) as closed:
            await recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    # The view's disconnect() has run (with 1009, or 1006 on uvicorn < 0.35):
    # had the library refused the message, its log line would be there.
    server.wait_for("echo disconnected with")
    assert ("Message over" in server.log()) is refused_by_library, server.log()


async def test_django_options_warnings_and_ctrl_c(runserver: Start) -> None:
    """--nothreading is accepted, unapplied migrations are reported at start, Ctrl-C exits with status 0."""
    server = runserver("--nothreading")
    assert "unapplied migration(s)" in server.log()  # a fresh project, not migrated
    async with server.ws() as ws:
        assert await echo(ws, "still served") == "still served"
    os.killpg(server.process.pid, signal.SIGINT)  # what Ctrl-C sends
    assert server.process.wait(STOP_TIMEOUT) == 0
    assert "Traceback" not in server.log()
