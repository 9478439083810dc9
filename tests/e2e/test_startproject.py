"""
A project made by ``django-admin startproject``, with only the import line of
``asgi.py`` changed, serves WebSockets under every server.

``startproject``'s ``asgi.py`` imports before it sets
``DJANGO_SETTINGS_MODULE``; the entry point must import before settings are
configured, as ``django.core.asgi`` does.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import (
    POLL_INTERVAL,
    REPO_ROOT,
    SERVER_PARAMS,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    free_port,
    recv,
)

DJANGO_IMPORT = "from django.core.asgi import get_asgi_application"
WSVIEWS_IMPORT = "from django_wsviews.asgi import get_asgi_application"

WS_MODULE = """\
from django.urls import path

from django_wsviews import WebSocketView


class EchoView(WebSocketView):
    async def receive(self, message):
        await self.send(message)


ws_urlpatterns = [path("ws/echo/", EchoView.as_view())]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the folder of a fresh ``startproject mysite`` wired for WebSockets."""
    root = tmp_path_factory.mktemp("startproject")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)],
        check=True,
        capture_output=True,
        timeout=STARTUP_TIMEOUT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    asgi = root / "mysite" / "asgi.py"
    generated = asgi.read_text()
    assert DJANGO_IMPORT in generated
    asgi.write_text(generated.replace(DJANGO_IMPORT, WSVIEWS_IMPORT))
    changed = [
        line
        for line in difflib.unified_diff(
            generated.splitlines(), asgi.read_text().splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == [f"-{DJANGO_IMPORT}", f"+{WSVIEWS_IMPORT}"]

    settings = root / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text().replace(
            "INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "django_wsviews",'
        )
    )
    (root / "mysite" / "ws.py").write_text(WS_MODULE)
    urls = root / "mysite" / "urls.py"
    urls.write_text(urls.read_text() + "\nfrom mysite.ws import ws_urlpatterns\n")
    return root


def _command(name: str, port: int) -> list[str]:
    app = "mysite.asgi:application"
    if name == "uvicorn":
        args = ["-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    elif name == "hypercorn":
        args = ["-m", "hypercorn", "--bind", f"127.0.0.1:{port}", app]
    elif name == "granian":
        args = ["-m", "granian", "--interface", "asgi", "--port", str(port), app]
    else:
        args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    return [sys.executable, *args]


@pytest.fixture(params=SERVER_PARAMS)
def served(request: pytest.FixtureRequest, project: Path) -> Iterator[int]:
    """Serve the project with each server, no DJANGO_SETTINGS_MODULE set; return the port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(project), str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    log = project / f"{request.param}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            _command(request.param, port),
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(process, port, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    import socket

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited at start-up:\n{log.read_text()}")
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not listen within {STARTUP_TIMEOUT}s")
        time.sleep(POLL_INTERVAL)


async def test_startproject_asgi_serves_websockets(served: int) -> None:
    """The generated asgi.py with only its import changed starts and echoes."""
    from websockets.asyncio.client import connect

    async with connect(
        f"ws://127.0.0.1:{served}/ws/echo/", open_timeout=5, close_timeout=5
    ) as ws:
        await ws.send("hello")
        assert await recv(ws) == "hello"
