"""
The load generator: one process, one uvloop event loop, picows connections
(and, for the handshake workload, a minimal client of its own, see there).

The runner starts it pinned to its own core (``taskset -c 1``), one workload per
run, and reads the single JSON object it prints on stdout. picows parses and
builds frames in Cython and hands each frame to a small Python callback, so a
round trip costs the client a few microseconds, well below what the servers
spend; ``client_cpu`` and ``server_cpu`` in the output let the report show that.

Workloads (``python -m bench.client WORKLOAD --help``):

``echo``
    N connections; each sends a message, waits for the echo, sends the next,
    for ``--warmup`` then ``--duration`` seconds. Round trips that complete in
    the measured window give the throughput and the latency percentiles.
``handshake``
    N workers, each looping: open a connection, one echo, close handshake.
``idle``
    Server RSS before and after opening N connections (one echo each, then
    idle), read from ``/proc/PID/status``.
``broadcast``
    N connections to the group route; one of them sends ``broadcast:<k>``,
    the time until the last member has received it is one sample.

CPU shares are measured over the measured window only: the client's from
``os.times()``, the server's from ``/proc/PID/stat`` (all its threads), and
everything else's from ``/proc/stat`` ("other", which should stay near zero),
each as a percentage of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable

import uvloop
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.procstat import CpuWindow, rss_bytes

perf_ns = time.perf_counter_ns
DATA_FRAMES = (WSMsgType.TEXT, WSMsgType.BINARY)

# Connections opened at once while setting up a workload: enough to be quick,
# few enough to stay well inside the server's listen backlog.
CONNECT_CONCURRENCY = 100


class BenchError(Exception):
    """A workload could not run as specified (the server refused, timed out...)."""


# --- Measuring ---------------------------------------------------------------


def percentiles_ms(samples_ns: list[int]) -> dict[str, float | None]:
    if not samples_ns:
        return {"p50_ms": None, "p99_ms": None}
    samples_ns.sort()
    n = len(samples_ns)
    return {
        "p50_ms": samples_ns[min(n - 1, n // 2)] / 1e6,
        "p99_ms": samples_ns[min(n - 1, int(n * 0.99))] / 1e6,
    }


# --- Connecting ---------------------------------------------------------------


class Target:
    """Where to connect, with the headers a browser would send (Origin included)."""

    def __init__(self, url: str) -> None:
        self.url = url
        host_port = url.split("://", 1)[1].split("/", 1)[0]
        # A same-origin page: what both the Channels origin validator and the
        # django-wsviews Origin check accept.
        self.headers = {"Origin": f"http://{host_port}"}

    async def connect(
        self, listener_factory: Callable[[], WSListener]
    ) -> tuple[WSTransport, WSListener]:
        try:
            return await ws_connect(
                listener_factory,
                self.url,
                extra_headers=self.headers,
                websocket_handshake_timeout=10,
            )
        except Exception as exc:  # picows raises WSHandshakeError & co, or OSError
            raise BenchError(
                f"connect to {self.url} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def connect_some(
        self, n: int, listener_factory: Callable[[], WSListener]
    ) -> tuple[list[tuple[WSTransport, WSListener]], list[BaseException]]:
        """Try ``n`` connections, ``CONNECT_CONCURRENCY`` handshakes at a time: (opened, errors)."""
        semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one() -> tuple[WSTransport, WSListener]:
            async with semaphore:
                return await self.connect(listener_factory)

        results = await asyncio.gather(
            *(one() for _ in range(n)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        connections = [r for r in results if not isinstance(r, BaseException)]
        return connections, errors

    async def connect_many(
        self, n: int, listener_factory: Callable[[], WSListener]
    ) -> list[tuple[WSTransport, WSListener]]:
        """Open ``n`` connections, ``CONNECT_CONCURRENCY`` handshakes at a time."""
        connections, errors = await self.connect_some(n, listener_factory)
        if errors:
            await close_all(connections)
            raise BenchError(
                f"{len(errors)} of {n} connections failed; first: {errors[0]}"
            )
        return connections


async def close_all(
    connections: list[tuple[WSTransport, WSListener]], timeout: float = 5
) -> None:
    """Close handshake on every connection, then drop whatever is still open."""
    for transport, _ in connections:
        transport.send_close(WSCloseCode.OK)
    waits = [transport.wait_disconnected() for transport, _ in connections]
    if waits:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*waits, return_exceptions=True), timeout
            )
    for transport, _ in connections:
        transport.disconnect(graceful=False)


class ClosingListener(WSListener):
    """Base listener: answers the server's CLOSE by closing the TCP connection."""

    closed_by_server = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:  # the server closed first
                self.closed_by_server = True
                transport.send_close(frame.get_close_code())
            transport.disconnect()


# --- echo -----------------------------------------------------------------------


class EchoRun:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sending = True
        self.measuring = False
        self.latencies: list[int] = []  # ns, of round trips completed in the window
        self.mismatches = 0
        self.in_flight = 0  # messages sent and not yet echoed, over all connections
        self.drained = asyncio.get_running_loop().create_future()  # in_flight back to 0


class EchoListener(ClosingListener):
    def __init__(self, run: EchoRun) -> None:
        self.run = run
        self.sent_at = 0

    def send_next(self, transport: WSTransport) -> None:
        self.run.in_flight += 1
        self.sent_at = perf_ns()
        transport.send(WSMsgType.TEXT, self.run.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in DATA_FRAMES:
            now = perf_ns()
            run = self.run
            run.in_flight -= 1
            if frame.payload_size != len(run.payload):
                run.mismatches += 1
            if run.measuring:
                run.latencies.append(now - self.sent_at)
            if run.sending:
                self.send_next(transport)
            elif run.in_flight == 0 and not run.drained.done():
                run.drained.set_result(None)
        else:
            super().on_ws_frame(transport, frame)


async def echo(args: argparse.Namespace) -> dict:
    target = Target(args.url)
    run = EchoRun(b"x" * args.payload_size)
    connections = await target.connect_many(args.connections, lambda: EchoListener(run))
    for transport, listener in connections:
        listener.send_next(transport)

    cpu = CpuWindow(args.server_pid)
    await asyncio.sleep(args.warmup)
    run.measuring = True
    cpu.start()
    await asyncio.sleep(args.duration)
    run.measuring = False
    window = cpu.stop()
    run.sending = False

    # Let the last round trips come back so the close handshakes are clean.
    if run.in_flight:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(run.drained), 5)
    dropped = sum(transport.is_disconnected for transport, _ in connections)
    await close_all(connections)
    if dropped:
        raise BenchError(
            f"{dropped} of {len(connections)} connections were closed during the run"
        )
    if run.mismatches:
        raise BenchError(f"{run.mismatches} echoes had the wrong length")

    count = len(run.latencies)
    return {
        "connections": args.connections,
        "payload_bytes": args.payload_size,
        "round_trips": count,
        "msgs_per_s": count / window["window_s"],
        **percentiles_ms(run.latencies),
        **window,
    }


# --- handshake -------------------------------------------------------------------
#
# A connection per cycle is where a general-purpose client costs the most: picows'
# ws_connect() spends about as much CPU per connection (URL parsing, header
# handling, futures, timeouts) as the raw floor server does, which would make the
# client the bottleneck. So this workload uses a minimal RFC 6455 client written
# straight on uvloop's transports: a canned upgrade request (fixed key, its
# Sec-WebSocket-Accept checked), a pre-masked text frame, a pre-masked close frame,
# and just enough frame parsing to find the echo and the server's close.

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key; servers don't care
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MASK = b"\x37\xfa\x21\x3d"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return header + MASK + masked


def parse_frame(buffer: bytes) -> tuple[int, int] | None:
    """(opcode, length of the whole frame) of the frame at the start of ``buffer``, if complete."""
    if len(buffer) < 2:
        return None
    n, pos = buffer[1] & 0x7F, 2
    if n == 126:
        n, pos = int.from_bytes(buffer[2:4], "big"), 4
    elif n == 127:
        n, pos = int.from_bytes(buffer[2:10], "big"), 10
    if buffer[1] & 0x80:
        pos += 4  # a masked frame: servers don't send them, but stay correct
    if len(buffer) < pos + n:
        return None
    return buffer[0] & 0x0F, pos + n


class Cycle(asyncio.Protocol):
    """Upgrade, send one message, await the echo, close handshake, await the server's EOF."""

    UPGRADING, ECHOING, CLOSING, CLOSED = range(4)

    def __init__(self, canned: dict[str, bytes], done: asyncio.Future) -> None:
        self.canned = canned
        self.done = done
        self.state = self.UPGRADING
        self.buffer = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        transport.write(self.canned["request"])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.state == self.UPGRADING:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            if (
                not head.startswith(b"HTTP/1.1 101")
                or self.canned["accept"] not in head
            ):
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                return self.fail(f"handshake refused: {status}")
            self.state = self.ECHOING
            self.transport.write(self.canned["message"])
        while self.state in (self.ECHOING, self.CLOSING):
            frame = parse_frame(self.buffer)
            if frame is None:
                return
            opcode, length = frame
            self.buffer = self.buffer[length:]
            if opcode == 0x8:  # CLOSE
                if self.state == self.ECHOING:
                    return self.fail("server closed the connection before echoing")
                # The server closes TCP once the close handshake is done (RFC
                # 6455 7.1.1), so its TIME_WAIT doesn't use up client ports.
                self.state = self.CLOSED
            elif opcode in (0x1, 0x2) and self.state == self.ECHOING:
                self.state = self.CLOSING
                self.transport.write(self.canned["close"])

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state != self.CLOSED:
            self.fail(f"connection lost in state {self.state}: {exc!r}")
        elif not self.done.done():
            self.done.set_result(None)

    def fail(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(BenchError(reason))
        self.transport.abort()


def canned_cycle(
    url: str, origin: str, payload: bytes
) -> tuple[str, int, dict[str, bytes]]:
    host_port, _, path = url.split("://", 1)[1].partition("/")
    host, _, port = host_port.rpartition(":")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    accept = base64.b64encode(hashlib.sha1((WS_KEY + WS_GUID).encode()).digest())
    canned = {
        "request": request.encode(),
        "accept": accept,
        "message": client_frame(0x1, payload),
        "close": client_frame(0x8, (1000).to_bytes(2, "big")),
    }
    return host, int(port), canned


async def handshake(args: argparse.Namespace) -> dict:
    target = Target(args.url)
    host, port, canned = canned_cycle(
        args.url, target.headers["Origin"], b"x" * args.payload_size
    )
    loop = asyncio.get_running_loop()
    state = {"measuring": False, "running": True}
    cycles: list[int] = []  # ns, of cycles completed in the window
    failures: list[BaseException] = []

    def time_out(done: asyncio.Future) -> None:
        if not done.done():
            done.set_exception(BenchError("cycle took more than 10 s"))

    async def one_cycle() -> None:
        started = perf_ns()
        done = loop.create_future()
        timer = loop.call_later(10, time_out, done)
        try:
            transport, _ = await loop.create_connection(
                lambda: Cycle(canned, done), host, port
            )
            try:
                await done
            finally:
                transport.abort()  # no-op once closed; drops it after a failure
        finally:
            timer.cancel()
        if state["measuring"]:
            cycles.append(perf_ns() - started)

    async def worker() -> None:
        while state["running"]:
            try:
                await one_cycle()
            except Exception as exc:
                failures.append(exc)
                if len(failures) > 100:
                    return
                await asyncio.sleep(0.01)

    workers = [asyncio.create_task(worker()) for _ in range(args.connections)]
    cpu = CpuWindow(args.server_pid)
    await asyncio.sleep(args.warmup)
    state["measuring"] = True
    cpu.start()
    await asyncio.sleep(args.duration)
    state["measuring"] = False
    window = cpu.stop()
    state["running"] = False
    await asyncio.wait(workers, timeout=15)

    if failures:
        raise BenchError(
            f"{len(failures)} handshake cycles failed; first: {failures[0]}"
        )
    count = len(cycles)
    return {
        "workers": args.connections,
        "cycles": count,
        "handshakes_per_s": count / window["window_s"],
        **percentiles_ms(cycles),
        **window,
    }


# --- idle ------------------------------------------------------------------------


class OneEchoListener(ClosingListener):
    """Sends one message on connect and records when the echo comes back."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.echoed = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, self.payload)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in DATA_FRAMES:
            if not self.echoed.done():
                self.echoed.set_result(None)
        else:
            super().on_ws_frame(transport, frame)


async def idle(args: argparse.Namespace) -> dict:
    if not args.server_pid:
        raise BenchError("idle needs --server-pid")
    target = Target(args.url)
    payload = b"x" * args.payload_size

    # One full connection first, so lazy imports and caches are not counted.
    warm = await target.connect_many(1, lambda: OneEchoListener(payload))
    await asyncio.wait_for(warm[0][1].echoed, 10)
    await close_all(warm)
    await asyncio.sleep(args.settle)
    before = rss_bytes(args.server_pid)

    started = time.perf_counter()
    # Refusals are a figure here ("all accepted" is a target), not an error:
    # the memory is measured over the connections that were accepted.
    connections, refused = await target.connect_some(
        args.connections, lambda: OneEchoListener(payload)
    )
    if not connections:
        raise BenchError(
            f"all {args.connections} connections were refused: {refused[0]}"
        )
    try:
        await asyncio.wait_for(
            asyncio.gather(*(listener.echoed for _, listener in connections)), 30
        )
    except asyncio.TimeoutError:
        missing = sum(not listener.echoed.done() for _, listener in connections)
        await close_all(connections)
        raise BenchError(
            f"{missing} of {len(connections)} idle connections never echoed"
        ) from None
    open_s = time.perf_counter() - started
    await asyncio.sleep(args.settle)
    after = rss_bytes(args.server_pid)
    dropped = sum(transport.is_disconnected for transport, _ in connections)
    await close_all(connections, timeout=15)
    if dropped:
        raise BenchError(
            f"{dropped} of {len(connections)} idle connections were closed by the server"
        )

    return {
        "connections": args.connections,
        "accepted": len(connections),
        "refused": len(refused),
        "first_refusal": str(refused[0]) if refused else None,
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "kib_per_conn": (after - before) / len(connections) / 1024,
        "open_s": open_s,
    }


# --- broadcast --------------------------------------------------------------------


class BroadcastRun:
    def __init__(self, members: int) -> None:
        self.members = members
        self.round = 0
        self.received = 0
        self.last_at = 0
        self.done: asyncio.Future | None = None

    def start_round(self, number: int) -> asyncio.Future:
        self.round = number
        self.received = 0
        self.done = asyncio.get_running_loop().create_future()
        return self.done


class MemberListener(ClosingListener):
    PREFIX = b"broadcast:"

    def __init__(self, run: BroadcastRun) -> None:
        self.run = run

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in DATA_FRAMES:
            data = frame.get_payload_as_bytes()
            run = self.run
            # Messages of an earlier round that come in late are ignored.
            if (
                data.startswith(self.PREFIX)
                and int(data[len(self.PREFIX) :]) == run.round
            ):
                run.received += 1
                if run.received == run.members:
                    run.last_at = perf_ns()
                    if not run.done.done():
                        run.done.set_result(None)
        else:
            super().on_ws_frame(transport, frame)


async def broadcast(args: argparse.Namespace) -> dict:
    target = Target(args.url)
    run = BroadcastRun(args.connections)
    connections = await target.connect_many(
        args.connections, lambda: MemberListener(run)
    )
    trigger = connections[0][0]

    async def one_round(number: int, timeout: float) -> float | None:
        """Broadcast once; return ms until the last member got it, None on timeout."""
        done = run.start_round(number)
        sent_at = perf_ns()
        trigger.send(WSMsgType.TEXT, b"broadcast:%d" % number)
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except asyncio.TimeoutError:
            return None
        return (run.last_at - sent_at) / 1e6

    try:
        # Warm-up rounds until one reaches every member: joining a group may
        # finish a little after the handshake, depending on the stack.
        for attempt in range(1, 11):
            if await one_round(-attempt, 5) is not None:
                break
        else:
            raise BenchError(
                f"warm-up broadcasts reached only {run.received} of {run.members} members"
            )
        cpu = CpuWindow(args.server_pid)
        cpu.start()
        samples = []
        for number in range(1, args.rounds + 1):
            ms = await one_round(number, 30)
            if ms is None:
                raise BenchError(
                    f"broadcast {number} reached only {run.received} of {run.members} members in 30 s"
                )
            samples.append(ms)
            await asyncio.sleep(args.pause)
        window = cpu.stop()
    finally:
        await close_all(connections, timeout=10)

    return {
        "members": args.connections,
        "rounds": len(samples),
        "ms": statistics.median(samples),
        "ms_min": min(samples),
        "ms_max": max(samples),
        "samples_ms": samples,
        # CPU over rounds and pauses together, so only indicative.
        **window,
    }


# --- main -------------------------------------------------------------------------

WORKLOADS = {"echo": echo, "handshake": handshake, "idle": idle, "broadcast": broadcast}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.client", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/path/")
    parser.add_argument(
        "--connections", type=int, default=50, help="connections, workers or members"
    )
    parser.add_argument(
        "--server-pid", type=int, help="server process, for CPU and RSS readings"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds before measuring"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument(
        "--payload-size", type=int, default=64, help="bytes per message"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="idle: seconds before each RSS reading",
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="broadcast: measured broadcasts"
    )
    parser.add_argument(
        "--pause", type=float, default=0.2, help="broadcast: seconds between broadcasts"
    )
    args = parser.parse_args(argv)
    host = args.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if host != "127.0.0.1":
        parser.error("the load client only connects to 127.0.0.1")
    return args


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


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
