"""
Hosts of the test's own, made with network namespaces: a broker and app hosts on one bridge.

:class:`Network` makes a namespace per host (``ip netns add``), a bridge in
the broker's namespace with the broker at ``10.77.0.1/24``, and a veth pair
per app host (``10.77.0.11``, ``10.77.0.12`` ...) whose broker end is a port
of the bridge. :meth:`Network.cut` takes one app host's port of the bridge
down, in the broker's namespace: that host and the broker no longer reach
each other (packets are dropped, no reset), the other hosts are untouched;
:meth:`Network.heal` brings it back. Traffic stays inside the namespaces:
nothing is routed to the machine's own network. :meth:`Network.remove`
deletes every namespace made (their interfaces go with them), and ends the
processes started in them.

The test's own process opens sockets inside a namespace with
:func:`connect_in`, from a thread that enters it with ``setns(2)``.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from .groups_support import ROOT, Output

T = TypeVar("T")

BROKER_IP = "10.77.0.1"
CLONE_NEWNET = 0x40000000
_NETNS_DIR = "/run/netns"  # iproute2's, where `ip netns add` names namespaces


def netns_unavailable_reason() -> str | None:
    """Return why this machine cannot make network namespaces, or None if it can."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"wsvprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add is not permitted here ({made.stderr.strip()})"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


class Network:
    """A broker host and ``apps`` app hosts, each a network namespace."""

    def __init__(self, apps: int = 2) -> None:
        tag = uuid.uuid4().hex[:5]
        self.tag = tag
        self.broker = f"wsv{tag}b"
        self.apps = [f"wsv{tag}a{n}" for n in range(1, apps + 1)]
        self.made: list[str] = []
        self.processes: list[subprocess.Popen[str]] = []
        #: Folders removed with the network.
        self.directories: list[pathlib.Path] = []

    def app_ip(self, index: int) -> str:
        """Return the address of app host ``index`` (0-based)."""
        return f"10.77.0.{11 + index}"

    def _port(self, index: int) -> str:
        """Return the name of app host ``index``'s port of the bridge (broker side)."""
        return f"wsv{self.tag}p{index}"

    def build(self) -> None:
        """Make the namespaces, the bridge and the links."""
        for name in [self.broker, *self.apps]:
            _ip("netns", "add", name)
            self.made.append(name)
            _ip("link", "set", "lo", "up", namespace=name)
        _ip("link", "add", "br0", "type", "bridge", namespace=self.broker)
        _ip("addr", "add", f"{BROKER_IP}/24", "dev", "br0", namespace=self.broker)
        _ip("link", "set", "br0", "up", namespace=self.broker)
        for index, app in enumerate(self.apps):
            port, inside = self._port(index), f"wsv{self.tag}i{index}"
            _ip("link", "add", port, "type", "veth", "peer", "name", inside)
            _ip("link", "set", port, "netns", self.broker)
            _ip("link", "set", inside, "netns", app)
            _ip("link", "set", port, "master", "br0", namespace=self.broker)
            _ip("link", "set", port, "up", namespace=self.broker)
            _ip("addr", "add", f"{self.app_ip(index)}/24", "dev", inside, namespace=app)
            _ip("link", "set", inside, "up", namespace=app)

    def cut(self, index: int) -> None:
        """Cut app host ``index`` off the broker (and the other hosts)."""
        _ip("link", "set", self._port(index), "down", namespace=self.broker)

    def heal(self, index: int) -> None:
        """Link app host ``index`` to the broker again."""
        _ip("link", "set", self._port(index), "up", namespace=self.broker)

    def start(
        self,
        namespace: str,
        args: list[str],
        env: dict[str, str] | None = None,
        **popen: Any,
    ) -> tuple[subprocess.Popen[str], Output]:
        """Start ``args`` in ``namespace``; return it, and its output as it comes."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            **popen,
        )
        self.processes.append(process)
        output = Output(process)
        return process, output

    def uvicorn(
        self, namespace: str, port: int, env: dict[str, str]
    ) -> tuple[subprocess.Popen[str], Output]:
        """Start a uvicorn process of the group test application in ``namespace`` on ``port``."""
        return self.start(
            namespace,
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.support.groups_asgi:application",
                "--host",
                "0.0.0.0",
                "--port",
                str(port),
                "--lifespan",
                "on",
                "--no-access-log",
            ],
            env={
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "tests.support.multihost_settings",
                **env,
            },
            cwd=ROOT,
        )

    def remove(self) -> None:
        """End the processes started here, and delete every namespace made."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for name in self.made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.made.clear()
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)


def in_namespace(namespace: str, function: Callable[[], T]) -> T:
    """Return ``function()`` run in a thread that has entered ``namespace``."""
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        fd = os.open(os.path.join(_NETNS_DIR, namespace), os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                number = ctypes.get_errno()
                raise OSError(number, f"setns: {os.strerror(number)}")
            result.append(function())
        except BaseException as exc:
            error.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def connect_in(namespace: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to 127.0.0.1:``port`` of ``namespace``."""
    return in_namespace(
        namespace, lambda: socket.create_connection(("127.0.0.1", port), timeout)
    )
