"""
WebSocket close codes (RFC 6455 section 7.4, and the IANA registry).

This module imports nothing from Django so that any layer may use it.
"""

from __future__ import annotations

import enum

__all__ = [
    "SENDABLE_REGISTERED_CODES",
    "CloseCode",
    "check_close",
    "close_code_for_restricted_server",
    "is_sendable",
]


class CloseCode(enum.IntEnum):
    """Close codes a server sends, or receives, in a WebSocket close frame."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    # Application codes used by django-wsviews' own helpers (4000-4999 is the
    # private range, free for applications).
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403


def close_code_for_restricted_server(code: int) -> int:
    """
    Return the code to send to a server that only accepts 1000 and 3000-4999.

    Daphne (through autobahn) raises on any other code. A registered code such
    as 1011 is sent as 4000 + its last three digits (1011 becomes 4011) so the
    client can still tell the reasons apart; the mapping is documented in the
    server matrix.
    """
    if code == CloseCode.NORMAL_CLOSURE or 3000 <= code <= 4999:
        return code
    if 1000 < code < 2000:
        return 4000 + code - 1000
    return int(CloseCode.NORMAL_CLOSURE)


#: Registered codes that must never appear in a close frame (RFC 6455 7.4.1):
#: they report what the other side saw, not what it was told.
_NEVER_SENT = frozenset(
    {CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE}
)

#: The registered codes a server may send: every 1xxx member of CloseCode but
#: the never-sent ones. 1004 and 1016-2999 are reserved and unassigned.
SENDABLE_REGISTERED_CODES = frozenset(
    code for code in CloseCode if code < 3000 and code not in _NEVER_SENT
)

#: The largest close reason, in bytes of UTF-8 (a control frame is 125 bytes).
MAX_REASON_BYTES = 123


def is_sendable(code: int) -> bool:
    """Return whether a server may send ``code``: a registered code, or 3000-4999."""
    return code in SENDABLE_REGISTERED_CODES or 3000 <= code <= 4999


def check_close(code: int, reason: str) -> None:
    """
    Raise :class:`ValueError` unless ``code`` and ``reason`` may go in a close frame.

    The one check behind ``close()``, ``close_soon()`` and
    ``close_user_sockets()``: ``code`` must be sendable (:func:`is_sendable`)
    and ``reason`` at most 123 bytes of UTF-8.
    """
    if not is_sendable(code):
        raise ValueError(
            f"{code} is not a close code a server may send: use a CloseCode "
            "member (1000-1014, less 1005 and 1006) or an application code in "
            "3000-4999."
        )
    if len(reason.encode()) > MAX_REASON_BYTES:
        raise ValueError(
            f"A close reason is limited to {MAX_REASON_BYTES} bytes of UTF-8."
        )
