"""
The load client of the ``compression`` workload: broadcasts to members that
offer permessage-deflate (RFC 7692), as browsers do.

picows, the other workloads' client, does not implement the extension, so the
members here are a minimal client on uvloop's transports, like the handshake
workload's: an upgrade request offering ``permessage-deflate;
client_max_window_bits``, then frame parsing, with each compressed message
inflated (one ``zlib`` decompressor per connection, since the server keeps its
context between messages unless it says otherwise). The same client runs
whether the server compresses or not, so the two figures differ by the
server's work and the bytes on the wire only.

One member sends ``broadcast:<k>|<JSON, --message-size bytes>``; the time until
the last member has inflated it is one sample. ``--expect-deflate yes|no``
makes the run fail if the server did (not) agree to compress.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import statistics
import sys
import time
import zlib

import uvloop

from bench.client import (
    MASK,
    WS_GUID,
    WS_KEY,
    BenchError,
    Target,
    client_frame,
    raise_fd_limit,
)
from bench.procstat import CpuWindow

perf_ns = time.perf_counter_ns
CONNECT_CONCURRENCY = 100
TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: removed by the sender, put back to inflate


def chat_message(size: int, first: int) -> bytes:
    """
    A JSON chat payload of about ``size`` bytes: what fan-out apps send. Each
    broadcast gets other ids and texts (from ``first``), so a server keeping
    its compression context between messages gains only what real messages
    have in common, not a repeat.
    """
    items, k = [], first
    while len(json.dumps(items)) < size:
        items.append(
            {
                "type": "chat.message",
                "room": "lobby",
                "id": 100000 + k,
                "user": {"id": 4200 + k % 7, "name": f"user{k % 7}"},
                "text": f"message {k * 7919 % 100003} about release {k % 13}.{k % 5}",
                "sent_at": f"2026-11-30T04:{k % 60:02d}:00Z",
            }
        )
        k += 1
    return json.dumps(items).encode()


class Run:
    def __init__(self, members: int) -> None:
        self.members = members
        self.round = 0
        self.received = 0
        self.wire_bytes = 0  # payload bytes of the last round's frames, all members
        self.last_at = 0
        self.done: asyncio.Future | None = None
        self.problems: list[str] = []


class Member(asyncio.Protocol):
    def __init__(self, run: Run, request: bytes, accept: bytes) -> None:
        self.run, self.request, self.accept = run, request, accept
        self.buffer = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.deflate = False
        self.reset_each_message = False
        self.inflater = zlib.decompressobj(-15)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end].lower(), self.buffer[end + 4 :]
            if not head.startswith(b"http/1.1 101") or self.accept.lower() not in head:
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                self.upgraded.set_exception(BenchError(f"handshake refused: {status}"))
                return
            self.deflate = b"permessage-deflate" in head
            self.reset_each_message = b"server_no_context_takeover" in head
            self.upgraded.set_result(self.deflate)
        while (frame := self.next_frame()) is not None:
            self.on_frame(*frame)

    def next_frame(self) -> tuple[int, bool, bytes] | None:
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        n, pos = buffer[1] & 0x7F, 2
        if n == 126:
            n, pos = int.from_bytes(buffer[2:4], "big"), 4
        elif n == 127:
            n, pos = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < pos + n:
            return None
        self.buffer = buffer[pos + n :]
        if not buffer[0] & 0x80:
            self.run.problems.append(
                "a fragmented message (not handled by this client)"
            )
        return buffer[0] & 0x0F, bool(buffer[0] & 0x40), buffer[pos : pos + n]

    def on_frame(self, opcode: int, compressed: bool, payload: bytes) -> None:
        if opcode == 0x9:  # ping
            self.transport.write(client_frame(0xA, payload))
            return
        if opcode == 0x8:
            self.transport.close()
            return
        if opcode not in (0x1, 0x2):
            return
        wire = len(payload)
        if compressed:
            if self.reset_each_message:
                self.inflater = zlib.decompressobj(-15)
            payload = self.inflater.decompress(payload + TAIL)
        run = self.run
        head = payload.split(b"|", 1)[0]
        if head.startswith(b"broadcast:") and int(head[10:]) == run.round:
            run.received += 1
            run.wire_bytes += wire
            if run.received == run.members:
                run.last_at = perf_ns()
                if run.done is not None and not run.done.done():
                    run.done.set_result(None)

    def send_text(self, payload: bytes) -> None:
        self.transport.write(client_frame(0x1, payload))

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(client_frame(0x8, (1000).to_bytes(2, "big")))


def upgrade_request(url: str, origin: str) -> tuple[str, int, bytes, bytes]:
    host_port, _, path = url.split("://", 1)[1].partition("/")
    host, _, port = host_port.rpartition(":")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    accept = base64.b64encode(hashlib.sha1((WS_KEY + WS_GUID).encode()).digest())
    return host, int(port), request.encode(), accept


async def compression(args: argparse.Namespace) -> dict:
    assert len(MASK) == 4
    host, port, request, accept = upgrade_request(
        args.url, Target(args.url).headers["Origin"]
    )
    loop = asyncio.get_running_loop()
    run = Run(args.connections)
    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect() -> Member:
        async with semaphore:
            _, member = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Member(run, request, accept), host, port
                ),
                10,
            )
            await asyncio.wait_for(member.upgraded, 10)
            return member

    results = await asyncio.gather(
        *(connect() for _ in range(args.connections)), return_exceptions=True
    )
    members = [r for r in results if isinstance(r, Member)]
    try:
        errors = [r for r in results if not isinstance(r, Member)]
        if errors:
            raise BenchError(
                f"{len(errors)} members failed to connect; first: {errors[0]!r}"
            )
        negotiated = sum(m.deflate for m in members)
        want = args.connections if args.expect_deflate == "yes" else 0
        if negotiated != want:
            raise BenchError(
                f"{negotiated} of {len(members)} members got permessage-deflate, "
                f"expected {want}"
            )

        async def one_round(number: int, timeout: float) -> float | None:
            run.round, run.received, run.wire_bytes = number, 0, 0
            run.done = loop.create_future()
            sent_at = perf_ns()
            members[0].send_text(
                b"broadcast:%d|" % number
                + chat_message(args.message_size, number * 100)
            )
            try:
                await asyncio.wait_for(asyncio.shield(run.done), timeout)
            except asyncio.TimeoutError:
                return None
            return (run.last_at - sent_at) / 1e6

        for attempt in range(1, 11):
            if await one_round(-attempt, 5) is not None:
                break
        else:
            raise BenchError(f"warm-up reached only {run.received} of {run.members}")
        cpu = CpuWindow(args.server_pid)
        cpu.start()
        samples, wire = [], []
        for number in range(1, args.rounds + 1):
            ms = await one_round(number, 30)
            if ms is None:
                raise BenchError(
                    f"broadcast {number} reached {run.received} of {run.members}"
                )
            samples.append(ms)
            wire.append(run.wire_bytes / run.members)
            await asyncio.sleep(args.pause)
        window = cpu.stop()
        if run.problems:
            raise BenchError(run.problems[0])
    finally:
        for member in members:
            member.close()
        await asyncio.sleep(0.5)  # the server's closes, then drop what's left
        for member in members:
            member.transport.abort()

    return {
        "members": args.connections,
        "deflate": bool(negotiated),
        "message_bytes": len(chat_message(args.message_size, 100))
        + len(b"broadcast:1|"),
        "wire_bytes": statistics.median(wire),
        "ms": statistics.median(samples),
        "ms_min": min(samples),
        "samples_ms": samples,
        "server_cpu": window["server_cpu"],
        "client_cpu": window["client_cpu"],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.deflate_client", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("workload", choices=["compression"])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ws/group/")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--message-size", type=int, default=1024)
    parser.add_argument("--expect-deflate", choices=["yes", "no"], required=True)
    args = parser.parse_args(argv)
    host = args.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if host != "127.0.0.1":
        parser.error("the load client only connects to 127.0.0.1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    try:
        result = uvloop.run(compression(args))
    except BenchError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
