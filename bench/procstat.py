"""Readings from /proc shared by the runner and the load client (Linux only)."""

from __future__ import annotations

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``, all its threads included."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the name, which is in parentheses and may hold spaces.
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (VmRSS in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for pid {pid}")


def busy_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy (anything but idle and iowait), for everyone."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


class CpuWindow:
    """
    CPU use between start() and stop(), in percent of one core: this process
    (the client), the server, and everything else on the machine ("other").

    "other" should stay near zero; when it doesn't, something else competed
    for the cores during the measurement and the figures are suspect.
    """

    def __init__(self, server_pid: int | None, client_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.client_pid = client_pid  # None: this process

    def _client_seconds(self) -> float:
        if self.client_pid is None:
            t = os.times()
            return t.user + t.system
        return process_cpu_seconds(self.client_pid)

    def _sample(self) -> tuple[float, ...]:
        server = process_cpu_seconds(self.server_pid) if self.server_pid else 0.0
        return time.perf_counter(), self._client_seconds(), server, busy_cpu_seconds()

    def start(self) -> None:
        self.begin = self._sample()

    def stop(self) -> dict[str, float | None]:
        end = self._sample()
        elapsed, client, server, busy = (
            b - a for a, b in zip(self.begin, end, strict=True)
        )
        pct = 100 / elapsed
        return {
            "window_s": elapsed,
            "client_cpu": client * pct,
            "server_cpu": server * pct if self.server_pid else None,
            "other_cpu": max(0.0, busy - client - server) * pct,
        }
