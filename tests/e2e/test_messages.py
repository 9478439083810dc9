"""Messages and close codes through uvicorn, hypercorn and daphne."""

from __future__ import annotations

import contextlib
import json

from websockets.exceptions import ConnectionClosed

from .helpers import (
    Server,
    assert_clean,
    by_server,
    drain,
    recv,
    server_close,
    ws_connect,
)


async def test_echo_text(server: Server) -> None:
    """A text frame comes back as the same text frame."""
    async with ws_connect(server, "/ws/echo/") as ws:
        await ws.send("héllo wörld ✓")
        assert await recv(ws) == "héllo wörld ✓"


async def test_echo_binary(server: Server) -> None:
    """A binary frame comes back as the same bytes, in a binary frame."""
    payload = bytes(range(256))
    async with ws_connect(server, "/ws/echo/") as ws:
        await ws.send(payload)
        assert await recv(ws) == payload


async def test_empty_frames(server: Server) -> None:
    """Empty frames echo on uvicorn and hypercorn; daphne sends none and the library warns."""
    mark = server.mark()
    async with ws_connect(server, "/ws/echo/") as ws:
        received = []
        for empty in ("", b""):
            await ws.send(empty)
            # Messages are handled in order: the marker's echo comes after the
            # empty frame's, if any.
            await ws.send("marker")
            received.append(await recv(ws))
            if received[-1] != "marker":
                received.append(await recv(ws))
    assert received == by_server(
        server,
        uvicorn=["", "marker", b"", "marker"],
        hypercorn=["", "marker", b"", "marker"],
        daphne=["marker", "marker"],
        granian=["", "marker", b"", "marker"],
    )
    await drain(server)
    log = server.log_since(mark)
    warning = (
        "Not sending an empty frame on /ws/echo/: this server (daphne) cannot send one."
    )
    assert log.count(warning) == by_server(
        server, uvicorn=0, hypercorn=0, daphne=2, granian=0
    ), log
    assert_clean(log)


async def test_json_echo(server: Server) -> None:
    """A JSON document comes back decoded and re-encoded."""
    document = {"text": "café", "list": [1, 2.5, None, True], "nested": {"a": []}}
    async with ws_connect(server, "/ws/json/") as ws:
        await ws.send(json.dumps(document))
        assert json.loads(await recv(ws)) == document


async def test_malformed_json_closes_with_1007(server: Server) -> None:
    """Malformed JSON closes with 1007 and its reason (daphne: 4007, no reason)."""
    mark = server.mark()
    async with ws_connect(server, "/ws/json/") as ws:
        await ws.send("{not json")
        closed = await server_close(ws)
    assert closed.rcvd is not None
    assert closed.rcvd.code == by_server(
        server, uvicorn=1007, hypercorn=1007, daphne=4007, granian=1007
    )
    assert closed.rcvd.reason == by_server(
        server,
        uvicorn="Malformed JSON.",
        hypercorn="Malformed JSON.",
        daphne="",
        granian="Malformed JSON.",
    )
    await drain(server)
    log = server.log_since(mark)
    assert log.count("Malformed JSON on WebSocket /ws/json/; closing.") == 1, log
    assert_clean(log)


async def test_binary_frame_to_json_view_closes_with_1003(server: Server) -> None:
    """A binary frame on a JSON view closes with 1003 (daphne: 4003)."""
    async with ws_connect(server, "/ws/json/") as ws:
        await ws.send(b'{"a": 1}')
        closed = await server_close(ws)
    assert closed.rcvd is not None
    assert closed.rcvd.code == by_server(
        server, uvicorn=1003, hypercorn=1003, daphne=4003, granian=1003
    )
    assert closed.rcvd.reason == by_server(
        server,
        uvicorn="Binary frames are not supported.",
        hypercorn="Binary frames are not supported.",
        daphne="",
        granian="Binary frames are not supported.",
    )


async def test_exception_in_receive_closes_with_1011(server: Server) -> None:
    """An exception in receive() closes with 1011 (daphne 4011), is logged once, and the server keeps serving."""
    mark = server.mark()
    async with ws_connect(server, "/ws/boom/") as ws:
        await ws.send("kaboom-e2e")
        closed = await server_close(ws)
    server.expected_tracebacks += 1
    assert closed.rcvd is not None
    assert closed.rcvd.code == by_server(
        server, uvicorn=1011, hypercorn=1011, daphne=4011, granian=1011
    )

    async with ws_connect(server, "/ws/echo/") as ws:
        await ws.send("still serving")
        assert await recv(ws) == "still serving"

    await drain(server)
    log = server.log_since(mark)
    assert (
        log.count("ERROR django_wsviews Error in WebSocket view BoomView at /ws/boom/")
        == 1
    ), log
    assert log.count("Traceback") == 1, log
    assert log.count("RuntimeError: Boom! 'kaboom-e2e'") == 1, log
    # Nothing escaped to the server: only the library's own log record.
    assert [
        m
        for m in (
            "Exception in ASGI application",
            "Error in ASGI Framework",
            "Exception inside application",
            "E2E-ESCAPED",
        )
        if m in log
    ] == [], log


async def test_message_over_the_library_limit(server: Server) -> None:
    """A message over WSVIEWS_MAX_MESSAGE_SIZE (1 MiB) closes with 1009; daphne's own 1 MiB limit comes first."""
    limit = 2**20
    mark = server.mark()
    async with ws_connect(server, "/ws/echo/", max_size=None) as ws:
        await ws.send(b"x" * limit)
        assert len(await recv(ws)) == limit
    async with ws_connect(server, "/ws/echo/", max_size=None) as ws:
        with contextlib.suppress(ConnectionClosed):  # daphne may drop it mid-frame
            await ws.send(b"x" * (limit + 1))
        closed = await server_close(ws)
    code = closed.rcvd.code if closed.rcvd is not None else 1006
    reason = closed.rcvd.reason if closed.rcvd is not None else None
    assert (code, reason) in by_server(
        server,
        uvicorn={(1009, "Message too big.")},
        hypercorn={(1009, "Message too big.")},
        # autobahn's own limit, before the library sees the message: it drops
        # the TCP connection without a close frame.
        daphne={(1006, None)},
        granian={(1009, "Message too big.")},
    ), closed
    await drain(server)
    log = server.log_since(mark)
    assert log.count(
        "Message over 1048576 bytes on WebSocket /ws/echo/; closing."
    ) == by_server(server, uvicorn=1, hypercorn=1, daphne=0, granian=1), log
    assert_clean(log)


async def test_message_over_the_server_limit(server: Server) -> None:
    """With the library's limit raised, the server's default limit (16 MiB; daphne 1 MiB) closes with 1009."""
    limit = by_server(
        server,
        uvicorn=16 * 2**20,
        hypercorn=16 * 2**20,
        daphne=2**20,
        granian=16 * 2**20,
    )
    mark = server.mark()
    async with ws_connect(server, "/ws/big-echo/", max_size=None) as ws:
        await ws.send(b"x" * limit)
        assert len(await recv(ws, 30)) == limit
    async with ws_connect(server, "/ws/big-echo/", max_size=None) as ws:
        with contextlib.suppress(ConnectionClosed):  # daphne may drop it mid-frame
            await ws.send(b"x" * (limit + 1))
        closed = await server_close(ws)
    code = closed.rcvd.code if closed.rcvd is not None else 1006
    # daphne (autobahn) drops the TCP connection without a close frame;
    # granian sends a close frame without a code (1005).
    assert code == by_server(
        server, uvicorn=1009, hypercorn=1009, daphne=1006, granian=1005
    ), closed
    await drain(server)
    log = server.log_since(mark)
    assert "Message over" not in log, log
    assert_clean(log)


async def test_per_message_compression(server: Server) -> None:
    """uvicorn and hypercorn accept the permessage-deflate the client offers; daphne and granian do not."""
    async with ws_connect(server, "/ws/echo/") as ws:  # websockets offers it
        negotiated = [extension.name for extension in ws.protocol.extensions]
        await ws.send("echoed either way")
        assert await recv(ws) == "echoed either way"
    compressed = ["permessage-deflate"]
    assert negotiated == by_server(
        server, uvicorn=compressed, hypercorn=compressed, daphne=[], granian=[]
    )
