"""Start-up and shutdown (the lifespan protocol) under uvicorn, hypercorn and daphne."""

from __future__ import annotations

import asyncio
import http.client
import re
from collections.abc import Callable

import pytest

from .helpers import (
    SERVER_PARAMS,
    TIMEOUT,
    Server,
    assert_clean,
    by_server,
    recv,
    server_close,
    ws_connect,
)


def test_lifespan_startup(server: Server) -> None:
    """uvicorn and hypercorn run the application's lifespan start-up without complaint; daphne has none."""
    log = server.log()
    assert re.findall(r"e2e lifespan [\w.]+", log) == by_server(
        server,
        uvicorn=["e2e lifespan lifespan.startup.complete"],
        hypercorn=["e2e lifespan lifespan.startup.complete"],
        daphne=[],
        granian=["e2e lifespan lifespan.startup.complete"],
    ), log
    assert "ASGI 'lifespan' protocol appears unsupported" not in log  # uvicorn
    assert "ASGI Framework Lifespan error" not in log  # hypercorn
    if server.name == "uvicorn":
        assert "Application startup complete." in log


def idle_keep_alive_connection(server: Server) -> http.client.HTTPConnection:
    """Return an HTTP/1.1 connection that served one request and is now idle (kept alive)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", "/hello/")
    response = conn.getresponse()
    assert response.status == 200
    assert response.read() == b"hello from django\n"
    assert response.getheader("connection", "").lower() != "close"
    return conn


def closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """Block (up to TIMEOUT) until the server closes the idle connection; return whether it did."""
    assert conn.sock is not None
    return conn.sock.recv(1) == b""


@pytest.mark.parametrize("name", SERVER_PARAMS)
async def test_sigterm_with_an_open_connection(
    name: str, fresh_server: Callable[..., Server]
) -> None:
    """SIGTERM with a WebSocket open: what the client sees, whether disconnect() runs, a clean exit."""
    # uvicorn closes the socket with 1012 before the lifespan shutdown and
    # disconnect() gets 1012. hypercorn closes idle HTTP connections but
    # leaves the WebSocket open until the client leaves (its shutdown waits for
    # every connection), then exits. daphne drops the TCP connection without a
    # close frame and without telling the application: disconnect() never runs.
    server = fresh_server(name)
    async with ws_connect(server, "/ws/tracked/open/") as ws:
        await ws.send("before")
        assert await recv(ws) == "before"
        keep_alive = idle_keep_alive_connection(server) if name == "hypercorn" else None

        server.terminate()

        if keep_alive is not None:
            # hypercorn is shutting down once it closes idle connections...
            try:
                assert await asyncio.to_thread(closed_by_server, keep_alive)
            finally:
                keep_alive.close()
            # ... and the WebSocket is still served.
            await ws.send("during shutdown")
            assert await recv(ws) == "during shutdown"
            client_saw = None  # the client closes: leaving the block sends 1000
        else:
            closed = await server_close(ws)
            client_saw = closed.rcvd.code if closed.rcvd is not None else 1006
    # granian drops its connections as it shuts down, racing the library's
    # 1012: the client gets that close frame or sees the connection dropped.
    assert client_saw in by_server(
        server, uvicorn={1012}, hypercorn={None}, daphne={1006}, granian={1012, 1006}
    )

    status = await asyncio.to_thread(server.wait)
    # uvicorn re-raises the signal after its graceful shutdown.
    assert status == by_server(server, uvicorn=-15, hypercorn=0, daphne=0, granian=0)
    log = server.log()
    # (1006 is what hypercorn reports for any close by the client.)
    # granian: 1012 when the library's close went first, else 1005 (lost).
    assert re.findall(r"e2e disconnect tag=open code=\d+", log) in by_server(
        server,
        uvicorn=[["e2e disconnect tag=open code=1012"]],
        hypercorn=[["e2e disconnect tag=open code=1006"]],
        daphne=[[]],
        granian=[
            ["e2e disconnect tag=open code=1012"],
            ["e2e disconnect tag=open code=1005"],
        ],
    ), log
    assert re.findall(r"e2e lifespan [\w.]+", log) == by_server(
        server,
        uvicorn=[
            "e2e lifespan lifespan.startup.complete",
            "e2e lifespan lifespan.shutdown.complete",
        ],
        hypercorn=[
            "e2e lifespan lifespan.startup.complete",
            "e2e lifespan lifespan.shutdown.complete",
        ],
        daphne=[],
        granian=[
            "e2e lifespan lifespan.startup.complete",
            "e2e lifespan lifespan.shutdown.complete",
        ],
    ), log
    assert_clean(log)
