"""The one wire format of group messages (django_wsviews.envelope)."""

from __future__ import annotations

import pytest

from django_wsviews.envelope import (
    CloseRequest,
    GroupMessage,
    decode,
    encode_close,
    encode_message,
)


@pytest.mark.parametrize(
    "data", ["text", "", "ünïcode ☃ \n with newline", b"", b"\x00\n\xff", b"{}"]
)
def test_round_trip(data: str | bytes) -> None:
    """Text and bytes, empty or with newlines, come back as they went."""
    message = decode(encode_message("g", data))
    assert message == GroupMessage("g", data)
    assert type(message.data) is type(data)  # type: ignore[union-attr]


def test_sender_and_meta() -> None:
    """sender and meta travel in the header; meta comes back read-only."""
    message = decode(encode_message("g", "x", sender="abc", meta={"to": [1, 2]}))
    assert isinstance(message, GroupMessage)
    assert message.sender == "abc"
    assert message.meta == {"to": [1, 2]}
    with pytest.raises(TypeError):
        message.meta["to"] = []  # type: ignore[index]


def test_header_is_one_json_line() -> None:
    """The wire form is a JSON header line, then the payload as it is."""
    payload = encode_message("room.a", "hi")
    assert payload == b'{"v":1,"g":"room.a","k":"t"}\nhi'


def test_close_round_trip() -> None:
    """A close request carries its code and reason."""
    assert decode(encode_close("g", 4403, "Banned.")) == CloseRequest(
        "g", 4403, "Banned."
    )


def test_bytearray_and_memoryview() -> None:
    """Bytes-like data is sent as bytes."""
    assert decode(encode_message("g", bytearray(b"ab"))) == GroupMessage("g", b"ab")
    assert decode(encode_message("g", memoryview(b"cd"))) == GroupMessage("g", b"cd")


@pytest.mark.parametrize(
    "payload",
    [
        b"no header at all",
        b"not json\nbody",
        b'{"v":1,"k":"t"}\nmissing group',
        b'{"v":2,"g":"g","k":"t"}\nnewer version',
        b'{"v":1,"g":"g","k":"z"}\nunknown kind',
        b'{"v":1,"g":"g","k":"t"}\n\xff not utf-8',
    ],
)
def test_malformed(payload: bytes) -> None:
    """Anything that is not a group message raises ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011  (many messages)
        decode(payload)


def test_wrong_data_type() -> None:
    """Data that is neither str nor bytes raises TypeError naming json=."""
    with pytest.raises(TypeError, match="json="):
        encode_message("g", {"a": 1})  # type: ignore[arg-type]


def test_lone_surrogate() -> None:
    """Text that is not valid Unicode cannot be sent."""
    with pytest.raises(UnicodeEncodeError):
        encode_message("g", "\ud800")
