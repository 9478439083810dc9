"""
End-to-end: token authentication from a real browser.

Chromium (the system's, driven by Playwright; never a browser Playwright
downloads) logs in to the test project served by uvicorn, fetches a token as
docs/security.rst shows, and opens sockets from a page with
``new WebSocket(url, ["bearer." + token])``. A browser fails a handshake
whose 101 does not answer one of the subprotocols it offered (RFC 6455 4.1),
which no Python client checks: only a browser proves the answer right.

Skipped when Chromium or Playwright is missing, unless
``WSVIEWS_REQUIRE_SERVICES=1``, where that fails the tests instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.support.services import services_required

from .helpers import TIMEOUT, Server, drain, unhandled

USERNAME, PASSWORD = "bea", "correct-horse-battery"

#: Seconds to start Playwright's driver and launch or close the browser.
LAUNCH_TIMEOUT = 30.0

#: Headless, and nothing that reaches for the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} (WSVIEWS_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


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


@pytest.fixture(scope="module")
def token_server(
    chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Return uvicorn serving the test project, with a user to log in as."""
    server = Server("uvicorn", tmp_path_factory.mktemp("uvicorn-browser"))
    server.manage("migrate", "--no-input", "-v", "0")
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop_or_kill()
    assert unhandled(server.log()) == [], server.log()


@contextlib.asynccontextmanager
async def token_page(
    chromium: str, server: Server
) -> AsyncIterator[tuple[Any, list[str]]]:
    """
    Log in with Chromium, then open the page whose script opens the sockets.

    Yield the page and the list its console messages go to (Chromium says
    there why it failed a handshake).
    """
    from playwright.async_api import async_playwright

    base = f"http://127.0.0.1:{server.port}"
    playwright = await asyncio.wait_for(async_playwright().start(), LAUNCH_TIMEOUT)
    try:
        browser = await playwright.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            timeout=LAUNCH_TIMEOUT * 1000,
        )
        try:
            page = await browser.new_page()
            page.set_default_timeout(TIMEOUT * 1000)
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            await page.goto(f"{base}/login/")
            await page.fill("input[name=username]", USERNAME)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button")
            await page.wait_for_url(f"{base}/hello/")
            await page.goto(f"{base}/token-page/")
            yield page, console
        finally:
            await asyncio.wait_for(browser.close(), LAUNCH_TIMEOUT)
    finally:
        await asyncio.wait_for(playwright.stop(), LAUNCH_TIMEOUT)


async def run(page: Any, script: str) -> Any:
    """Evaluate ``script`` (an async arrow function) in the page, bounded by TIMEOUT."""
    # The page's report() gives up after TIMEOUT itself; this bounds the rest.
    return await asyncio.wait_for(page.evaluate(script), 2 * TIMEOUT)


#: report()'s own bound, in milliseconds.
REPORT_MS = int(TIMEOUT * 1000)


async def test_docs_snippet_opens_and_echoes(
    chromium: str, token_server: Server
) -> None:
    """The docs' new WebSocket(url, ["bearer." + token]) opens, and echoes."""
    async with token_page(chromium, token_server) as (page, console):
        result = await run(
            page,
            f"""async () => {{
                const token = await socketToken();
                return {{token, ...await report(openTokenSocket(token), {REPORT_MS})}};
            }}""",
        )
    token = result.pop("token")
    assert result == {
        "opened": True,
        "protocol": f"bearer.{token}",
        "echo": "hello",
        "code": 1000,
    }, console
    await drain(token_server)
    assert token not in token_server.log()


async def test_views_protocol_beside_the_token(
    chromium: str, token_server: Server
) -> None:
    """Offered beside the token, the view's own protocol is the one accepted."""
    async with token_page(chromium, token_server) as (page, console):
        result = await run(
            page,
            f"""async () => {{
                const token = await socketToken();
                const socket = new WebSocket(url, ["echo.v1", "bearer." + token]);
                return await report(socket, {REPORT_MS});
            }}""",
        )
    assert result == {
        "opened": True,
        "protocol": "echo.v1",
        "echo": "hello",
        "code": 1000,
    }, console


async def test_handshake_without_a_valid_token_is_refused(
    chromium: str, token_server: Server
) -> None:
    """Without a token, or with a forged one, the handshake fails (the session does not count)."""
    async with token_page(chromium, token_server) as (page, console):
        mark = token_server.mark()
        results = await run(
            page,
            f"""async () => [
                await report(new WebSocket(url), {REPORT_MS}),
                await report(new WebSocket(url, ["bearer.forged"]), {REPORT_MS}),
            ]""",
        )
    refused = {"opened": False, "protocol": None, "echo": None, "code": 1006}
    assert results == [refused, refused], console
    await drain(token_server)
    assert token_server.log_since(mark).count('/ws/token-echo/" 403') == 2, (
        token_server.log()
    )
