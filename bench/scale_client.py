"""
The load client of the scale workloads: ``cycles`` and ``fanout``.

Run by the runner like ``bench/client.py`` (pinned to the client core, one
JSON object on stdout); ``bench/deflate_client.py`` has the compression one.

``cycles``
    ``--cycles`` connect / one echo / close cycles, ``--connections`` at a
    time, with the raw handshake client of ``bench/client.py``. After
    ``--checkpoint`` cycles and again after all of them, and ``--settle``
    seconds of quiet each time, the server's tasks, descriptors and RSS are
    read from its ``GET /bench/stats/``: the growth between the two readings
    says whether a connection leaves something behind.
``fanout``
    ``--connections`` members of one group on a server of several workers;
    one of them sends ``broadcast:<k>`` every ``--interval`` seconds for
    ``--duration`` seconds, and every member times each message from its
    sending. Delivery p50/p99 over all (member, message) pairs, and the
    messages that never arrived: once all are sent, the client waits while
    any still arrive, until none has for ``--grace`` seconds.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import sys
import time

import uvloop
from picows import WSFrame, WSMsgType, WSTransport

from bench.client import (
    DATA_FRAMES,
    BenchError,
    ClosingListener,
    Cycle,
    Target,
    canned_cycle,
    close_all,
    raise_fd_limit,
)
from bench.procstat import CpuWindow

perf_ns = time.perf_counter_ns
STATS_PATH = "/bench/stats/"

# --- cycles -----------------------------------------------------------------------


async def read_stats(host: str, port: int) -> dict:
    """GET /bench/stats/ (HTTP/1.0, so the body ends with the connection)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    try:
        writer.write(
            f"GET {STATS_PATH} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode()
        )
        response = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        raise BenchError(f"GET {STATS_PATH} answered {status!r}")
    return json.loads(body)


def growth_pct(before: float, after: float) -> float:
    return 100.0 * (after - before) / before if before else float(after > 0) * 100


async def cycles(args: argparse.Namespace) -> dict:
    origin = Target(args.url).headers["Origin"]
    host, port, canned = canned_cycle(args.url, origin, b"x" * args.payload_size)
    loop = asyncio.get_running_loop()
    state = {"started": 0, "completed": 0}
    failures: list[BaseException] = []

    async def one_cycle() -> None:
        done = loop.create_future()
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: Cycle(canned, done), host, port), 10
        )
        try:
            await asyncio.wait_for(done, 10)
        finally:
            transport.abort()  # no-op once closed; drops it after a failure

    async def worker(until: int) -> None:
        while state["started"] < until and len(failures) <= 100:
            state["started"] += 1
            try:
                await one_cycle()
                state["completed"] += 1
            except Exception as exc:
                failures.append(exc)

    async def run_until(count: int) -> None:
        await asyncio.gather(*(worker(count) for _ in range(args.connections)))
        if failures:
            raise BenchError(f"{len(failures)} cycles failed; first: {failures[0]}")

    async def reading() -> dict:
        await asyncio.sleep(args.settle)  # let the server finish its closes
        return await read_stats(host, port)

    cpu = CpuWindow(args.server_pid)
    cpu.start()
    started = time.perf_counter()
    await run_until(args.checkpoint)
    first = await reading()
    await run_until(args.cycles)
    second = await reading()
    elapsed = time.perf_counter() - started - 2 * args.settle
    window = cpu.stop()
    if first["pid"] != second["pid"]:
        raise BenchError("the stats came from two different processes")
    result: dict = {
        "cycles": state["completed"],
        "checkpoint": args.checkpoint,
        "cycles_per_s": state["completed"] / elapsed,
        "server_cpu": window["server_cpu"],
        "client_cpu": window["client_cpu"],
    }
    for key in ("rss_kib", "fds", "tasks"):
        result[f"{key}_first"] = first[key]
        result[f"{key}_last"] = second[key]
    result["rss_first_mib"] = first["rss_kib"] / 1024
    result["rss_last_mib"] = second["rss_kib"] / 1024
    result["rss_growth_pct"] = growth_pct(first["rss_kib"], second["rss_kib"])
    # What a leak would look like: bytes kept per cycle between the readings.
    result["rss_bytes_per_cycle"] = (
        (second["rss_kib"] - first["rss_kib"]) * 1024 / (args.cycles - args.checkpoint)
    )
    result["fds_growth_pct"] = growth_pct(first["fds"], second["fds"])
    result["tasks_growth_pct"] = growth_pct(first["tasks"], second["tasks"])
    return result


# --- fanout -------------------------------------------------------------------------

PREFIX = b"broadcast:"


class FanoutRun:
    def __init__(self, members: int, rounds: int) -> None:
        self.members = members
        self.rounds = rounds
        self.sent_at = array.array("q", [0] * (rounds + 1))  # ns, by round
        self.received = array.array("l", [0] * (rounds + 1))  # members, by round
        self.latencies_us = array.array("q")
        self.total = 0
        self.duplicates = 0
        self.warm: dict[int, int] = {}  # warm-up round -> members reached
        self.warm_done: asyncio.Future | None = None
        self.all_done = asyncio.get_running_loop().create_future()


class FanoutListener(ClosingListener):
    def __init__(self, run: FanoutRun) -> None:
        self.run = run

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type not in DATA_FRAMES:
            return super().on_ws_frame(transport, frame)
        now = perf_ns()
        data = frame.get_payload_as_bytes()
        if not data.startswith(PREFIX):
            return
        number = int(data[len(PREFIX) :])
        run = self.run
        if number < 0:  # a warm-up broadcast
            run.warm[number] = reached = run.warm.get(number, 0) + 1
            if reached == run.members and run.warm_done and not run.warm_done.done():
                run.warm_done.set_result(None)
            return
        if number > run.rounds or not run.sent_at[number]:
            return
        run.received[number] += 1
        if run.received[number] > run.members:
            run.duplicates += 1
            return
        run.latencies_us.append((now - run.sent_at[number]) // 1000)
        run.total += 1
        if run.total == run.members * run.rounds and not run.all_done.done():
            run.all_done.set_result(None)


async def fanout(args: argparse.Namespace) -> dict:
    target = Target(args.url)
    rounds = max(1, round(args.duration / args.interval))
    run = FanoutRun(args.connections, rounds)
    connections = await target.connect_many(
        args.connections, lambda: FanoutListener(run)
    )
    trigger = connections[0][0]
    loop = asyncio.get_running_loop()
    try:
        # Warm-up broadcasts until one reaches every member, on every worker
        # (whichever: on a loaded server an early one may complete late).
        run.warm_done = loop.create_future()
        for attempt in range(1, 11):
            trigger.send(WSMsgType.TEXT, b"broadcast:%d" % -attempt)
            try:
                await asyncio.wait_for(asyncio.shield(run.warm_done), 5)
                break
            except asyncio.TimeoutError:
                continue
        else:
            closed = sum(listener.closed_by_server for _, listener in connections)
            dropped = sum(transport.is_disconnected for transport, _ in connections)
            raise BenchError(
                f"warm-up broadcasts reached only {max(run.warm.values(), default=0)} "
                f"of {run.members} members in 50 s ({closed} closed by the server, "
                f"{dropped} disconnected)"
            )
        cpu = CpuWindow(None)
        cpu.start()
        start = loop.time()
        lag = 0.0
        for number in range(1, rounds + 1):
            due = start + number * args.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            lag = max(lag, loop.time() - due)
            run.sent_at[number] = perf_ns()
            trigger.send(WSMsgType.TEXT, b"broadcast:%d" % number)
        # Late is not lost: wait while messages still arrive, until none has
        # for --grace seconds (or all are in), six times --grace at most.
        seen, deadline = -1, loop.time() + 6 * args.grace
        while seen != run.total and not run.all_done.done() and loop.time() < deadline:
            seen = run.total
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(run.all_done), args.grace)
        window = cpu.stop()
        closed = sum(listener.closed_by_server for _, listener in connections)
    finally:
        await close_all(connections, timeout=15)

    expected = run.members * rounds
    samples = sorted(run.latencies_us)
    n = len(samples)
    return {
        "members": run.members,
        "broadcasts": rounds,
        "expected": expected,
        "delivered": run.total,
        "lost": expected - run.total,
        "duplicates": run.duplicates,
        "closed_by_server": closed,
        "p50_ms": samples[n // 2] / 1000 if n else None,
        "p99_ms": samples[min(n - 1, int(n * 0.99))] / 1000 if n else None,
        "max_ms": samples[-1] / 1000 if n else None,
        "send_lag_ms": lag * 1000,
        "client_cpu": window["client_cpu"],
        "other_cpu": window["other_cpu"],
    }


# --- main ---------------------------------------------------------------------------

WORKLOADS = {"cycles": cycles, "fanout": fanout}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale_client", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/path/")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--payload-size", type=int, default=64)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--checkpoint", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--grace", type=float, default=10.0)
    args = parser.parse_args(argv)
    host = args.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if host != "127.0.0.1":
        parser.error("the load client only connects to 127.0.0.1")
    if not 0 < args.checkpoint < args.cycles:
        parser.error("--checkpoint must be between 0 and --cycles")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    try:
        result = uvloop.run(WORKLOADS[args.workload](args))
    except BenchError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
