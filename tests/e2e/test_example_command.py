"""
The README's example command serves with the server's message limit equal to the library's.

A compressed message that inflates past ``WSVIEWS_MAX_MESSAGE_SIZE`` must be
refused by the server while it inflates, not inflated in full and then
refused by the library: with uvicorn's default (16 MiB), ten 15 MiB messages
of ~15 KB each on the wire cost the process some 170 MiB.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .helpers import (
    POLL_INTERVAL,
    REPO_ROOT,
    STARTUP_TIMEOUT,
    STOP_TIMEOUT,
    TIMEOUT,
    free_port,
)

SCRIPT = REPO_ROOT / "scripts" / "run-example"


@pytest.fixture
def example(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Run scripts/run-example on a spare port; return the port and its log file."""
    if not (REPO_ROOT / ".venv" / "bin" / "uvicorn").exists():
        pytest.skip(
            "scripts/run-example needs .venv with uvicorn (the README's commands)"
        )
    port = free_port()
    log = tmp_path / "example.log"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(SCRIPT), "--host", "127.0.0.1", "--port", str(port)],
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
                pytest.fail(f"run-example exited:\n{log.read_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"run-example did not listen:\n{log.read_text()}")
            time.sleep(POLL_INTERVAL)
        yield port, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)


async def test_compression_bomb_is_refused_by_the_server(
    example: tuple[int, Path],
) -> None:
    """15 MiB that compress to kilobytes get 1009 from the server, never reaching the view."""
    port, log = example
    async with connect(
        f"ws://127.0.0.1:{port}/ws/echo/",
        max_size=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        assert ws.protocol.extensions, "the client negotiated no compression"
        await ws.send("a" * (15 * 2**20))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    # The library's own refusal logs this line; the server's leaves no trace.
    assert "Message over" not in log.read_text()
