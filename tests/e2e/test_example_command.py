"""
The README's first command serves the example chat, with runserver.

The command is read from README.md (its first shell block): it makes
``.venv``, installs the package, then migrates and runs the example's
``manage.py runserver``. The tests run what follows the install, as
written, with ``.venv`` as it is, on a spare port and a database of their
own.

The server's message limit must equal the library's: a compressed message
that inflates past ``WSVIEWS_MAX_MESSAGE_SIZE`` must be refused by the
server while it inflates, not inflated in full and then refused by the
library (with uvicorn's default of 16 MiB, ten 15 MiB messages of ~15 KB
each on the wire cost the process some 170 MiB).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
)

README = REPO_ROOT / "README.md"
MANAGE = REPO_ROOT / "example_project" / "manage.py"


def readme_command() -> str:
    """Return the README's first shell command: making the venv, installing, serving."""
    blocks = re.findall(r"^```shell\n(.*?)\n```$", README.read_text(), re.M | re.S)
    assert blocks, "README.md has no ```shell block"
    return str(blocks[0])


def serve_part(command: str) -> str:
    """Return what follows ``python3 -m venv .venv && ... pip install ...`` in ``command``."""
    steps = command.split(" && ")
    assert steps[0] == "python3 -m venv .venv", command
    assert steps[1].startswith(".venv/bin/pip install -e "), command
    return " && ".join(steps[2:])


def test_readme_command_is_one_line_ending_in_runserver() -> None:
    """One line a newcomer pastes: venv, install, migrate, runserver."""
    command = readme_command()
    assert "\n" not in command
    serve = serve_part(command)
    assert serve.endswith("example_project/manage.py runserver"), serve
    assert "example_project/manage.py migrate" in serve, serve


@dataclass
class Example:
    """The example as the README's command serves it."""

    port: int
    log: Path
    env: dict[str, str]

    def http(self, path: str) -> http.client.HTTPResponse:
        """GET ``path``; return the response, its body read."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response
        finally:
            connection.close()

    def session_cookie(self, username: str) -> str:
        """Create a user, log it in; return the ``Cookie`` header of its session."""
        result = subprocess.run(
            [
                sys.executable,
                str(MANAGE),
                "shell",
                "-c",
                "from django.contrib.auth.models import User\n"
                "from django.test import Client\n"
                "client = Client()\n"
                f"client.force_login(User.objects.create_user({username!r}))\n"
                "print('sessionid=' + client.cookies['sessionid'].value)",
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Example]:
    """Run the README's command (less the install) on a spare port; stop it after."""
    if not (REPO_ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("the README's command needs .venv (made by its install part)")
    port = free_port()
    log = tmp_path / "example.log"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    env["EXAMPLE_DATABASE"] = str(tmp_path / "db.sqlite3")
    command = f"{serve_part(readme_command())} 127.0.0.1:{port}"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the README's command exited:\n{log.read_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the README's command did not listen:\n{log.read_text()}")
            time.sleep(POLL_INTERVAL)
        yield Example(port, log, env)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)


async def test_readme_command_serves_the_chat(example: Example) -> None:
    """Pages, static files (the JavaScript client among them) and sockets, from one runserver."""
    home = example.http("/")
    assert (home.status, home.headers["Location"]) == (302, "/chat/")
    lobby = example.http("/chat/")
    assert (lobby.status, lobby.headers["Location"]) == (
        302,
        "/accounts/login/?next=/chat/",
    )
    assert example.http("/accounts/login/").status == 200
    for path in ["/static/django_wsviews/wsviews.js", "/static/chat/room.js"]:
        script = example.http(path)
        assert script.status == 200, path
        assert "javascript" in script.headers["Content-Type"], path

    # Anonymous: accepted, then closed with 4401 ("log in"), which the
    # JavaScript client does not retry.
    async with connect(
        f"ws://127.0.0.1:{example.port}/ws/chat/lobby/",
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401

    cookie = example.session_cookie("ada")
    async with connect(
        f"ws://127.0.0.1:{example.port}/ws/chat/lobby/",
        additional_headers={"Cookie": cookie},
        subprotocols=["wsviews.v1"],
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        await ws.send('{"action": "post", "id": 1, "payload": {"text": "hi"}}')
        # The room's online list comes first (presence), then the reply.
        reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        while reply.get("event", "").startswith("wsviews.presence_"):
            reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert reply.get("id") == 1, reply
    assert reply.get("ok") is True, reply


async def read_until_closed(ws: ClientConnection) -> None:
    """Read messages (the room's online list may come first) until the server closes."""
    while True:
        await asyncio.wait_for(ws.recv(), TIMEOUT)


async def test_compression_bomb_is_refused_by_the_server(example: Example) -> None:
    """15 MiB that compress to kilobytes get 1009 from the server, never reaching the view."""
    cookie = example.session_cookie("bomber")
    async with connect(
        f"ws://127.0.0.1:{example.port}/ws/chat/lobby/",
        additional_headers={"Cookie": cookie},
        max_size=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        assert ws.protocol.extensions, "the client negotiated no compression"
        await ws.send("a" * (15 * 2**20))
        with pytest.raises(ConnectionClosed) as closed:
            await read_until_closed(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    # The library's own refusal logs this line; the server's leaves no trace.
    assert "Message over" not in example.log.read_text()
