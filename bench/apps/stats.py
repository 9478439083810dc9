"""
What a server process holds right now, for the ``cycles`` workload.

Every benchmark app answers ``GET /bench/stats/`` with :func:`snapshot` as
JSON, read from inside the process serving the request: the asyncio tasks of
its event loop, its open file descriptors and its resident memory. Only the
benchmark's apps have this route; it is no part of django-wsviews.
"""

import asyncio
import json
import os

STATS_PATH = "/bench/stats/"


def snapshot() -> dict:
    """Tasks of the running loop, open descriptors and RSS (KiB) of this process."""
    rss_kib = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
                break
    return {
        "pid": os.getpid(),
        "tasks": len(asyncio.all_tasks()),
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_kib": rss_kib,
    }


def snapshot_json() -> bytes:
    return json.dumps(snapshot()).encode()
