"""
Running the test project under a real ASGI server, and talking to it.

:class:`Server` starts uvicorn, hypercorn, daphne or granian as a subprocess on a
free loopback port, with its output captured to a file the tests read.
Every wait is bounded: handshakes and receives by ``TIMEOUT``, start-up by
``STARTUP_TIMEOUT``, shutdown by ``STOP_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

REPO_ROOT = Path(__file__).resolve().parents[2]
APPLICATION = "tests.e2e.project.asgi:application"
SETTINGS_MODULE = "tests.e2e.project.settings"

SERVERS = ("uvicorn", "hypercorn", "daphne", "granian")

#: granian is a compiled (Rust) server: where no wheel installs, its tests
#: are skipped, saying so, rather than failing.
GRANIAN_MISSING = importlib.util.find_spec("granian") is None
#: ``SERVERS`` as pytest parameters, with the skip for a missing server.
SERVER_PARAMS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            name == "granian" and GRANIAN_MISSING,
            reason="granian is not installed (pip install granian: no wheel here?)",
        ),
    )
    for name in SERVERS
]

#: Seconds for a handshake, a receive, a close handshake, an HTTP request.
TIMEOUT = 5.0
#: Seconds a server has to come up, and to exit after SIGTERM.
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
#: Interval of the start-up poll.
POLL_INTERVAL = 0.05

#: Log text that means an exception escaped the application or the server.
UNHANDLED_MARKERS = (
    "Traceback",
    "Exception in ASGI application",  # uvicorn
    "Error in ASGI Framework",  # hypercorn
    "Exception inside application",  # daphne
    "Application callable raised an exception",  # granian
    "E2E-ESCAPED",  # tests/e2e/project/asgi.py
)

_ERROR_LINE = re.compile(r"(^|\W)(ERROR|CRITICAL)(\W|$)")


def free_port() -> int:
    """Return a loopback port that was free a moment ago (bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(name: str, port: int, *extra: str) -> list[str]:
    """Return the command line that serves the test project with server ``name``."""
    python = sys.executable
    if name == "uvicorn":
        args = [
            "-m",
            "uvicorn",
            APPLICATION,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    elif name == "hypercorn":
        args = ["-m", "hypercorn", "--bind", f"127.0.0.1:{port}", APPLICATION]
    elif name == "daphne":
        args = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), APPLICATION]
    elif name == "granian":
        # Its default interface is its own (RSGI): ASGI has to be asked for.
        args = ["-m", "granian", "--interface", "asgi"]
        args += ["--host", "127.0.0.1", "--port", str(port), APPLICATION]
    else:  # pragma: no cover
        raise ValueError(name)
    return [python, *args, *extra]


class Server:
    """One ASGI server subprocess serving the test project."""

    def __init__(
        self,
        name: str,
        tmp_dir: Path,
        *extra_args: str,
        settings: str = SETTINGS_MODULE,
    ) -> None:
        self.name = name
        self.settings = settings
        self.tmp_dir = tmp_dir
        self.extra_args = extra_args
        self.port = free_port()
        self.log_path = tmp_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: Tracebacks the tests provoked on purpose; the log is checked at exit.
        self.expected_tracebacks = 0

    def __repr__(self) -> str:
        return f"<Server {self.name} on port {self.port}>"

    # Life -------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Return the environment the server (and :meth:`manage`) runs with."""
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "DJANGO_SETTINGS_MODULE": self.settings,
            "PYTHONUNBUFFERED": "1",
            "E2E_TMP_DIR": str(self.tmp_dir),
        }

    def manage(self, *args: str) -> str:
        """Run ``django-admin`` with the server's settings (bounded); return its output."""
        result = subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=REPO_ROOT,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        assert result.returncode == 0, output
        return output

    def start(self) -> None:
        """Start the server and return once it answers HTTP; fail with its log if not."""
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                server_command(self.name, self.port, *self.extra_args),
                cwd=REPO_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_up()
        except BaseException:
            self.kill()
            raise

    def _wait_until_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode} at start-up:\n{self.log()}"
                )
            try:
                status, _, _ = self.http_get("/hello/", timeout=1.0)
            except OSError:
                pass
            else:
                if status == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} did not answer within {STARTUP_TIMEOUT}s:\n{self.log()}"
                )
            time.sleep(POLL_INTERVAL)

    def terminate(self) -> None:
        """Send SIGTERM to the server's process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit and return its status; kill it and fail if it does not."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not exit within {timeout}s of SIGTERM:\n{self.log()}"
            ) from None

    def stop(self) -> int:
        """SIGTERM the server, wait (bounded) for it to exit, and return its status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.terminate()
        try:
            return self.wait()
        finally:
            self._end_group()

    def stop_or_kill(self) -> None:
        """SIGTERM the server if it still runs; SIGKILL it if it outlives STOP_TIMEOUT."""
        assert self.process is not None
        if self.process.poll() is None:
            self.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the server's process group (its session, started for it alone)."""
        assert self.process is not None
        self._end_group()
        if self.process.poll() is None:
            self.process.wait(STOP_TIMEOUT)

    def _end_group(self) -> None:
        """
        SIGKILL whatever is left in the server's process group.

        A server's main process can exit before its workers (granian's
        SIGTERM race, see docs/servers.rst): a worker left behind would keep
        its port and outlive the test run.
        """
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    # Log --------------------------------------------------------------------

    def log(self) -> str:
        """Return everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def mark(self) -> int:
        """Return the current end of the log, for :meth:`log_since`."""
        return self.log_path.stat().st_size

    def log_since(self, mark: int) -> str:
        """Return what the server logged after :meth:`mark` returned ``mark``."""
        with open(self.log_path, "rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", "replace")

    # Clients ----------------------------------------------------------------

    def ws_url(self, path: str) -> str:
        """Return the ``ws://`` URL of ``path`` (which may carry a query string)."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = TIMEOUT
    ) -> tuple[int, dict[str, str], bytes]:
        """GET ``path`` over plain HTTP; return status, headers (lower-cased) and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return (
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                body,
            )
        finally:
            conn.close()


def ws_connect(server: Server, path: str, **kwargs: Any) -> Any:
    """``websockets`` ``connect()`` to ``path`` on ``server``, with bounded handshakes."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", TIMEOUT)
    return connect(server.ws_url(path), **kwargs)


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> str | bytes:
    """Receive one message, failing the test after ``timeout`` seconds."""
    # asyncio.wait_for rather than asyncio.timeout: Python 3.10 is supported.
    return await asyncio.wait_for(ws.recv(), timeout)


async def server_close(
    ws: ClientConnection, timeout: float = TIMEOUT
) -> ConnectionClosed:
    """Wait for the server to end the connection; return the exception the client got."""
    try:
        message = await recv(ws, timeout)
    except ConnectionClosed as exc:
        return exc
    raise AssertionError(f"expected the server to close, got a message: {message!r}")


async def drain(server: Server) -> None:
    """
    Wait until the server has finished every ASGI call opened so far.

    ``/e2e/drain/`` (tests/e2e/project/asgi.py) answers once no other
    connection or request is running in the application, so what those calls
    logged, and what the server logged when they ended, is in the log file.
    The drain's own log line, written before the answer, must be there too:
    no test can pass on an empty log.
    """
    mark = server.mark()
    async with ws_connect(server, "/e2e/drain/") as ws:
        answer = await recv(ws)
    assert answer == "drained", f"{server.name}: {answer!r}"
    assert "INFO e2e e2e drained" in server.log_since(mark), server.log()


def unhandled(log: str) -> list[str]:
    """Return the markers of an unhandled exception found in ``log``."""
    return [marker for marker in UNHANDLED_MARKERS if marker in log]


def error_lines(log: str) -> list[str]:
    """Return the lines of ``log`` logged at ERROR or CRITICAL level."""
    return [line for line in log.splitlines() if _ERROR_LINE.search(line)]


def assert_clean(log: str) -> None:
    """Assert ``log`` shows no unhandled exception and nothing logged at ERROR or above."""
    assert unhandled(log) == [], log
    assert error_lines(log) == [], log


def by_server(server: Server, **values: Any) -> Any:
    """Return the value given for ``server``'s name (``uvicorn=..., hypercorn=..., daphne=..., granian=...``)."""
    assert set(values) == set(SERVERS), values
    return values[server.name]
