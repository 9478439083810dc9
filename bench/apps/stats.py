"""
What a server process holds right now, for the ``cycles`` workload.

Every benchmark app answers ``GET /bench/stats/`` with :func:`snapshot` as
JSON, read from inside the process serving the request: the asyncio tasks of
its event loop, its open file descriptors and its resident memory. Only the
benchmark's apps have this route; it is no part of django-wsviews.
"""

import asyncio
import gc
import json
import os
import tracemalloc

STATS_PATH = "/bench/stats/"

# BENCH_TRACEMALLOC=1 (for hunting a leak, by hand): trace allocations from
# start-up, and add to each reading the allocation sites that grew most since
# the first reading, after a full garbage collection.
TRACING = os.environ.get("BENCH_TRACEMALLOC") == "1"
if TRACING:
    tracemalloc.start(8)
_baseline: list = []


def snapshot() -> dict:
    """Tasks of the running loop, open descriptors and RSS (KiB) of this process."""
    rss_kib = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
                break
    stats = {
        "pid": os.getpid(),
        "tasks": len(asyncio.all_tasks()),
        "fds": len(os.listdir("/proc/self/fd")),
        "rss_kib": rss_kib,
    }
    if TRACING:
        stats["garbage_collected"] = gc.collect()
        stats["objects"] = len(gc.get_objects())
        now = tracemalloc.take_snapshot()
        if not _baseline:
            _baseline.append(now)
        growth = now.compare_to(_baseline[0], "traceback")[:5]
        stats["top_growth"] = [
            [
                f"{stat.size_diff / 1024:.0f} KiB, {stat.count_diff} blocks",
                stat.traceback.format(),
            ]
            for stat in growth
        ]
    return stats


def snapshot_json() -> bytes:
    return json.dumps(snapshot()).encode()
