"""
The scale workloads of ``bench/run``: what a deployment sees beyond one
socket's speed. Each runs once per ``bench/run`` (not once per repetition):
they take minutes, and their figures are counts and growths, not rates.

``cycles``
    ``--cycles`` (100,000) connect / echo / close cycles against one server;
    its asyncio tasks, open descriptors and RSS after ``--cycles-checkpoint``
    (10,000) cycles and after all of them. Flat means each grew by under 2 %.
``fanout-redis``, ``fanout-postgres``
    Two server workers on one group backend, ``--fanout-members`` (10,000)
    members of one group, one broadcast every ``--fanout-interval`` (0.1) s
    for ``--fanout-seconds`` (30): delivery p50/p99 over every (member,
    message) pair, and the messages lost (target: none). Redis: the floor,
    django-wsviews and Channels with channels_redis; PostgreSQL:
    django-wsviews (neither other stack has a PostgreSQL layer here).
``compression-off``, ``compression-on``
    Broadcast to ``--compression-members`` (1,000) members whose client offers
    permessage-deflate, with uvicorn's ``--ws-per-message-deflate`` false,
    then true: ms to the last member and bytes on the wire per member.

``idle`` (in ``runner.py``) is the 10,000 idle connections row.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

SCALE_WORKLOADS = ("cycles", "fanout", "compression")

# What --quick and a full run use when an option is not given.
QUICK = dict(
    cycles=2000, cycles_checkpoint=200, cycles_workers=20, fanout_members=500,
    fanout_seconds=5.0, compression_members=300,
)  # fmt: skip
FULL = dict(
    cycles=100_000, cycles_checkpoint=10_000, cycles_workers=50, fanout_members=10_000,
    fanout_seconds=30.0, compression_members=1000,
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--cycles", type=int, help="cycles: connect/echo/close cycles (default 100,000)"
    )
    add(
        "--cycles-checkpoint",
        type=int,
        help="cycles: the first reading (default 10,000)",
    )
    add("--cycles-workers", type=int, help="cycles: cycles at a time (default 50)")
    add("--fanout-members", type=int, help="fanout: group members (default 10,000)")
    add(
        "--fanout-seconds",
        type=float,
        help="fanout: seconds of broadcasts (default 30)",
    )
    add("--fanout-interval", type=float, default=0.1, help="fanout: seconds between")
    add("--fanout-workers", type=int, default=2, help="fanout: server worker processes")
    add(
        "--fanout-cores",
        help="fanout: the cores the server's workers may use, as taskset takes them "
        "(default: the server core only; e.g. 0,1 to let them spread, beside the client)",
    )
    add("--compression-members", type=int, help="compression: members (default 1,000)")
    add("--message-size", type=int, default=1024, help="compression: JSON bytes")


def apply_defaults(cfg: argparse.Namespace) -> None:
    for name, value in (QUICK if cfg.quick else FULL).items():
        if getattr(cfg, name) is None:
            setattr(cfg, name, value)


def build_workloads(
    cfg: argparse.Namespace, workload: Any, metric: Any, apps: list
) -> list:
    """The scale workloads asked for, built with runner's Workload and Metric."""
    by_key = {app.key: app for app in apps}
    wanted = set(cfg.workloads)
    out = []
    if "cycles" in wanted:
        growth = [
            metric(f"{what}_growth_pct", f"{label} growth %", 2, ratio=False)
            for what, label in (("rss", "RSS"), ("fds", "fds"), ("tasks", "tasks"))
        ]
        out.append(
            workload(
                "cycles",
                f"{cfg.cycles:,} connect/echo/close cycles",
                "cycles",
                list(apps),
                [
                    metric("rss_first_mib", f"RSS MiB at {cfg.cycles_checkpoint:,}", 1),
                    metric("rss_last_mib", f"RSS MiB at {cfg.cycles:,}", 1),
                    metric("fds_last", "fds", ratio=False),
                    metric("tasks_last", "tasks", ratio=False),
                    *growth,
                    metric("rss_bytes_per_cycle", "RSS bytes/cycle", 1, ratio=False),
                    metric("cycles_per_s", "cycles/s"),
                ],
                cfg.cycles_workers,
                client_module="bench.scale_client",
                client_args=(
                    "--cycles",
                    str(cfg.cycles),
                    "--checkpoint",
                    str(cfg.cycles_checkpoint),
                    "--settle",
                    str(cfg.settle),
                ),
                budget=cfg.cycles / 200,  # up to 200 cycles/s
                note=f"{cfg.cycles_workers} cycles at a time, each: open, one echo, close "
                "handshake. Tasks (asyncio.all_tasks()), open descriptors and RSS read by "
                f"the server itself (GET /bench/stats/) after {cfg.cycles_checkpoint:,} "
                f"cycles and after {cfg.cycles:,}, {cfg.settle:g} s after the last close; "
                "growth is between the two. Flat: under 2 %.",
            )
        )
    if "fanout" in wanted:
        for layer, keys, what in (
            ("redis", ("raw", "wsviews", "channels"), "Redis"),
            ("postgres", ("wsviews",), "PostgreSQL"),
        ):
            out.append(
                workload(
                    f"fanout-{layer}",
                    f"Fan-out across {cfg.fanout_workers} workers, {what}: "
                    f"{cfg.fanout_members:,} members, a broadcast every "
                    f"{cfg.fanout_interval * 1000:g} ms for {cfg.fanout_seconds:g} s",
                    "fanout",
                    [by_key[k] for k in keys if k in by_key],
                    [
                        metric("p50_ms", "p50 ms", 1),
                        metric("p99_ms", "p99 ms", 1),
                        metric("lost", "lost", ratio=False),
                        metric("delivered", "delivered", ratio=False),
                        metric("closed_by_server", "closed by server", ratio=False),
                        metric("send_lag_ms", "send lag ms", 1, ratio=False),
                        metric("client_cpu", "client CPU %", cpu=True),
                    ],
                    cfg.fanout_members,
                    path="/ws/group/",
                    layer=layer,
                    client_module="bench.scale_client",
                    client_args=(
                        "--duration",
                        str(cfg.fanout_seconds),
                        "--interval",
                        str(cfg.fanout_interval),
                    ),
                    budget=cfg.fanout_seconds + cfg.fanout_members / 50,
                    workers=cfg.fanout_workers,
                    descriptors=cfg.fanout_members,
                    note="Delivery: from the trigger member sending broadcast:<k> until "
                    "each member has it, over every (member, message) pair; the workers "
                    f"run on core(s) {cfg.fanout_cores or cfg.server_core}. Lost: never "
                    "arrived (the client waits until none has arrived for 10 s). Send lag: how late the client "
                    "sent a broadcast (its own load).",
                )
            )
    if "compression" in wanted:
        for on in (False, True):
            out.append(
                workload(
                    f"compression-{'on' if on else 'off'}",
                    f"Broadcast to {cfg.compression_members:,}, permessage-deflate "
                    f"{'on' if on else 'off'} (uvicorn --ws-per-message-deflate "
                    f"{'true' if on else 'false'})",
                    "compression",
                    [a for a in apps if "memory" in a.layers],
                    [
                        metric("ms", "ms to last member", 2),
                        metric("wire_bytes", "wire bytes/member", ratio=False),
                        metric("message_bytes", "message bytes", ratio=False),
                    ],
                    cfg.compression_members,
                    path="/ws/group/",
                    layer="memory",
                    client_module="bench.deflate_client",
                    client_args=(
                        "--rounds",
                        str(cfg.broadcast_rounds),
                        "--message-size",
                        str(cfg.message_size),
                        "--expect-deflate",
                        "yes" if on else "no",
                    ),
                    compression=on,
                    descriptors=cfg.compression_members,
                    note=f"Median of {cfg.broadcast_rounds} broadcasts of a "
                    f"{cfg.message_size}-byte JSON chat message, different each time, "
                    "to members offering permessage-deflate (as browsers do); the "
                    "server compresses once per member when on.",
                )
            )
    for item in out:
        item.once = True
    return out


def server_cores(cfg: argparse.Namespace, workload: Any) -> str:
    """The taskset core list of a workload's server: its own core, or --fanout-cores."""
    if workload.workers > 1 and cfg.fanout_cores:
        return str(cfg.fanout_cores)
    return str(cfg.server_core)


def comparison_lines(workload: Any, report: dict) -> list[str]:
    """Under compression-on: each app's time with compression, as a ratio to without."""
    if workload.key != "compression-on" or "compression-off" not in report["workloads"]:
        return []
    on = report["workloads"]["compression-on"]["summary"]
    off = report["workloads"]["compression-off"]["summary"]
    lines = ["", "Compression on / off, ms to the last member (medians):", ""]
    for app in workload.apps:
        try:
            ratio = (
                on[app.key]["ms"]["value"]["median"]
                / off[app.key]["ms"]["value"]["median"]
            )
            wire = on[app.key]["wire_bytes"]["value"]["median"]
            raw = off[app.key]["wire_bytes"]["value"]["median"]
        except (KeyError, TypeError, ZeroDivisionError):
            lines.append(f"- {app.key}: not available (a run is missing)")
            continue
        lines.append(
            f"- {app.key}: x{ratio:.2f} the time, {wire / raw:.0%} of the bytes"
        )
    return lines


def postgres_problem() -> str | None:
    """None when PostgreSQL accepts a TCP connection where the bench project looks."""
    port = int(os.environ.get("BENCH_POSTGRES_PORT", "5432"))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        return f"PostgreSQL not reachable at 127.0.0.1:{port}: {exc}"
    return None
