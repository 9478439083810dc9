"""Unit tests of django_wsviews.status: close codes and their mapping for restricted servers."""

from __future__ import annotations

import ast
import inspect

import pytest

from django_wsviews import status
from django_wsviews.status import CloseCode, close_code_for_restricted_server

#: RFC 6455 section 7.4.1, plus the later IANA registrations 1012-1014.
RFC_6455_CODES = {
    "NORMAL_CLOSURE": 1000,
    "GOING_AWAY": 1001,
    "PROTOCOL_ERROR": 1002,
    "UNSUPPORTED_DATA": 1003,
    "NO_STATUS_RCVD": 1005,
    "ABNORMAL_CLOSURE": 1006,
    "INVALID_PAYLOAD": 1007,
    "POLICY_VIOLATION": 1008,
    "MESSAGE_TOO_BIG": 1009,
    "MANDATORY_EXTENSION": 1010,
    "INTERNAL_ERROR": 1011,
    "SERVICE_RESTART": 1012,
    "TRY_AGAIN_LATER": 1013,
    "BAD_GATEWAY": 1014,
    "TLS_HANDSHAKE": 1015,
}


@pytest.mark.parametrize(("name", "value"), sorted(RFC_6455_CODES.items()))
def test_registered_codes(name: str, value: int) -> None:
    """Each registered close code has its RFC 6455 / IANA value."""
    assert CloseCode[name] == value
    assert CloseCode(value).name == name


def test_no_code_1004() -> None:
    """1004 is reserved with no meaning, so CloseCode has no member for it."""
    with pytest.raises(ValueError, match="1004"):
        CloseCode(1004)


def test_application_codes_in_private_range() -> None:
    """The library's own codes lie in 4000-4999 and mirror HTTP 401 and 403."""
    assert CloseCode.UNAUTHORIZED == 4401
    assert CloseCode.FORBIDDEN == 4403
    extra = set(CloseCode.__members__) - set(RFC_6455_CODES)
    assert extra == {"UNAUTHORIZED", "FORBIDDEN"}
    assert all(4000 <= CloseCode[name] <= 4999 for name in extra)


def test_close_codes_are_ints() -> None:
    """CloseCode members are ints, usable wherever a close code is expected."""
    assert isinstance(CloseCode.GOING_AWAY, int)
    assert CloseCode.GOING_AWAY + 0 == 1001
    assert f"{int(CloseCode.GOING_AWAY)}" == "1001"


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


def test_sendable_registered_codes() -> None:
    """The registered codes a server may send: 1000-1014 less 1004 (unassigned), 1005 and 1006."""
    assert set(status.SENDABLE_REGISTERED_CODES) == {
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014
    }  # fmt: skip


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 1012, 1014, 3000, 4403, 4999])
def test_check_close_accepts_sendable_codes(code: int) -> None:
    """Registered sendable codes and 3000-4999 pass the check."""
    status.check_close(code, "")


@pytest.mark.parametrize(
    "code", [999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, -1]
)
def test_check_close_refuses_other_codes(code: int) -> None:
    """Reserved, never-sent and unassigned codes are refused, naming the code."""
    with pytest.raises(ValueError, match=str(code)):
        status.check_close(code, "")


def test_check_close_limits_the_reason_in_utf8_bytes() -> None:
    """A reason of 123 bytes passes; 124 bytes (in 4-byte characters) is refused."""
    status.check_close(1000, "a" * 123)
    status.check_close(1000, "\U0001f600" * 30 + "abc")  # 123 bytes
    with pytest.raises(ValueError, match="123 bytes"):
        status.check_close(1000, "\U0001f600" * 31)  # 124 bytes
