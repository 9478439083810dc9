"""The scopes of handshakes, as an ASGI server gives them, for tests that build requests from them."""

from __future__ import annotations

from typing import Any

HOST = (b"host", b"testserver")


def websocket_scope(
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    path: str = "/ws/echo/",
    query_string: bytes = b"",
    **extra: Any,
) -> dict[str, Any]:
    """Return a websocket scope as uvicorn gives it (no "method"); ``extra`` replaces keys."""
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("10.1.2.3", 50123),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "headers": [HOST] if headers is None else headers,
        "subprotocols": [],
        "extensions": {},
    }
    scope.update(extra)
    return scope
