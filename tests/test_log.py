"""The library's log lines escape control characters that clients send."""

from __future__ import annotations

import importlib
import logging

import pytest

from django_wsviews.log import escape_control_characters
from django_wsviews.testing import WebSocketClient

from .test_imports import _modules

FORGED = "a\r\nINFO forged line\x1b[2J\x00\x7f\x85b"


def test_escape_control_characters() -> None:
    """CR, LF, ESC, NUL, DEL and C1 controls become \\xNN; printable text stays."""
    assert (
        escape_control_characters(FORGED)
        == "a\\x0d\\x0aINFO forged line\\x1b[2J\\x00\\x7f\\x85b"
    )
    assert escape_control_characters("ünï/ok") == "ünï/ok"


def test_every_library_logger_escapes() -> None:
    """Every logger a module of the package logs to escapes its string arguments."""
    for name in _modules():
        importlib.import_module(name)
    names = sorted(
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("django_wsviews") and isinstance(logger, logging.Logger)
    )
    assert "django_wsviews" in names
    assert "django_wsviews.security" in names
    for name in names:
        record = logging.LogRecord(
            name, logging.INFO, __file__, 1, "%s", (FORGED,), None
        )
        logging.getLogger(name).filter(record)
        message = record.getMessage()
        assert "\r" not in message, name
        assert "\x1b" not in message, name


async def test_forged_path_is_escaped_in_the_log(
    client_ws: WebSocketClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A path with CR, LF and ESC, matched by a <str:> route, reaches the log escaped."""
    async with client_ws.connect("/ws/json-word/" + "x\r\nINFO forged\x1b[2J/") as ws:
        await ws.send("{nope")
        await ws.wait_closed()
    [record] = [r for r in caplog.records if r.name == "django_wsviews"]
    message = record.getMessage()
    assert "\\x0d\\x0aINFO forged\\x1b[2J" in message
    assert "\r" not in message
    assert "\n" not in message
    assert "\x1b" not in message
