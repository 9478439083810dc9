"""Helpers for the group tests: a recording backend, a client that stops reading, services."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, ClassVar

import pytest

from django_wsviews.backends.memory import MemoryBackend
from django_wsviews.testing import (
    WebSocketClient,
    WebSocketTestConnection,
    _Connecting,
)

from .services import services_required


class RecordingBackend(MemoryBackend):
    """The in-memory backend, recording every call in ``calls``."""

    option_names = frozenset({"TAG"})
    calls: ClassVar[list[tuple[Any, ...]]] = []

    async def connect(self) -> None:
        self.calls.append(("connect", self.options.get("TAG")))

    async def subscribe(self, groups: Collection[str]) -> None:
        self.calls.append(("subscribe", sorted(groups)))
        await super().subscribe(groups)

    async def unsubscribe(self, groups: Collection[str]) -> None:
        self.calls.append(("unsubscribe", sorted(groups)))
        await super().unsubscribe(groups)

    async def publish(self, group: str, payload: bytes) -> None:
        self.calls.append(("publish", group))
        await super().publish(group, payload)

    async def close(self) -> None:
        self.calls.append(("close", self.options.get("TAG")))
        await super().close()


class StalledConnection(WebSocketTestConnection):
    """
    A client that has stopped reading: the application's sends of data never
    complete (as when TCP backpressure reaches the server), until ``resume``
    is set. Close frames still go through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume = asyncio.Event()
        self.blocked = asyncio.Event()

    async def _app_send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and not self.resume.is_set():
            self.blocked.set()
            await self.resume.wait()
        await super()._app_send(message)


async def connect_stalled(client: WebSocketClient, path: str) -> StalledConnection:
    """Open a connection to ``path`` whose client never reads until resumed."""
    connection = StalledConnection(
        client.application, client._scope(path, None, ()), client.timeout
    )
    await _Connecting(connection)
    return connection


def unavailable(reason: str) -> None:
    """Skip the test because a server is missing, or fail it under WSVIEWS_REQUIRE_SERVICES=1."""
    if services_required():
        pytest.fail(f"{reason} (WSVIEWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def spare_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, checking as the loop runs; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"Condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(0.001)


class RedisServer:
    """
    A redis-server of the test's own, on a spare port, that the test may kill
    and start again (on the same port).
    """

    def __init__(self, directory: pathlib.Path, *args: str) -> None:
        self.port = spare_port()
        self.directory = directory
        self.args = args
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """Return the server's redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(
        self,
        *,
        port_args: tuple[str, ...] | None = None,
        config: pathlib.Path | None = None,
        ready: str = "Ready to accept connections",
    ) -> None:
        """
        Start the server; return once its output shows ``ready``.

        ``config`` starts a Sentinel with that configuration file instead.
        """
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        if config is not None:
            self.process = subprocess.Popen(
                [str(binary), str(config), "--sentinel"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.directory,
            )
            wait_for_line(self.process, ready, 10)
            return
        self.process = subprocess.Popen(
            [
                str(binary),
                *(port_args or ("--port", str(self.port))),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_line(self.process, ready, 10)

    def kill(self) -> None:
        """Kill the server (SIGKILL: no goodbye to the clients) and wait for it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def client(self, **kwargs: Any) -> Any:
        """Return a synchronous redis-py client of this server."""
        import redis

        return redis.Redis.from_url(self.url, **kwargs)


class Output:
    """
    Everything a process writes to stdout, read continuously by a thread (so
    the pipe never fills), with a way to wait for a line.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.lines: list[str] = []
        self.ended = False
        self._condition = threading.Condition()
        self._stream = process.stdout
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._stream:
            with self._condition:
                self.lines.append(line)
                self._condition.notify_all()
        self._stream.close()
        with self._condition:
            self.ended = True
            self._condition.notify_all()

    def saw(self, text: str) -> bool:
        """Return whether a line so far contains ``text``."""
        with self._condition:
            return any(text in line for line in self.lines)

    def wait_for(self, text: str, timeout: float) -> str:
        """Return the first line containing ``text``; fail if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                remaining = deadline - time.monotonic()
                if self.ended or remaining <= 0:
                    what = "Process exited" if self.ended else f"{timeout} s passed"
                    pytest.fail(
                        f"{what} before {text!r}; output:\n{''.join(self.lines)}"
                    )
                self._condition.wait(remaining)


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float) -> Output:
    """Start reading ``process``'s output; return once a line contains ``text``."""
    output = Output(process)
    output.wait_for(text, timeout)
    return output


ROOT = pathlib.Path(__file__).resolve().parents[2]


class UvicornServer:
    """
    A uvicorn process serving tests.support.groups_asgi on a spare port, with lifespan.

    With ``send_buffer``, the server listens on a socket made here with that
    ``SO_SNDBUF`` (which its connections inherit, turning off the kernel's
    autotuning up to megabytes) and handed over with ``--fd``.
    """

    def __init__(self, *, send_buffer: int | None = None, **env: str) -> None:
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.output: Output | None = None
        self.listener: socket.socket | None = None
        if send_buffer is None:
            self.port = spare_port()
        else:
            self.listener = socket.socket()
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(2048)
            self.port = int(self.listener.getsockname()[1])

    def url(self, path: str) -> str:
        """Return the ws:// URL of ``path`` on this server."""
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Start the server; return once its lifespan startup is complete."""
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.support.groups_asgi:application",
                *self._where(),
                "--lifespan",
                "on",
                "--no-access-log",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "tests.support.groups_settings",
                **self.env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=() if self.listener is None else (self.listener.fileno(),),
        )
        self.output = Output(self.process)
        self.output.wait_for("Application startup complete", 30)
        self.output.wait_for("Uvicorn running on", 30)

    def _where(self) -> list[str]:
        if self.listener is None:
            return ["--host", "127.0.0.1", "--port", str(self.port)]
        return ["--fd", str(self.listener.fileno())]

    def stop(self) -> None:
        """Stop the server (SIGTERM: a graceful shutdown) and wait for it."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


class LogEvent(logging.Handler):
    """An asyncio.Event set when a logger emits a record containing ``text``."""

    def __init__(self, logger_name: str, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.logger = logging.getLogger(logger_name)
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.loop.call_soon_threadsafe(self.event.set)

    def __enter__(self) -> LogEvent:
        self.previous_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.previous_level)

    async def wait(self, timeout: float = 10.0) -> None:
        """Wait for the record; fail after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"No log record with {self.text!r} within {timeout} s")


def _postgres_bin(name: str) -> str | None:
    """Return the path of PostgreSQL's ``name`` program (initdb, postgres), or None."""
    found = shutil.which(name)
    if found is not None:
        return found
    # Debian keeps the server programs out of PATH, one folder per version.
    versions = sorted(
        pathlib.Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for folder in reversed(versions):
        if (folder / name).is_file():
            return str(folder / name)
    return None


def _live_members(group: int) -> bool:
    """Return whether a process of process group ``group`` is still running (not a zombie)."""
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


class PostgresServer:
    """
    A PostgreSQL server of the test's own: ``initdb`` in a folder of the test,
    on a spare port, trust authentication; the test may kill it (SIGKILL) and
    start it again on the same port and data.

    Run as root, the server runs as the ``postgres`` user (PostgreSQL refuses
    to run as root), in a folder of its own under the system's temporary
    folder (pytest's ``tmp_path`` is closed to other users). Call
    :meth:`remove` at the end.
    """

    def __init__(self) -> None:
        self.port = spare_port()
        self.directory = pathlib.Path(tempfile.mkdtemp(prefix="wsviews-pg-"))
        self.data = self.directory / "data"
        self.process: subprocess.Popen[str] | None = None
        self._initialized = False

    def database(self, name: str = "postgres") -> dict[str, Any]:
        """Return a ``DATABASES`` entry for this server."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }

    def _popen_user(self) -> dict[str, Any]:
        """Return the Popen arguments that run a PostgreSQL program as a user it accepts."""
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    def _initdb(self) -> None:
        initdb = _postgres_bin("initdb")
        if initdb is None or _postgres_bin("postgres") is None:
            unavailable("PostgreSQL's initdb and postgres are not installed")
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            [
                str(initdb),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=self.directory,
            **self._popen_user(),
        )
        self._initialized = True

    def start(self) -> None:
        """Start the server (initdb on the first start); return once it accepts connections."""
        if not self._initialized:
            self._initdb()
        self.process = subprocess.Popen(
            [
                str(_postgres_bin("postgres")),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.directory),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.directory,
            start_new_session=True,
            **self._popen_user(),
        )
        wait_for_line(
            self.process, "database system is ready to accept connections", 30
        )

    def kill(self) -> None:
        """
        Kill the server and its backends (SIGKILL: no goodbye to the clients), as a crash would.

        Returns once none of them is left running, so that the next start
        finds the data folder free.
        """
        if self.process is None:
            return
        group = self.process.pid  # started in a session of its own
        os.killpg(group, signal.SIGKILL)
        self.process.wait(10)
        self.process = None
        deadline = time.monotonic() + 10
        while _live_members(group) and time.monotonic() < deadline:
            time.sleep(0.01)
        # Every process of the server is gone: the lock file is stale.
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def remove(self) -> None:
        """Kill the server and delete its folder."""
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def connect(self) -> Any:
        """Return a psycopg connection (autocommit) to this server's postgres database."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        )


class Inbox:
    """An on_message callback that collects payloads and wakes a waiter."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.payloads: list[bytes] = []
        self.changed = asyncio.Event()

    def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self.changed.set()

    async def wait_for(self, count: int) -> list[bytes]:
        """Wait until ``count`` payloads have arrived; return them."""

        async def until() -> None:
            while len(self.payloads) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), self.timeout)
        return self.payloads
