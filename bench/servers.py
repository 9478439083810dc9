"""
The command lines of the ASGI servers the benchmark runs apps on.

**uvicorn** is the default and the reference: every app, every workload.
**granian** (``bench/run --server granian``) is the second server, a Rust
one, for the floor and for django-wsviews. Both run one worker process unless
a workload asks for more (``fanout`` runs two), pinned to the server core.

uvicorn's PID is the server's own (``taskset`` execs it). granian always
forks: its first process supervises, the worker serving connections is its
child, so CPU and memory are read from the worker (:func:`measured_pid`).
"""

from __future__ import annotations

import time
from pathlib import Path

SERVERS = ("uvicorn", "granian")

# The same protocol implementations and flags for every app: uvicorn's own
# "auto" choices with uvicorn[standard], spelled out so an upgrade can't
# silently change them.
UVICORN_FLAGS = [
    "--loop", "uvloop",
    "--http", "httptools",
    "--ws", "websockets-sansio",
    "--lifespan", "auto",
    "--log-level", "warning",
    "--no-access-log",
    "--timeout-graceful-shutdown", "3",
]  # fmt: skip

# granian: the ASGI interface (its default is its own RSGI), uvloop like
# uvicorn, one runtime thread (the worker's Rust I/O runs on the pinned core
# like everything else). Its --backpressure (1,024 requests in flight) does not
# hold idle WebSockets back: 1,100 open at once were all accepted.
GRANIAN_FLAGS = [
    "--interface", "asgi",
    "--loop", "uvloop",
    "--runtime-threads", "1",
    "--log-level", "warning",
    "--workers-kill-timeout", "3",
]  # fmt: skip


def server_command(
    server: str,
    asgi: str,
    host: str,
    port: int,
    *,
    workers: int = 1,
    compression: bool | None = None,
) -> list[str]:
    """The command that serves ``asgi`` (``module:attribute``); None compression: the default."""
    if server == "uvicorn":
        cmd = [
            "-m",
            "uvicorn",
            asgi,
            "--host",
            host,
            "--port",
            str(port),
            *UVICORN_FLAGS,
        ]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        if compression is not None:
            cmd += ["--ws-per-message-deflate", "true" if compression else "false"]
        return cmd
    if server == "granian":
        if compression:
            raise ValueError("granian does not offer permessage-deflate")
        return [
            "-m", "granian", *GRANIAN_FLAGS, "--host", host, "--port", str(port),
            "--workers", str(workers), asgi,
        ]  # fmt: skip
    raise ValueError(f"unknown server {server!r}")


def children(pid: int) -> list[int]:
    """The PIDs of ``pid``'s child processes (all its threads' children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def measured_pid(server: str, pid: int, timeout: float = 30) -> int:
    """The process whose CPU and memory are the server's: uvicorn's own, granian's worker."""
    if server != "granian":
        return pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = children(pid)
        if workers:
            return workers[0]
        time.sleep(0.05)
    raise LookupError(f"granian (PID {pid}) started no worker in {timeout:.0f} s")


def server_flags(server: str) -> list[str]:
    """The flags every app gets on ``server``, for the report's header."""
    return {"uvicorn": UVICORN_FLAGS, "granian": GRANIAN_FLAGS}[server]
