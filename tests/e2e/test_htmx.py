"""
End-to-end: htmx's ws extension in a real browser, against real servers.

htmx 2 and htmx-ext-ws 2 are installed from npm into a temporary folder once
per test session (nothing of htmx is in the repository) and served to the
page by the test project (``E2E_HTMX_DIR``). Two Chromium pages (the
system's, driven by Playwright) open the page of docs/htmx.rst: a form with
``ws-send`` submitted on one page shows, by an out-of-band swap, on the
other; the page's own socket reconnects after the server closes it with
1012, as after a restart.

Skipped when npm, the npm registry, Chromium or Playwright is missing, unless
``WSVIEWS_REQUIRE_SERVICES=1``, where that fails the tests instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import test_browser
from .helpers import SERVER_PARAMS, TIMEOUT, Server, assert_clean
from .test_browser import CHROMIUM_ARGS, LAUNCH_TIMEOUT, unavailable

#: The fixture giving the system's Chromium, found as test_browser finds it.
chromium = test_browser.chromium

#: What the page loads, from the packages as npm installs them.
HTMX_FILES = ("htmx.org/dist/htmx.min.js", "htmx-ext-ws/dist/ws.js")

#: Seconds for npm to install the two packages.
NPM_TIMEOUT = 180.0

#: Milliseconds Playwright waits for what a page should show.
WAIT_MS = TIMEOUT * 1000

#: Milliseconds for htmx to reconnect: its first retry waits up to a second.
RECONNECT_MS = 3 * WAIT_MS


@pytest.fixture(scope="session")
def htmx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install htmx 2 and htmx-ext-ws 2 from npm into a temporary folder, once."""
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed (apt-get install npm)")
    assert npm is not None
    folder = tmp_path_factory.mktemp("htmx-npm")
    command = [
        npm,
        "install",
        "--prefix",
        str(folder),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "htmx.org@2",
        "htmx-ext-ws@2",
    ]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable(f"npm install did not finish within {NPM_TIMEOUT:.0f} s")
    if result.returncode != 0:
        unavailable(f"npm install failed (is the registry reachable?): {result.stderr}")
    missing = [
        name for name in HTMX_FILES if not (folder / "node_modules" / name).is_file()
    ]
    assert missing == [], f"npm installed no {missing}: {result.stdout}"
    return folder


class HtmxServer(Server):
    """The test project, serving htmx from the npm folder."""

    def __init__(self, name: str, tmp_dir: Path, htmx_dir: Path) -> None:
        super().__init__(name, tmp_dir)
        self.htmx_dir = htmx_dir

    def env(self) -> dict[str, str]:
        """Return the server's environment, with E2E_HTMX_DIR."""
        return {**super().env(), "E2E_HTMX_DIR": str(self.htmx_dir)}


@pytest.fixture(scope="module", params=SERVER_PARAMS)
def htmx_server(
    request: pytest.FixtureRequest,
    chromium: str,
    htmx_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """Return a server of each kind for the module; its log is clean at the end."""
    server = HtmxServer(request.param, tmp_path_factory.mktemp("htmx"), htmx_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop_or_kill()
    assert_clean(server.log())


@contextlib.asynccontextmanager
async def pages(chromium: str, server: Server, count: int) -> AsyncIterator[list[Any]]:
    """Open the chat page in ``count`` tabs, each once its socket is connected."""
    from playwright.async_api import async_playwright

    playwright = await asyncio.wait_for(async_playwright().start(), LAUNCH_TIMEOUT)
    try:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            timeout=LAUNCH_TIMEOUT * 1000,
        )
        try:
            opened = []
            for _ in range(count):
                page = await browser.new_page()
                page.set_default_timeout(WAIT_MS)
                await page.goto(f"http://127.0.0.1:{server.port}/htmx/chat/")
                # connect() swaps #status in: htmx and the socket are up.
                await page.wait_for_selector("#status[data-connection]")
                opened.append(page)
            yield opened
        finally:
            await asyncio.wait_for(browser.close(), LAUNCH_TIMEOUT)
    finally:
        await asyncio.wait_for(playwright.stop(), LAUNCH_TIMEOUT)


async def send(page: Any, text: str) -> None:
    """Type ``text`` into the page's ws-send form and submit it."""
    await page.fill("#chat-form input[name=text]", text)
    await page.click("#chat-form button")


async def messages(page: Any) -> list[dict[str, str | None]]:
    """Return the items of the page's #messages: text, data-trigger, data-url."""
    return list(
        await page.eval_on_selector_all(
            "#messages li",
            """items => items.map(li => ({
                text: li.textContent,
                trigger: li.dataset.trigger,
                url: li.dataset.url,
            }))""",
        )
    )


async def test_form_on_one_page_swaps_into_another(
    chromium: str, htmx_server: Server
) -> None:
    """A's ws-send form reaches the view; the broadcast HTML is swapped into B (and A) by id."""
    async with pages(chromium, htmx_server, 2) as (a, b):
        await send(a, "hello <from> A")
        await b.wait_for_selector("#messages li")
        await a.wait_for_selector("#messages li")
        expected = {
            "text": "hello <from> A",  # escaped by the template, shown as typed
            "trigger": "chat-form",  # HX-Trigger, read from HEADERS
            "url": a.url,  # HX-Current-URL
        }
        assert await messages(b) == [expected]
        assert await messages(a) == [expected]


async def test_invalid_form_answers_its_sender_only(
    chromium: str, htmx_server: Server
) -> None:
    """A's invalid form gets its errors swapped into A alone; B's next swap is A's valid message."""
    async with pages(chromium, htmx_server, 2) as (a, b):
        await send(a, "")
        await a.wait_for_selector("#errors:has-text('This field is required.')")
        await send(a, "second try")
        # In order on B's socket: had the errors been broadcast, B had them first.
        await b.wait_for_selector("#messages li")
        assert await b.text_content("#errors") == ""
        assert [item["text"] for item in await messages(b)] == ["second try"]


async def test_socket_reconnects_after_a_restart_close(
    chromium: str, htmx_server: Server
) -> None:
    """Closed with 1012 (4012 on daphne, retried by the page's listener), htmx reconnects."""
    async with pages(chromium, htmx_server, 2) as (a, b):
        before = await a.get_attribute("#status", "data-connection")
        await a.click("#restart")
        await a.wait_for_function(
            f"""() => {{
                const status = document.querySelector("#status[data-connection]");
                return status !== null && status.dataset.connection !== "{before}";
            }}""",
            timeout=RECONNECT_MS,
        )
        # The new socket is in the group again: B's message reaches it.
        await send(b, "after the restart")
        await a.wait_for_selector("#messages li")
        assert [item["text"] for item in await messages(a)] == ["after the restart"]
