"""Unit tests of django_wsviews.exceptions: the hierarchy and the exceptions' data."""

from __future__ import annotations

import ast
import copy
import inspect
import pickle
from collections.abc import Callable

import pytest

from django_wsviews import exceptions
from django_wsviews.exceptions import (
    ConnectionClosed,
    HandshakeRejected,
    TooManyGroups,
    WebSocketError,
)

DOCUMENTED = {
    "ConnectionClosed",
    "HandshakeRejected",
    "HandshakeTimeout",
    "InvalidState",
}


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Return the exception classes exceptions.py defines, by name."""
    return {
        name: obj
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == exceptions.__name__
    }


#: How the library makes each exception that needs more than a message.
MADE_AS: dict[str, Callable[[], BaseException]] = {
    "ConnectionClosed": lambda: ConnectionClosed(1001, "bye"),
    "HandshakeRejected": lambda: HandshakeRejected(403),
    "TooManyGroups": lambda: TooManyGroups("Too many.", limit=1, count=2),
}


@pytest.mark.parametrize("name", sorted(set(exceptions.__all__) - {"WebSocketError"}))
def test_each_exception_is_caught_as_a_websocket_error_and_by_no_sibling(
    name: str,
) -> None:
    """except WebSocketError (and except Exception) catches each; no sibling's except does."""
    cls = defined_exceptions()[name]
    exc = MADE_AS[name]() if name in MADE_AS else cls("message")
    siblings: tuple[type[BaseException], ...] = tuple(
        other
        for other in defined_exceptions().values()
        if other not in (cls, WebSocketError)
    )
    assert len(siblings) >= len(DOCUMENTED) - 1
    caught_by: list[str] = []
    try:
        raise exc
    except siblings:
        caught_by.append("a sibling")
    except WebSocketError:
        caught_by.append("WebSocketError")
    assert caught_by == ["WebSocketError"]
    with pytest.raises(Exception) as caught:  # noqa: PT011 - what the docs promise
        raise exc
    assert caught.value is exc


def test_all_lists_every_exception() -> None:
    """__all__ names every exception class the module defines (the documented ones included), and nothing else."""
    assert set(exceptions.__all__) == set(defined_exceptions())
    assert DOCUMENTED | {"WebSocketError"} <= set(exceptions.__all__)


def test_connection_closed_code_and_reason() -> None:
    """ConnectionClosed keeps its code and reason; the message names the code."""
    exc = ConnectionClosed(1001, "going away")
    assert exc.code == 1001
    assert exc.reason == "going away"
    assert "1001" in str(exc)


def test_connection_closed_code_keyword() -> None:
    """code and reason may be passed by keyword."""
    exc = ConnectionClosed(code=4000, reason="r")
    assert (exc.code, exc.reason) == (4000, "r")


def test_connection_closed_unknown_code() -> None:
    """Without a code, code is None and reason empty."""
    exc = ConnectionClosed()
    assert exc.code is None
    assert exc.reason == ""
    assert "None" not in str(exc)


def test_connection_closed_raised_and_caught_as_base() -> None:
    """A raised ConnectionClosed is caught by except WebSocketError with its code intact."""
    with pytest.raises(WebSocketError) as info:
        raise ConnectionClosed(1006)
    assert isinstance(info.value, ConnectionClosed)
    assert info.value.code == 1006


def test_handshake_rejected_data() -> None:
    """HandshakeRejected keeps status, headers and body; the message names the status."""
    exc = HandshakeRejected(404, [("content-type", "text/plain")], b"Not Found\n")
    assert exc.status == 404
    assert exc.headers == [("content-type", "text/plain")]
    assert exc.body == b"Not Found\n"
    assert "404" in str(exc)


def test_handshake_rejected_defaults_not_shared() -> None:
    """Without headers or body, each HandshakeRejected gets its own empty list and b""."""
    first, second = HandshakeRejected(403), HandshakeRejected(403)
    assert first.headers == []
    assert first.body == b""
    first.headers.append(("x", "y"))
    assert second.headers == []


def test_copy_keeps_data() -> None:
    """copy.copy() keeps ConnectionClosed's code and HandshakeRejected's status."""
    assert copy.copy(ConnectionClosed(1000, "bye")).code == 1000
    assert copy.copy(HandshakeRejected(418)).status == 418


def test_pickle_round_trip_keeps_data() -> None:
    """Pickling (as for parallel test runners) keeps ConnectionClosed's code and reason and HandshakeRejected's data."""
    closed = pickle.loads(pickle.dumps(ConnectionClosed(1001, "bye")))
    rejected = pickle.loads(pickle.dumps(HandshakeRejected(404, [("a", "b")], b"x")))
    assert (closed.code, closed.reason) == (1001, "bye")
    assert (rejected.status, rejected.headers, rejected.body) == (
        404,
        [("a", "b")],
        b"x",
    )


def test_exceptions_import_nothing_from_django() -> None:
    """exceptions.py imports nothing from Django."""
    tree = ast.parse(inspect.getsource(exceptions))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert not any(name == "django" or name.startswith("django.") for name in imported)
