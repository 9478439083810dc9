"""
End-to-end: the example project's chat in a real browser, served as the README serves it.

``manage.py runserver`` (django_wsviews' own) serves example_project with
SQLite and the in-memory backend, on a database of the test's own: one
server for the module, whose tests use rooms of their own, and servers of
their own for the tests that restart one or run two. Chromium (the
system's, driven by Playwright) logs in as three users, each in a browser
context of its own (its own session), and uses the pages as a person would:
typing, pressing Enter, reading what shows. ``settings_redis``, two
processes sharing Redis, is tested the same way.

A screenshot of a room is written as a test artifact: into the folder
``WSVIEWS_TEST_ARTIFACTS`` names, else the test's temporary folder; its path
is printed.

Skipped when Chromium or Playwright is missing (the htmx test also when npm
or its registry is, the Redis test when Redis is), unless
``WSVIEWS_REQUIRE_SERVICES=1``, where that fails the tests instead.
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
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import services

from . import test_browser, test_htmx
from .helpers import (
    POLL_INTERVAL,
    REPO_ROOT,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    TIMEOUT,
    assert_clean,
    free_port,
)
from .test_browser import CHROMIUM_ARGS, LAUNCH_TIMEOUT

#: The fixtures giving the system's Chromium and htmx from npm.
chromium = test_browser.chromium
htmx_dir = test_htmx.htmx_dir

MANAGE = REPO_ROOT / "example_project" / "manage.py"

#: Milliseconds Playwright waits for what a page should show.
WAIT_MS = TIMEOUT * 1000

#: Milliseconds for the client to reconnect once the server is back: its
#: backoff (full jitter, ceilings 0.5, 1, 2, 4, 8 s...) may wait a while.
RECONNECT_MS = 40_000

#: Users: name -> (password, is staff).
USERS = {
    "ada": ("ada-example-pass-1", True),
    "bea": ("bea-example-pass-2", False),
    "cy": ("cy-example-pass-3", False),
}


class ExampleServer:
    """``manage.py runserver`` serving example_project on a port and database of its own."""

    def __init__(
        self,
        tmp_dir: Path,
        node_modules: Path | None = None,
        *,
        database: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_dir = tmp_dir
        self.node_modules = node_modules
        self.database = database or tmp_dir / "db.sqlite3"
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_dir / "runserver.log"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """Return the environment: the example's settings, the test's database."""
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["EXAMPLE_DATABASE"] = str(self.database)
        # Without it, the project's own node_modules (if any) would be served.
        env["EXAMPLE_NODE_MODULES"] = str(
            self.node_modules or self.tmp_dir / "no-node-modules"
        )
        env["PYTHONUNBUFFERED"] = "1"
        return {**env, **self.extra_env}

    def manage(self, *args: str) -> str:
        """Run the example's manage.py (bounded); return its output, failing on an error."""
        result = subprocess.run(
            [sys.executable, str(MANAGE), *args],
            cwd=REPO_ROOT,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def setup(self) -> None:
        """Migrate the database and create USERS."""
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User\n"
            f"for name, (password, staff) in {USERS!r}.items():\n"
            "    User.objects.create_user(name, password=password, is_staff=staff)",
        )

    def add_messages(self, room: str, texts: list[str], user: str = "ada") -> None:
        """Save messages straight into the database, as if posted while no page looked."""
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User\n"
            "from chat.models import Message\n"
            f"user = User.objects.get(username={user!r})\n"
            f"for text in {texts!r}:\n"
            f"    Message.objects.create(room={room!r}, user=user, text=text)",
        )

    def start(self) -> None:
        """Start runserver (without the autoreloader) and return once it answers."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(MANAGE),
                    "runserver",
                    "--noreload",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=REPO_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None:
                pytest.fail(f"runserver exited:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"runserver did not answer:\n{self.log()}")
            time.sleep(POLL_INTERVAL)

    def answers(self) -> bool:
        """Return whether the login page answers 200."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            connection.request("GET", "/accounts/login/")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        """SIGTERM the server (its sockets close with 1012); SIGKILL it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
            pytest.fail(f"runserver outlived SIGTERM:\n{self.log()}")

    def log(self) -> str:
        """Return what the server wrote so far."""
        return self.log_path.read_bytes().decode("utf-8", "replace")


@pytest.fixture
def start_example(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ExampleServer]]:
    """Return a factory of running example servers with USERS; stopped, and their logs clean, at the end."""
    started: list[ExampleServer] = []

    def start(
        node_modules: Path | None = None,
        *,
        database: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> ExampleServer:
        """Start a server; set its database up unless it shares one (``database``)."""
        server = ExampleServer(
            tmp_path_factory.mktemp("example"),
            node_modules,
            database=database,
            extra_env=extra_env,
        )
        if database is None:
            server.setup()
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        assert_clean(server.log())


@pytest.fixture(scope="module")
def example(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExampleServer]:
    """Return the example served for the module's tests (each uses rooms of its own); its log is clean at the end."""
    server = ExampleServer(tmp_path_factory.mktemp("example-shared"))
    server.setup()
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert_clean(server.log())


class Browser:
    """Chromium, with one browser context (one session) per logged-in user."""

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium
        #: Uncaught exceptions of the pages' scripts.
        self.errors: list[str] = []

    async def log_in(self, server: ExampleServer, user: str) -> Any:
        """Open a context of its own, log in as ``user`` with the login form; return its page."""
        context = await self.chromium.new_context()
        context.on("weberror", lambda error: self.errors.append(str(error.error)))
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{server.base}/")
        # Anonymous: / -> /chat/ -> the login page.
        await page.wait_for_url(f"{server.base}/accounts/login/?next=/chat/")
        await page.fill("input[name=username]", user)
        await page.fill("input[name=password]", USERS[user][0])
        await page.click("form.stacked button")
        await page.wait_for_url(f"{server.base}/chat/")
        return page


@contextlib.asynccontextmanager
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """Launch Chromium; close it on the way out, and fail if a page's script raised."""
    from playwright.async_api import async_playwright

    playwright = await asyncio.wait_for(async_playwright().start(), LAUNCH_TIMEOUT)
    try:
        instance = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT * 1000
        )
        try:
            pages = Browser(instance)
            yield pages
            assert pages.errors == []
        finally:
            await asyncio.wait_for(instance.close(), LAUNCH_TIMEOUT)
    finally:
        await asyncio.wait_for(playwright.stop(), LAUNCH_TIMEOUT)


async def open_room(page: Any, server: ExampleServer, room: str) -> None:
    """Go to a room's page and wait until its socket is open."""
    await page.goto(f"{server.base}/chat/{room}/")
    await page.wait_for_selector("#room[data-state=open]")


async def post(page: Any, text: str) -> None:
    """Type ``text`` into the composer and press Enter."""
    await page.fill("#composer input[name=text]", text)
    await page.press("#composer input[name=text]", "Enter")


async def texts(page: Any) -> list[str]:
    """Return the page's messages as "user: text", in order."""
    return list(
        await page.eval_on_selector_all(
            "#messages li.message",
            "items => items.map(li => li.querySelector('.user').textContent"
            " + ': ' + li.querySelector('.text').textContent)",
        )
    )


def artifact_path(tmp_path: Path, name: str) -> Path:
    """Return where to write artifact ``name``: WSVIEWS_TEST_ARTIFACTS, else tmp_path."""
    folder = Path(os.environ.get("WSVIEWS_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def test_two_pages_chat_and_another_room_hears_nothing(
    chromium: str,
    example: ExampleServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two pages of a room see each other's messages; a page of another room sees none."""
    server = example
    async with browser(chromium) as pages:
        ada = await pages.log_in(server, "ada")
        bea = await pages.log_in(server, "bea")
        cy = await pages.log_in(server, "cy")
        await open_room(ada, server, "alpha")
        await open_room(bea, server, "alpha")
        await open_room(cy, server, "beta")

        await post(ada, "Hello <b>bea</b>")
        await bea.wait_for_selector("#messages li.message:has-text('Hello <b>bea</b>')")
        await post(bea, "Hi ada!")
        # Both pages get the message from the server, in either order.
        for page in (ada, bea):
            await page.wait_for_selector("#messages li.message:has-text('Hi ada!')")
        expected = ["ada: Hello <b>bea</b>", "bea: Hi ada!"]
        assert await texts(ada) == expected
        assert await texts(bea) == expected
        # Sent back by the server, not echoed by the page: the input is cleared
        # once the call's reply came.
        assert await ada.input_value("#composer input[name=text]") == ""
        assert await ada.get_attribute("#messages li.message >> nth=0", "class") == (
            "message mine"
        )

        # Beta's socket gets beta's message; alpha's two came before it, had
        # they reached that socket.
        await post(cy, "Anyone in beta?")
        await cy.wait_for_selector("#messages li.message:has-text('Anyone in beta?')")
        assert await texts(cy) == ["cy: Anyone in beta?"]

        screenshot = artifact_path(tmp_path, "example-chat-room.png")
        await bea.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 0
    with capsys.disabled():
        print(f"\nScreenshot of the example's chat room: {screenshot}")


async def test_online_line_lists_each_user_once(
    chromium: str, example: ExampleServer
) -> None:
    """The room's "Online" line names each user once, however many tabs, until they leave."""
    async with browser(chromium) as pages:
        ada = await pages.log_in(example, "ada")
        bea = await pages.log_in(example, "bea")
        await open_room(ada, example, "alpha")
        await ada.wait_for_selector("#online:text-is('ada')")
        await open_room(bea, example, "alpha")
        second_tab = await bea.context.new_page()
        await open_room(second_tab, example, "alpha")
        for page in (ada, bea, second_tab):
            await page.wait_for_selector("#online:text-is('ada, bea')")
        await second_tab.close()
        await bea.goto(f"{example.base}/chat/")  # bea's last tab leaves the room
        await ada.wait_for_selector("#online:text-is('ada')")


async def test_typing_shows_on_the_other_page(
    chromium: str, example: ExampleServer
) -> None:
    """While ada types, bea's page says so, and ada's own page does not."""
    server = example
    async with browser(chromium) as pages:
        ada = await pages.log_in(server, "ada")
        bea = await pages.log_in(server, "bea")
        await open_room(ada, server, "typing")
        await open_room(bea, server, "typing")

        await ada.type("#composer input[name=text]", "Hel")
        await bea.wait_for_selector("#typing:has-text('ada is typing…')")
        # The message ends it on bea's page, at once.
        await ada.press("#composer input[name=text]", "Enter")
        await bea.wait_for_selector("#messages li.message:has-text('Hel')")
        assert await bea.text_content("#typing") == ""
        # ada's own "typing" never came back to her page.
        await ada.wait_for_selector("#messages li.message:has-text('Hel')")
        assert await ada.text_content("#typing") == ""


async def test_staff_announcement_reaches_every_room(
    chromium: str, example: ExampleServer
) -> None:
    """The lobby's form (a normal Django view) reaches pages in two rooms."""
    server = example
    async with browser(chromium) as pages:
        ada = await pages.log_in(server, "ada")
        bea = await pages.log_in(server, "bea")
        cy = await pages.log_in(server, "cy")
        await open_room(bea, server, "north")
        await open_room(cy, server, "south")

        # ada is staff: the lobby has the form.
        await ada.fill("#id_text", "Tea at five")
        await ada.click("section.announce button")
        await ada.wait_for_selector(
            "ul.notices li:has-text('Announced in every room.')"
        )
        for page in (bea, cy):
            item = await page.wait_for_selector("#messages li.announcement")
            assert await item.text_content() == "ada announces:Tea at five"

        # bea is not: no form, and the view refuses her.
        await bea.goto(f"{server.base}/chat/")
        assert await bea.query_selector("section.announce form") is None


async def test_room_shows_its_last_50_messages(
    chromium: str, example: ExampleServer
) -> None:
    """A room with 60 messages shows the last 50, oldest first, when it loads."""
    server = example
    server.add_messages("gamma", [f"message {n}" for n in range(60)])
    async with browser(chromium) as pages:
        bea = await pages.log_in(server, "bea")
        await open_room(bea, server, "gamma")
        assert await texts(bea) == [f"ada: message {n}" for n in range(10, 60)]

        await post(bea, "the 61st")
        await bea.wait_for_selector("#messages li.message:has-text('the 61st')")
        await bea.reload()
        await bea.wait_for_selector("#room[data-state=open]")
        shown = await texts(bea)
        assert len(shown) == 50
        assert shown[0] == "ada: message 11"
        assert shown[-1] == "bea: the 61st"


async def test_page_reconnects_after_the_server_restarts(
    chromium: str, start_example: Callable[..., ExampleServer]
) -> None:
    """Stopped and started again on its port, the server gets the page back: what was said meanwhile shows, and posting works."""
    server = start_example()
    async with browser(chromium) as pages:
        bea = await pages.log_in(server, "bea")
        await open_room(bea, server, "alpha")
        await post(bea, "before")
        await bea.wait_for_selector("#messages li.message:has-text('before')")

        # Saved with no broadcast: no replay can bring it, so the page gets
        # it by reloading on the reset (the in-memory history went with the
        # server).
        server.add_messages("alpha", ["said while bea was away"])
        server.stop()
        await bea.wait_for_selector("#room[data-state=reconnecting]")
        server.start()

        await bea.wait_for_selector("#room[data-state=open]", timeout=RECONNECT_MS)
        # The page reloaded and rendered it from the database.
        await bea.wait_for_selector(
            "#messages li.message:has-text('said while bea was away')"
        )
        await post(bea, "after")
        await bea.wait_for_selector("#messages li.message:has-text('after')")
        assert await texts(bea) == [
            "bea: before",
            "ada: said while bea was away",
            "bea: after",
        ]


async def test_logging_out_stops_the_page(
    chromium: str, example: ExampleServer
) -> None:
    """Logging out in another tab closes the room's socket with 4401; the page stops and says so."""
    server = example
    async with browser(chromium) as pages:
        bea = await pages.log_in(server, "bea")
        await open_room(bea, server, "exit")
        lobby = await bea.context.new_page()
        await lobby.goto(f"{server.base}/chat/")
        await lobby.click("header.site button")  # Log out
        await lobby.wait_for_url(f"{server.base}/accounts/login/")
        await bea.wait_for_selector("#room[data-state=closed]")
        assert "logged out" in (await bea.text_content("#status") or "")


async def test_htmx_page_shares_the_room(
    chromium: str, htmx_dir: Path, start_example: Callable[..., ExampleServer]
) -> None:
    """A message from the htmx page shows on the JavaScript page, and the other way round."""
    server = start_example(htmx_dir / "node_modules")
    async with browser(chromium) as pages:
        ada = await pages.log_in(server, "ada")
        bea = await pages.log_in(server, "bea")
        await open_room(ada, server, "alpha")
        await bea.goto(f"{server.base}/chat/alpha/htmx/")
        # The page's hx-on::ws-open marks the room once htmx's socket is open.
        await bea.wait_for_selector("#room[data-state=open]")

        await post(bea, "from htmx")
        await ada.wait_for_selector("#messages li.message:has-text('from htmx')")
        # bea's form came back empty, and her message swapped into her list.
        await bea.wait_for_selector("#messages li.message:has-text('from htmx')")
        await bea.wait_for_function(
            "() => document.querySelector('#composer input[name=text]').value === ''"
        )

        await post(ada, "from the JavaScript page")
        await bea.wait_for_selector(
            "#messages li.message:has-text('from the JavaScript page')"
        )
        assert await texts(bea) == ["bea: from htmx", "ada: from the JavaScript page"]


@pytest.fixture
def redis_url() -> str:
    """Return the URL of the Redis server the tests may use, or skip (fail) without one."""
    import redis

    url = services.redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        test_browser.unavailable(
            f"No Redis server at {url} ({exc}); set WSVIEWS_TEST_REDIS_URL"
        )
    return url


async def test_two_processes_share_rooms_through_redis(
    chromium: str, redis_url: str, start_example: Callable[..., ExampleServer]
) -> None:
    """settings_redis: two runservers, one database; a room's pages on each hear each other, and the staff's announcement."""
    redis_env = {
        "DJANGO_SETTINGS_MODULE": "example_project.settings_redis",
        "REDIS_URL": redis_url,
    }
    first = start_example(extra_env=redis_env)
    second = start_example(database=first.database, extra_env=redis_env)
    # A room of its own: other runs may share this Redis.
    room = f"redis-{uuid.uuid4().hex[:12]}"
    async with browser(chromium) as pages:
        ada = await pages.log_in(first, "ada")
        bea = await pages.log_in(second, "bea")
        await open_room(ada, first, room)
        await open_room(bea, second, room)

        await post(ada, "from the first process")
        await bea.wait_for_selector(
            "#messages li.message:has-text('from the first process')"
        )
        await post(bea, "from the second")
        await ada.wait_for_selector("#messages li.message:has-text('from the second')")

        staff = await pages.log_in(second, "ada")
        await staff.fill("#id_text", f"Hello both ({room})")
        await staff.click("section.announce button")
        await ada.wait_for_selector(f"#messages li.announcement:has-text('{room}')")
