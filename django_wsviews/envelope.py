"""
The one wire format of group messages, shared by every backend.

A broadcast is serialized once, by the process that sends it, into bytes: a
JSON header line, then the payload::

    {"v":1,"g":"room.lobby","k":"t","s":"3f2a..."}\\n<payload>

``k`` is the kind: ``"t"`` for text (the payload is UTF-8; JSON broadcasts
are text, encoded once by the sender), ``"b"`` for bytes, ``"c"`` for a close
request (``"c"`` holds the code, ``"r"`` the reason, and there is no payload).
``s`` (the sender) and ``m`` (metadata) are optional. ``q`` is the seq of a
message to a group with history (``"<epoch>:<offset>"``), put first in the
header by the history store that numbered it (see
:mod:`django_wsviews.history`); decoding adds it to the message's JSON
object as ``"seq"``. Backends move these
bytes unchanged; each receiving process decodes them once, into one
:class:`GroupMessage` that all its local members share.

This module imports nothing from Django.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["CloseRequest", "GroupMessage", "decode", "encode_close", "encode_message"]

VERSION = 1

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class GroupMessage:
    """
    A message broadcast to a group, as a view's ``receive_group()`` gets it.

    ``data`` is what the client gets by default: ``str`` for a text frame
    (JSON broadcasts arrive as their encoded text), ``bytes`` for a binary
    frame. ``sender`` is whatever the broadcaster passed as ``sender=`` (a
    view's :attr:`~django_wsviews.WebSocketView.connection_id`, say), or
    None. ``meta`` is the read-only mapping passed as ``meta=``, decoded
    once per process, for filtering without decoding ``data``. ``seq`` is
    the message's place in the group's history (``"<epoch>:<offset>"``),
    also in ``data`` as its ``"seq"`` key, or None for a group without
    history. One instance
    is shared by every member of the group in the process: treat it as
    read-only.
    """

    group: str
    data: str | bytes
    sender: str | None = None
    # A factory, not a default: dataclasses refuse an unhashable default, and
    # mappingproxy is only hashable from Python 3.12.
    meta: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    seq: str | None = None

    def json(self) -> Any:
        """Decode ``data`` as JSON; raise ValueError if it is not JSON text."""
        if not isinstance(self.data, str):
            raise ValueError("A binary group message is not JSON.")
        return json.loads(self.data)


@dataclass(frozen=True)
class CloseRequest:
    """A request to close every member of ``group`` with ``code`` and ``reason``."""

    group: str
    code: int
    reason: str = ""


def _header(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode() + b"\n"


def encode_message(
    group: str,
    data: str | bytes,
    *,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """
    Return the wire form of a message to ``group``.

    Raise TypeError if ``data`` is not str or bytes, or if ``meta`` does not
    serialize as JSON, and UnicodeEncodeError for text that is not valid
    Unicode (lone surrogates).
    """
    fields: dict[str, Any] = {"v": VERSION, "g": group}
    if isinstance(data, str):
        fields["k"] = "t"
        payload = data.encode()
    elif isinstance(data, (bytes, bytearray, memoryview)):
        fields["k"] = "b"
        payload = bytes(data)
    else:
        raise TypeError(
            f"A group message is str or bytes, not {type(data).__name__}; "
            "pass json=... to send JSON."
        )
    if sender is not None:
        fields["s"] = sender
    if meta:
        fields["m"] = dict(meta)
    try:
        header = _header(fields)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"meta must hold JSON types only: {exc}") from exc
    return header + payload


def encode_close(group: str, code: int, reason: str = "") -> bytes:
    """Return the wire form of a request to close every member of ``group``."""
    return _header({"v": VERSION, "g": group, "k": "c", "c": int(code), "r": reason})


def decode(payload: bytes) -> GroupMessage | CloseRequest:
    """
    Return the message that ``payload`` (from :func:`encode_message` or
    :func:`encode_close`) carries.

    Raise ValueError for anything else: a foreign publisher on the channel,
    a newer version, a truncated payload.
    """
    end = payload.find(b"\n")
    if end < 0:
        raise ValueError("Not a django-wsviews group message: no header.")
    try:
        fields = json.loads(payload[:end])
        version = fields["v"]
        group = fields["g"]
        kind = fields["k"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"Not a django-wsviews group message: {exc}") from exc
    if version != VERSION:
        raise ValueError(f"Unsupported group message version {version!r}.")
    body = payload[end + 1 :]
    if kind == "c":
        return CloseRequest(group, int(fields["c"]), str(fields.get("r", "")))
    meta = fields.get("m")
    data: str | bytes
    if kind == "t":
        data = body.decode()
        seq = fields.get("q")
        if seq is not None:
            return GroupMessage(
                group,
                _add_seq(data, str(seq)),
                fields.get("s"),
                _EMPTY if not meta else MappingProxyType(meta),
                str(seq),
            )
    elif kind == "b":
        data = bytes(body)
    else:
        raise ValueError(f"Unknown group message kind {kind!r}.")
    return GroupMessage(
        group,
        data,
        fields.get("s"),
        _EMPTY if not meta else MappingProxyType(meta),
    )


def _add_seq(text: str, seq: str) -> str:
    """Return JSON object ``text`` with ``"seq"`` as its first key."""
    rest = text.lstrip()
    if not rest.startswith("{"):
        raise ValueError("A group message with a seq is not a JSON object.")
    rest = rest[1:]
    separator = "" if rest.lstrip().startswith("}") else ","
    return f'{{"seq":{json.dumps(seq)}{separator}{rest}'
