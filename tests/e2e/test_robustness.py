"""Clients that misbehave or leave: each case ends cleanly, and the server keeps serving."""

from __future__ import annotations

import base64
import os
import re
import socket

from .helpers import TIMEOUT, Server, assert_clean, by_server, drain, recv, ws_connect


def handshake_request(server: Server, path: str) -> bytes:
    """Return a complete WebSocket handshake request for ``path``."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode()


def raw_connection(server: Server) -> socket.socket:
    """Return a plain TCP connection to the server, with a timeout on every call."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)


async def assert_still_serving(server: Server) -> None:
    """Assert a new connection is served normally."""
    async with ws_connect(server, "/ws/echo/") as ws:
        await ws.send("still serving")
        assert await recv(ws) == "still serving"


def tagged(log: str, tag: str) -> list[str]:
    """Return the test views' log lines for ``tag``, without the logger prefix."""
    pattern = re.compile(rf"INFO e2e (e2e [a-z ]+ tag={re.escape(tag)}\b.*)$")
    return [m.group(1) for line in log.splitlines() if (m := pattern.search(line))]


async def test_normal_close_runs_disconnect(server: Server) -> None:
    """A client closing with 1000 gets 1000 back; disconnect() gets 1000 (hypercorn: always 1006)."""
    mark = server.mark()
    async with ws_connect(server, "/ws/tracked/normal/") as ws:
        await ws.send("hi")
        assert await recv(ws) == "hi"
    assert ws.close_code == 1000
    await drain(server)
    log = server.log_since(mark)
    assert tagged(log, "normal") == [
        "e2e connect tag=normal",
        by_server(
            server,
            uvicorn="e2e disconnect tag=normal code=1000",
            hypercorn="e2e disconnect tag=normal code=1006",
            daphne="e2e disconnect tag=normal code=1000",
            granian="e2e disconnect tag=normal code=1000",
        ),
    ]
    assert_clean(log)


async def test_client_closing_with_its_own_code(server: Server) -> None:
    """A client's close code is echoed (daphne answers 1000) and reaches disconnect() (hypercorn: 1006)."""
    mark = server.mark()
    async with ws_connect(server, "/ws/tracked/custom/") as ws:
        await ws.send("hi")
        assert await recv(ws) == "hi"
        await ws.close(4321, "bye")
    assert ws.close_code == by_server(
        server, uvicorn=4321, hypercorn=4321, daphne=1000, granian=4321
    )
    await drain(server)
    log = server.log_since(mark)
    assert tagged(log, "custom") == [
        "e2e connect tag=custom",
        by_server(
            server,
            uvicorn="e2e disconnect tag=custom code=4321",
            hypercorn="e2e disconnect tag=custom code=1006",
            daphne="e2e disconnect tag=custom code=4321",
            granian="e2e disconnect tag=custom code=4321",
        ),
    ]
    assert_clean(log)


async def test_client_vanishing(server: Server) -> None:
    """A client that drops the TCP connection without a close frame: disconnect() gets 1006 (uvicorn: 1005)."""
    mark = server.mark()
    async with ws_connect(server, "/ws/tracked/vanish/") as ws:
        await ws.send("hi")
        assert await recv(ws) == "hi"
        ws.transport.abort()
    await drain(server)
    log = server.log_since(mark)
    assert tagged(log, "vanish") == [
        "e2e connect tag=vanish",
        # uvicorn reports 1005 (no status) for a connection lost after the handshake.
        by_server(
            server,
            uvicorn="e2e disconnect tag=vanish code=1005",
            hypercorn="e2e disconnect tag=vanish code=1006",
            daphne="e2e disconnect tag=vanish code=1006",
            granian="e2e disconnect tag=vanish code=1005",
        ),
    ]
    assert_clean(log)


async def test_half_a_handshake_then_gone(server: Server) -> None:
    """A client that sends half a handshake and leaves never reaches the view; nothing is logged as an error."""
    mark = server.mark()
    with raw_connection(server) as sock:
        request = handshake_request(server, "/ws/tracked/half/")
        sock.sendall(request[: len(request) // 2])
    await assert_still_serving(server)
    await drain(server)
    log = server.log_since(mark)
    assert tagged(log, "half") == []
    assert_clean(log)


async def test_client_gone_while_connect_runs(server: Server) -> None:
    """A client leaving while connect() runs: accept() on the gone client is harmless and disconnect() runs once."""
    mark = server.mark()
    with raw_connection(server) as sock:
        sock.sendall(handshake_request(server, "/ws/hold/gone/"))
        # Once connect() is under way, the client leaves.
        async with ws_connect(server, "/ws/started/gone/") as ws:
            assert await recv(ws) == "started"
    async with ws_connect(server, "/ws/release/gone/") as ws:
        assert await recv(ws) == "released"
    await drain(server)
    log = server.log_since(mark)
    lines = tagged(log, "gone")
    # accept() raises ConnectionClosed on uvicorn (handled by the library: the
    # rest of connect() is skipped); hypercorn and daphne drop it silently.
    assert lines == [
        *by_server(
            server,
            uvicorn=["e2e connect tag=gone", "e2e accepting tag=gone"],
            hypercorn=[
                "e2e connect tag=gone",
                "e2e accepting tag=gone",
                "e2e accepted tag=gone",
            ],
            daphne=[
                "e2e connect tag=gone",
                "e2e accepting tag=gone",
                "e2e accepted tag=gone",
            ],
            granian=[
                "e2e connect tag=gone",
                "e2e accepting tag=gone",
                "e2e accepted tag=gone",
            ],
        ),
        # granian reports 1005 (no status) for a connection lost, as uvicorn
        # does after the handshake.
        by_server(
            server,
            uvicorn="e2e disconnect tag=gone code=1006",
            hypercorn="e2e disconnect tag=gone code=1006",
            daphne="e2e disconnect tag=gone code=1006",
            granian="e2e disconnect tag=gone code=1005",
        ),
    ], log
    assert_clean(log)
    await assert_still_serving(server)


async def test_client_that_stops_reading_then_closes(server: Server) -> None:
    """A client that stops reading mid-flood then closes: its close frame gets through, the view ends, no error."""
    mark = server.mark()
    count, size = 400, 64 * 1024  # 25 MiB: more than the socket buffers hold
    async with ws_connect(server, "/ws/flood/lazy/", close_timeout=0.5) as ws:
        await ws.send(f"{count} {size}")
        assert len(await recv(ws)) == size  # the flood is under way
        # ... and the client reads nothing more. The server's close frame is
        # queued behind megabytes the client never reads, so the client's
        # close handshake cannot complete: it gives up after close_timeout.
        # granian sometimes gets its answer through first (1000).
    assert ws.close_code in by_server(
        server, uvicorn={1006}, hypercorn={1006}, daphne={1006}, granian={1000, 1006}
    )
    await drain(server)
    log = server.log_since(mark)
    # How far the view got, and whether the server read the client's close
    # frame (1000) before the connection dropped (1006), depends on timing and
    # on how much the server buffers; the view ends either way.
    lines = [line for line in tagged(log, "lazy") if "disconnect" in line]
    assert len(lines) == 1, log
    match = re.fullmatch(r"e2e disconnect tag=lazy code=(\d+) sent=(\d+)", lines[0])
    assert match is not None, lines
    assert int(match.group(1)) in (1000, 1006), log
    assert_clean(log)
    await assert_still_serving(server)


async def test_client_vanishing_mid_flood_interrupts_a_view_that_yields(
    server: Server,
) -> None:
    """A client dropping the connection mid-flood cancels a sending view that gives the loop a turn."""
    mark = server.mark()
    count, size = 20000, 1024
    async with ws_connect(server, "/ws/flood/yielding/") as ws:
        await ws.send(f"{count} {size} 1")
        assert len(await recv(ws)) == size  # the flood is under way
        ws.transport.abort()
    await drain(server)
    log = server.log_since(mark)
    lines = tagged(log, "yielding")
    assert len(lines) == 1, log  # no "flood finished": the hook was cancelled
    match = re.fullmatch(r"e2e disconnect tag=yielding code=(\d+) sent=(\d+)", lines[0])
    assert match is not None, lines
    assert int(match.group(1)) == by_server(
        server, uvicorn=1006, hypercorn=1006, daphne=1006, granian=1005
    ), log
    assert 1 <= int(match.group(2)) < count
    assert_clean(log)
    await assert_still_serving(server)


async def test_client_vanishing_mid_flood_interrupts_a_view_that_never_yields(
    server: Server,
) -> None:
    """A view sending in a loop that never suspends is still stopped when the client leaves."""
    # No server raises on the first sends to a gone client and such sends do
    # not suspend; send() gives the loop a turn every YIELD_EVERY sends, so
    # the disconnect is read and the hook cancelled.
    mark = server.mark()
    # Enough that the flood outlasts the client's leaving on a server that
    # buffers every send without pushing back (granian).
    count, size = 20000, 1024
    async with ws_connect(server, "/ws/flood/greedy/") as ws:
        await ws.send(f"{count} {size}")
        assert len(await recv(ws)) == size  # the flood is under way
        ws.transport.abort()
    await drain(server)
    log = server.log_since(mark)
    lines = tagged(log, "greedy")
    assert len(lines) == 1, log  # no "flood finished": the hook was cancelled
    match = re.fullmatch(r"e2e disconnect tag=greedy code=(\d+) sent=(\d+)", lines[0])
    assert match is not None, lines
    assert int(match.group(1)) in (1005, 1006), log
    assert 1 <= int(match.group(2)) < count
    assert_clean(log)
    await assert_still_serving(server)
