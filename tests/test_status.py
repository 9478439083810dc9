"""Unit tests of django_wsviews.status: close codes and their mapping for restricted servers."""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any

import pytest

from django_wsviews import status
from django_wsviews.status import CloseCode, close_code_for_restricted_server
from django_wsviews.testing import WebSocketClient

#: RFC 6455 section 7.4.1 and the later IANA registrations (1012-1014): the
#: codes a server may send, by their CloseCode names, and the library's own.
SENDABLE = {
    "NORMAL_CLOSURE": 1000,
    "GOING_AWAY": 1001,
    "PROTOCOL_ERROR": 1002,
    "UNSUPPORTED_DATA": 1003,
    "INVALID_PAYLOAD": 1007,
    "POLICY_VIOLATION": 1008,
    "MESSAGE_TOO_BIG": 1009,
    "MANDATORY_EXTENSION": 1010,
    "INTERNAL_ERROR": 1011,
    "SERVICE_RESTART": 1012,
    "TRY_AGAIN_LATER": 1013,
    "BAD_GATEWAY": 1014,
    "UNAUTHORIZED": 4401,  # the library's own, mirroring HTTP 401
    "FORBIDDEN": 4403,  # and 403
}
#: Registered codes that only ever describe a close: never sent in a frame.
NEVER_SENT = {"NO_STATUS_RCVD": 1005, "ABNORMAL_CLOSURE": 1006, "TLS_HANDSHAKE": 1015}


@pytest.mark.parametrize(("name", "number"), sorted(SENDABLE.items()))
async def test_a_close_code_reaches_the_client_as_its_number(
    promise_urls: dict[str, list[Any]], name: str, number: int
) -> None:
    """A view that closes with a CloseCode member sends its registered number on the wire."""
    async with WebSocketClient().connect("/ws/close-by-name/") as ws:
        await ws.send(name)
        closed = await ws.wait_closed()
    assert (type(closed.code), closed.code, closed.reason) == (int, number, "by name")


def test_every_member_is_either_sendable_or_never_sent() -> None:
    """CloseCode has the codes above and no other (none for 1004, which means nothing)."""
    assert set(CloseCode.__members__) == set(SENDABLE) | set(NEVER_SENT)


def test_restricted_normal_closure_unchanged() -> None:
    """1000 is sent as is to a restricted server."""
    assert close_code_for_restricted_server(1000) == 1000


@pytest.mark.parametrize(
    ("code", "expected"), [(1001, 4001), (1008, 4008), (1011, 4011), (1999, 4999)]
)
def test_restricted_registered_codes_moved_to_4xxx(code: int, expected: int) -> None:
    """A 1001-1999 code is sent as 4000 + its last three digits."""
    assert close_code_for_restricted_server(code) == expected


@pytest.mark.parametrize("code", [3000, 3999, 4000, 4011, 4403, 4999])
def test_restricted_application_codes_unchanged(code: int) -> None:
    """Codes in 3000-4999 pass unchanged."""
    assert close_code_for_restricted_server(code) == code


@pytest.mark.parametrize("code", [0, 999, 2000, 2999, 5000, 65535, -1])
def test_restricted_out_of_range_becomes_1000(code: int) -> None:
    """A code outside 1000-4999 (or in the unassigned 2000-2999) becomes 1000."""
    assert close_code_for_restricted_server(code) == 1000


def test_restricted_accepts_closecode_and_returns_int() -> None:
    """A CloseCode member is mapped like its value, and the result compares as an int."""
    assert close_code_for_restricted_server(CloseCode.INTERNAL_ERROR) == 4011
    assert close_code_for_restricted_server(CloseCode.NORMAL_CLOSURE) == 1000
    result = close_code_for_restricted_server(2500)
    assert type(result) is int


def test_restricted_results_are_acceptable() -> None:
    """Whatever the input, the result is 1000 or within 3000-4999 (all daphne accepts)."""
    for code in range(-10, 6000):
        result = close_code_for_restricted_server(code)
        assert result == 1000 or 3000 <= result <= 4999, code


def test_status_imports_nothing_from_django() -> None:
    """status.py imports nothing from Django, so any layer may use it."""
    tree = ast.parse(inspect.getsource(status))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert not any(name == "django" or name.startswith("django.") for name in imported)


@pytest.mark.parametrize(
    ("code", "number"),
    [(code, code) for code in (999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, -1)]
    + [(CloseCode[name], number) for name, number in NEVER_SENT.items()],
)
def test_check_close_refuses_other_codes(code: int, number: int) -> None:
    """Reserved, never-sent and unassigned codes are refused, naming the code's number."""
    with pytest.raises(ValueError, match=rf"(?<!\d){re.escape(str(number))}(?!\d)"):
        status.check_close(code, "")


async def test_a_reason_of_123_bytes_reaches_the_client_and_124_are_refused() -> None:
    """A reason is limited in UTF-8 bytes: 123 (in 4-byte characters) go out whole, 124 are refused."""
    reason = "\U0001f600" * 30 + "abc"  # 123 bytes
    async with WebSocketClient().connect("/ws/close/") as ws:
        await ws.send(f"1000 {reason}")
        closed = await ws.wait_closed()
    assert (closed.code, closed.reason) == (1000, reason)
    with pytest.raises(ValueError, match="123 bytes"):
        status.check_close(1000, "\U0001f600" * 31)  # 124 bytes
    with pytest.raises(ValueError, match="123 bytes"):
        status.check_close(1000, "a" * 124)
