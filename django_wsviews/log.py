"""
The library's loggers, which escape what clients send before it is logged.

A path matched by a ``<str:>`` route, an ``Origin`` header or a subprotocol
may carry carriage returns, line feeds or terminal escapes; written to a log
raw, they forge log lines or rewrite a terminal (``\\x1b[2J``). Every logger
made by :func:`get_logger` escapes the control characters in the string
arguments of its records (``\\r`` becomes the four characters ``\\x0d``),
as Django's ``log_response()`` does for its own. Printable text, non-ASCII
letters included, is left as it is.

This module imports nothing from Django, so that any module may use it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["EscapeControlCharacters", "escape_control_characters", "get_logger"]

# C0 controls, DEL and C1 controls.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_control_characters(text: str) -> str:
    """Return ``text`` with each control character written as ``\\xNN``."""
    return _CONTROL.sub(_escaped, text)


def _escape(value: Any) -> Any:
    return escape_control_characters(value) if isinstance(value, str) else value


class EscapeControlCharacters(logging.Filter):
    """A filter that escapes control characters in a record's string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Escape the arguments of ``record``; never drop it."""
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_escape(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _escape(value) for key, value in args.items()}
        return True


_FILTER = EscapeControlCharacters()


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name``, escaping control characters in its arguments."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
