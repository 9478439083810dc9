"""
The live server: ``django_wsviews.testing.live``.

The tests serve the example project's routes (tests/live_project/live_site)
with the ``ws_live_server`` fixture or a :class:`LiveServer`, and talk to
them with the ``websockets`` client, ``urllib`` and Chromium (Playwright).
The project's own tests run in subprocesses: with Django's test runner
(``manage.py test``), and with pytest, on its in-memory SQLite test database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.test.utils import modify_settings, override_settings
from websockets.exceptions import ConnectionClosed, InvalidStatus

import django_wsviews
from django_wsviews import CloseCode, broadcast
from django_wsviews.testing import live
from django_wsviews.testing.live import LiveServer
from tests.e2e.test_browser import CHROMIUM_ARGS, LAUNCH_TIMEOUT, unavailable
from tests.live_project.live_site import sockets
from tests.support import promise_views
from tests.support.services import postgres_database

# The fixture, also where the package's pytest plugin is not registered.
ws_live_server = live.ws_live_server

pytestmark = pytest.mark.urls("tests.live_project.live_site.urls")

TIMEOUT = 5.0
PROJECT = Path(__file__).resolve().parent / "live_project"
REPO_ROOT = PROJECT.parent.parent
#: Seconds for a whole subprocess test run.
RUN_TIMEOUT = 300


@pytest.fixture
def new_threads() -> Iterator[None]:
    """At the end of the test, fail if a thread it started still runs (bounded wait)."""
    before = set(threading.enumerate())
    yield
    started = set(threading.enumerate()) - before
    for thread in started:
        thread.join(TIMEOUT)
    assert [t.name for t in started if t.is_alive()] == []


# The fixture ------------------------------------------------------------------


async def test_echo(ws_live_server: LiveServer) -> None:
    """A text and a binary message come back through uvicorn."""
    async with ws_live_server.ws("/ws/echo/") as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello"
        await ws.send(b"\x00\xff")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x00\xff"


def test_urls(ws_live_server: LiveServer) -> None:
    """url and ws_url name the port the server listens on, on 127.0.0.1."""
    port = ws_live_server.port
    assert ws_live_server.url == f"http://127.0.0.1:{port}"
    assert ws_live_server.ws_url == f"ws://127.0.0.1:{port}"
    with urllib.request.urlopen(ws_live_server.url + "/", timeout=TIMEOUT) as r:
        assert b"<title>Live server</title>" in r.read()


@pytest.mark.usefixtures("new_threads")  # after the fixture: nothing left
def test_data_created_in_the_test_is_the_servers(ws_live_server: LiveServer) -> None:
    """A user created in the test, logged in by its session cookie, is the view's user."""
    user = User.objects.create(username="bea")
    User.objects.create(username="cy")
    client = Client()
    client.force_login(user)
    with ws_live_server.ws_sync("/ws/whoami/", cookies=client.cookies) as ws:
        assert ws.recv(timeout=TIMEOUT) == "bea"
        assert ws.recv(timeout=TIMEOUT) == "2"


def test_without_the_cookie_the_view_sees_nobody(ws_live_server: LiveServer) -> None:
    """The user came from the cookie: without it, the view's user is anonymous."""
    User.objects.create(username="bea")
    with ws_live_server.ws_sync("/ws/whoami/") as ws:
        assert ws.recv(timeout=TIMEOUT) == ""
        assert ws.recv(timeout=TIMEOUT) == "1"


def test_cookies_as_a_mapping(ws_live_server: LiveServer) -> None:
    """cookies= also takes a plain mapping of names to values."""
    user = User.objects.create(username="dee")
    client = Client()
    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    cookies = {django_settings.SESSION_COOKIE_NAME: session}
    with ws_live_server.ws_sync("/ws/whoami/", cookies=cookies) as ws:
        assert ws.recv(timeout=TIMEOUT) == "dee"


def test_static_files(ws_live_server: LiveServer) -> None:
    """STATIC_URL is served from the finders, with DEBUG off, once staticfiles is installed."""
    url = ws_live_server.url + "/static/django_wsviews/wsviews.js"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=TIMEOUT)
    assert info.value.code == 404
    info.value.close()
    with (
        modify_settings(INSTALLED_APPS={"append": "django.contrib.staticfiles"}),
        override_settings(STATIC_URL="/static/"),
        urllib.request.urlopen(url, timeout=TIMEOUT) as response,
    ):
        body = response.read()
    path = (
        Path(django_wsviews.__file__).parent
        / "static"
        / "django_wsviews"
        / "wsviews.js"
    )
    assert body == path.read_bytes()


def test_broadcast_from_the_test(ws_live_server: LiveServer) -> None:
    """A broadcast in the test reaches the server's sockets (one process, in-memory backend)."""
    with ws_live_server.ws_sync("/ws/news/") as ws:
        broadcast("live.news", "extra")
        assert ws.recv(timeout=TIMEOUT) == "extra"


def test_settings_of_the_test_reach_the_server(
    ws_live_server: LiveServer, settings: Any
) -> None:
    """A setting changed in the test applies to the server at once (one process)."""
    with ws_live_server.ws_sync("/ws/echo/", origin=None) as ws:
        ws.send("no origin")
        assert ws.recv(timeout=TIMEOUT) == "no origin"
    settings.WSVIEWS_ALLOW_MISSING_ORIGIN = False
    with pytest.raises(InvalidStatus) as info:
        ws_live_server.ws_sync("/ws/echo/", origin=None)
    assert info.value.response.status_code == 403
    with ws_live_server.ws_sync("/ws/echo/") as ws:  # with the site's origin
        ws.send("origin")
        assert ws.recv(timeout=TIMEOUT) == "origin"


@pytest.fixture(scope="module")
def chromium() -> str:
    """Return the path of the system's Chromium, once Playwright is importable."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable(
            "Chromium is not installed (apt-get install chromium); "
            "Playwright's own browser download is not used"
        )
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        unavailable("Playwright is not installed (pip install playwright)")
    assert path is not None
    return path


async def test_browser(chromium: str, ws_live_server: LiveServer) -> None:
    """Chromium loads a page from the live server whose sockets show the user and an echo."""
    from playwright.async_api import async_playwright, expect

    user = await sync_to_async(User.objects.create)(username="bea")
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]

    playwright = await asyncio.wait_for(async_playwright().start(), LAUNCH_TIMEOUT)
    try:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT * 1000
        )
        try:
            context = await browser.new_context()
            await context.add_cookies(
                [{"name": cookie.key, "value": cookie.value, "url": ws_live_server.url}]
            )
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT * 1000)
            await page.goto(ws_live_server.url + "/")
            await expect(page.locator("#echo")).to_have_text(
                "hello from the browser", timeout=TIMEOUT * 1000
            )
            await expect(page.locator("#user")).to_have_text(
                "bea", timeout=TIMEOUT * 1000
            )
        finally:
            await asyncio.wait_for(browser.close(), LAUNCH_TIMEOUT)
    finally:
        await asyncio.wait_for(playwright.stop(), LAUNCH_TIMEOUT)


# LiveServer -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("new_threads")
def test_max_message_size_is_the_setting() -> None:
    """uvicorn refuses a message one byte over WSVIEWS_MAX_MESSAGE_SIZE with 1009."""
    # /ws/big/ allows 16 MiB itself: the refusal is the server's.
    with (
        override_settings(WSVIEWS_MAX_MESSAGE_SIZE=1024),
        LiveServer() as server,
        server.ws_sync("/ws/big/") as ws,
    ):
        ws.send("x" * 1024)
        assert ws.recv(timeout=TIMEOUT) == "x" * 1024
        ws.send("x" * 1025)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("new_threads")
def test_stop_closes_sockets_and_ends_its_threads() -> None:
    """stop(): open sockets get 1012, disconnect() runs, the port and every thread close."""
    sockets.goodbyes.clear()
    before = set(threading.enumerate())
    server = LiveServer()
    server.start()
    port = server.port
    assert port is not None
    try:
        # A plain def hook: a worker thread of the pool, and a database connection.
        with server.ws_sync("/ws/whoami/") as ws:
            assert ws.recv(timeout=TIMEOUT) == ""
        with server.ws_sync("/ws/goodbye/") as ws:
            ws.send("ping")
            assert ws.recv(timeout=TIMEOUT) == "ping"
            server.stop()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=TIMEOUT)
    finally:
        server.stop()
    # The pool's worker threads have ended by the time stop() returns.
    workers = [t.name for t in set(threading.enumerate()) - before]
    assert [name for name in workers if name.startswith("django_wsviews")] == []
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == CloseCode.SERVICE_RESTART
    assert sockets.goodbyes == [CloseCode.SERVICE_RESTART]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("new_threads")
def test_application_setting() -> None:
    """ASGI_APPLICATION is what the server serves."""
    path = "tests.live_project.live_site.asgi.application"
    with (
        override_settings(ASGI_APPLICATION=path),
        LiveServer() as server,
        urllib.request.urlopen(server.url + "/", timeout=TIMEOUT) as r,
    ):
        assert r.headers["X-Live-Site"] == "asgi.py"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("new_threads")
def test_application_setting_that_cannot_be_imported() -> None:
    """An ASGI_APPLICATION that cannot be imported raises ImproperlyConfigured naming the fix."""
    hosts = list(django_settings.ALLOWED_HOSTS)
    with override_settings(ASGI_APPLICATION="tests.nowhere.application"):
        server = LiveServer()
        with pytest.raises(
            ImproperlyConfigured, match="dotted path of the application"
        ):
            server.start()
    assert hosts == django_settings.ALLOWED_HOSTS


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("new_threads")
def test_failed_startup() -> None:
    """An application that fails its lifespan startup raises, saying why; nothing runs on."""
    hosts = list(django_settings.ALLOWED_HOSTS)
    with override_settings(WSVIEWS_RATE_LIMIT="fast"):
        server = LiveServer()
        with pytest.raises(
            RuntimeError, match=r"(?s)failed to start.*E017.*WSVIEWS_RATE_LIMIT"
        ):
            server.start()
    assert server.port is None
    assert hosts == django_settings.ALLOWED_HOSTS


@pytest.mark.django_db(transaction=True)
def test_start_twice() -> None:
    """A running server refuses a second start()."""
    with LiveServer() as server, pytest.raises(RuntimeError, match="running already"):
        server.start()


def test_paths_start_with_a_slash() -> None:
    """ws() and ws_sync() refuse a path that is not one, before connecting."""
    server = LiveServer()
    server.port = 1  # never connected to
    for connect in (server.ws, server.ws_sync):
        with pytest.raises(ValueError, match="starting with '/'"):
            connect("ws/echo/")
        with pytest.raises(ValueError, match="starting with '/'"):
            connect("ws://elsewhere.example/ws/echo/")


def test_urls_before_start() -> None:
    """url and ws_url say the server is not running, rather than give a URL with no port."""
    with pytest.raises(RuntimeError, match="call start"):
        LiveServer().ws_url  # noqa: B018


# The example project, in subprocesses ----------------------------------------


def run_in_project(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` in tests/live_project, with its settings; bounded."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "live_site.settings",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_manage_py_test() -> None:
    """The project's WebSocketLiveServerTestCase tests pass under manage.py test."""
    result = run_in_project("manage.py", "test", "live_site", "-v", "2")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 9 tests" in output, output
    assert "tearDownModule" not in output, output


def test_manage_py_test_fails_a_wrong_echo() -> None:
    """A live-server test that asserts the wrong echo fails the run."""
    result = run_in_project("manage.py", "test", "live_site.failing")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "AssertionError: the echo was 'hello'" in output, output
    assert "FAILED (failures=1)" in output, output


def test_manage_py_test_on_postgresql() -> None:
    """The same tests pass on PostgreSQL, whose test database is used as it is."""
    import psycopg

    database = postgres_database()
    try:
        psycopg.connect(
            host=database["HOST"],
            port=database["PORT"],
            dbname=database["NAME"],
            user=database["USER"],
            password=database["PASSWORD"],
            connect_timeout=int(TIMEOUT),
        ).close()
    except psycopg.Error as exc:
        unavailable(
            f"No PostgreSQL server at {database['HOST']}:{database['PORT']} "
            f"({str(exc).strip()}); set WSVIEWS_TEST_POSTGRES_HOST, _PORT, _DB, "
            "_USER, _PASSWORD"
        )
    result = run_in_project(
        "manage.py",
        "test",
        "live_site",
        "--settings=live_site.settings_postgres",
        "--noinput",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 9 tests" in output, output


def test_pytest_fixture_on_an_in_memory_database() -> None:
    """The project's ws_live_server tests pass under pytest, on SQLite in memory."""
    result = run_in_project(
        "-m",
        "pytest",
        "-c",
        "pytest.ini",
        "live_site/pytest_live.py",
        "live_site/pytest_shared.py",
        "-q",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "8 passed" in output, output


@pytest.mark.django_db(transaction=True)
def test_static_false_serves_no_static_files() -> None:
    """LiveServer(static=False) (serve_static = False on the test case) leaves STATIC_URL to the application."""
    with (
        modify_settings(INSTALLED_APPS={"append": "django.contrib.staticfiles"}),
        override_settings(STATIC_URL="/static/"),
        LiveServer(static=False) as server,
    ):
        url = server.url + "/static/django_wsviews/wsviews.js"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=TIMEOUT)
        assert info.value.code == 404
        info.value.close()
        with server.ws_sync("/ws/echo/") as ws:  # the application still serves
            ws.send("served")
            assert ws.recv(timeout=TIMEOUT) == "served"


@pytest.mark.django_db(transaction=True)
def test_a_server_that_cannot_stop_raises_instead_of_hanging(settings: Any) -> None:
    """stop() gives up on a server whose loop is blocked: RuntimeError, not a hung run."""
    settings.ROOT_URLCONF = "tests.support.promise_urls"
    settings.WSVIEWS_SHUTDOWN_TIMEOUT = 0
    promise_views.blocking["entered"].clear()
    promise_views.blocking["release"].clear()
    server = LiveServer(timeout=0.5)
    server.start()
    thread = server._thread
    assert thread is not None
    try:
        with server.ws_sync("/ws/blocking/") as ws:
            ws.send("block")
            assert promise_views.blocking["entered"].wait(TIMEOUT)
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="did not stop"):
                server.stop()
            assert time.monotonic() - started < TIMEOUT  # bounded by the timeouts
            assert thread.is_alive()
            promise_views.blocking["release"].set()
            thread.join(TIMEOUT)
    finally:
        promise_views.blocking["release"].set()
    assert not thread.is_alive()
