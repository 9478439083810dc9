"""
Property-based tests: hostile handshakes and frames end in defined outcomes.

Hypothesis drives the application through the test client with random paths,
headers, query strings, origins, subprotocol lists and frames. Whatever it
sends, every connection must end accepted or refused with a defined status,
and closed with a defined code; nothing may be logged at ERROR (an exception
reaching the server) and no task may be left running. (Django's own ``django.security.*`` records
for a refused Host are the defined answer, not a crash.)
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_wsviews import CloseCode, ConnectionClosed
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient

#: Routes whose views answer every message (or close).
ECHOES = ["/ws/echo/", "/ws/json/", "/ws/small/"]

#: Routes whose views handle any input without error.
ROUTES = [*ECHOES, "/ws/subprotocol/", "/ws/info/a/1/"]

#: Refusals a hostile handshake may get: bad Host, foreign Origin, no route.
REFUSALS = {400, 403, 404}

#: Close codes hostile frames may cause; 1011 would mean a crash.
CLOSES = {
    CloseCode.NORMAL_CLOSURE,
    CloseCode.UNSUPPORTED_DATA,
    CloseCode.INVALID_PAYLOAD,
    CloseCode.MESSAGE_TOO_BIG,
}

latin1 = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=12)
header_name = st.text("abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=20)

paths = st.one_of(
    st.sampled_from(ROUTES),
    st.builds(lambda route, junk: route + junk, st.sampled_from(ROUTES), latin1),
    st.text(max_size=60).map(lambda text: "/" + text.replace("?", "")),
    st.lists(
        st.sampled_from(["%00", "%ff", "%C3%A9", "..", "%2F", "ws", "é"]), max_size=6
    ).map(lambda parts: "/" + "/".join(parts)),
)
queries = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
origins = st.one_of(
    st.none(),
    st.just("http://testserver"),
    st.sampled_from(["null", "https://evil.example", "http://testserver:1", "file://"]),
    latin1,
)
hosts = st.one_of(st.just("testserver"), st.just("localhost"), latin1)
frames = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.binary(max_size=30),
        st.builds(
            json.dumps,
            st.recursive(
                st.none() | st.integers() | st.text(max_size=5),
                lambda c: (
                    st.lists(c, max_size=3)
                    | st.dictionaries(st.text(max_size=3), c, max_size=3)
                ),
                max_leaves=8,
            ),
        ),
        st.just(b"\xff\xfe\x00 not utf-8"),
        st.integers(min_value=9, max_value=64).map(lambda n: "x" * n),
    ),
    max_size=5,
)


async def scenario(
    path: str,
    query: str,
    host: str,
    origin: str | None,
    subprotocols: list[str],
    extra_headers: list[tuple[str, str]],
    messages: list[str | bytes],
) -> None:
    headers = list(extra_headers)
    if origin is not None:
        headers.append(("origin", origin))
    client = WebSocketClient(host=host or "testserver", timeout=2)
    before = asyncio.all_tasks()
    refused_with = closed_with = None
    try:
        ws = await client.connect(
            f"{path}?{query}", headers=headers, subprotocols=subprotocols
        )
    except HandshakeRejected as refused:
        refused_with = refused.status
    else:
        try:
            for message in messages:
                await ws.send(message)
                if path in ECHOES:
                    reply = await ws.receive()
                    assert isinstance(reply, (str, bytes))
        except ConnectionClosed as closed:
            closed_with = closed.code
        finally:
            await ws.close()
    assert refused_with is None or refused_with in REFUSALS, refused_with
    assert closed_with is None or closed_with in CLOSES, closed_with
    await asyncio.sleep(0)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not leftover, leftover


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=paths,
    query=queries,
    host=hosts,
    origin=origins,
    subprotocols=st.lists(token, max_size=4),
    extra_headers=st.lists(st.tuples(header_name, latin1), max_size=4),
    messages=frames,
)
def test_hostile_input_ends_in_defined_outcomes(
    caplog: pytest.LogCaptureFixture,
    path: str,
    query: str,
    host: str,
    origin: str | None,
    subprotocols: list[str],
    extra_headers: list[tuple[str, str]],
    messages: list[str | bytes],
) -> None:
    """Any handshake and frames end in a defined refusal or close, never an error."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        asyncio.run(
            scenario(path, query, host, origin, subprotocols, extra_headers, messages)
        )
    # Django logs a refused Host on django.security.DisallowedHost at ERROR:
    # that is the defined answer, not a crash.
    errors: list[Any] = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and not r.name.startswith("django.security.")
    ]
    assert not errors, [r.getMessage() for r in errors]
