"""A nats-server of the test's own, on spare ports, that the test may kill and start again."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import urllib.request
from typing import Any

from .groups_support import spare_port, unavailable, wait_for_line


class NatsServer:
    """
    A ``nats-server`` on a spare port of 127.0.0.1, with its monitoring port.

    ``args`` are more command-line options (``--user``, ``--tls`` ...). The
    test may :meth:`kill` it and :meth:`start` it again on the same ports.
    """

    def __init__(self, *args: str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = spare_port()
        self.monitor_port = spare_port()
        self.args = args
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """Return the server's nats:// URL."""
        return f"nats://{self.host}:{self.port}"

    def start(self) -> None:
        """Start the server; return once it accepts connections."""
        binary = shutil.which("nats-server")
        if binary is None:
            unavailable("nats-server is not installed")
        self.process = subprocess.Popen(
            [
                str(binary),
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-m",
                str(self.monitor_port),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_for_line(self.process, "Server is ready", 10)

    def kill(self) -> None:
        """Kill the server (SIGKILL: no goodbye to the clients) and wait for it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def varz(self) -> dict[str, Any]:
        """Return the server's ``/varz`` statistics (``in_msgs``, ``out_msgs`` ...)."""
        url = f"http://127.0.0.1:{self.monitor_port}/varz"
        with urllib.request.urlopen(url, timeout=5) as response:
            stats: dict[str, Any] = json.loads(response.read())
        return stats


def self_signed_certificate(
    directory: pathlib.Path,
) -> tuple[pathlib.Path, pathlib.Path]:
    """Make a certificate for 127.0.0.1 and its key with openssl; return their paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            str(openssl),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
