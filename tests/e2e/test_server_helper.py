"""The e2e server helper ends everything it started, even what a server's main process left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .helpers import Server

# A "server" whose main process starts a worker, says its PID, and exits at
# once, leaving the worker running: what granian's SIGTERM race can do.
LEAVES_A_WORKER = (
    "import subprocess, sys\n"
    "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print(worker.pid, flush=True)\n"
)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stop_ends_a_worker_the_main_process_left(tmp_path: Path) -> None:
    """stop() returns the main process's status and ends the worker it left in its group."""
    server = Server("uvicorn", tmp_path)
    server.process = subprocess.Popen(
        [sys.executable, "-c", LEAVES_A_WORKER],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert server.process.stdout is not None
    worker = int(server.process.stdout.readline())
    server.process.stdout.close()
    assert server.process.wait(10) == 0
    assert _running(worker)
    assert os.getpgid(worker) == server.process.pid
    assert server.stop() == 0
    deadline = time.monotonic() + 10  # SIGKILL is sent; the kernel ends it soon
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)
