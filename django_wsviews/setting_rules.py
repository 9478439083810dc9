"""
The rules ``WSVIEWS_*`` settings follow, each a validator of one kind of value.

A validator takes a setting's name and value and returns the value to use,
or raises :class:`InvalidSetting` with what is wrong and the fix. The table
that pairs each setting with its rule and check id is
:data:`django_wsviews.conf.SETTINGS`; the system checks and the accessors
both apply it, so their words never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .limits import Rate, parse_rate

__all__ = [
    "InvalidSetting",
    "Validator",
    "backend",
    "boolean",
    "choice",
    "history",
    "number",
    "origins",
    "paths",
    "positive_int",
    "rate",
]

#: The default group backend.
MEMORY_BACKEND = "django_wsviews.backends.memory.MemoryBackend"


class InvalidSetting(ImproperlyConfigured):
    """A ``WSVIEWS_*`` setting whose value cannot work: what is wrong, then the fix."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem} {fix}")
        self.problem = problem
        self.fix = fix


#: Return the value to use for a setting (given its name and value), or raise
#: InvalidSetting.
Validator = Callable[[str, Any], Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(fix: str, *, zero: bool = False, none: bool = False) -> Validator:
    """Accept a positive number (or zero, or None, when allowed), as a float."""
    kind = "a non-negative number" if zero else "a positive number"

    def clean(name: str, value: Any) -> float | None:
        if value is None and none:
            return None
        if not _is_number(value) or value < 0 or (value == 0 and not zero):
            raise InvalidSetting(f"{name} must be {kind}, not {value!r}.", fix)
        return float(value)

    return clean


def positive_int(fix: str, *, none: bool = False) -> Validator:
    """Accept a positive int (or None, when allowed)."""

    def clean(name: str, value: Any) -> int | None:
        if value is None and none:
            return None
        if type(value) is not int or value < 1:
            raise InvalidSetting(
                f"{name} must be a positive integer, not {value!r}.", fix
            )
        return value

    return clean


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetting(
            f"{name} must be True or False, not {value!r}.",
            f"Set {name} = True or {name} = False.",
        )
    return value


def paths(fix: str) -> Validator:
    """Accept None or a list of dotted paths."""

    def clean(name: str, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, (list, tuple, set, frozenset)) or not all(
            isinstance(path, str) and path for path in value
        ):
            raise InvalidSetting(
                f"{name} must be a list of dotted paths, not {value!r}.", fix
            )
        return tuple(value)

    return clean


def origins(name: str, value: Any) -> tuple[str, ...]:
    fix = (
        "Write each origin as scheme://host[:port], without a path, such as "
        "'https://app.example.com' or 'https://*.example.com'."
    )
    if not isinstance(value, (list, tuple)):
        raise InvalidSetting(f"{name} must be a list of origins, not {value!r}.", fix)
    for origin in value:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if (
            parts is None
            or not parts.netloc
            or origin != f"{parts.scheme}://{parts.netloc}"
        ):
            raise InvalidSetting(f"{name} has {origin!r}, which is not an origin.", fix)
    return tuple(value)


def rate(name: str, value: Any) -> Rate | None:
    try:
        parsed: Rate | None = parse_rate(value)
        return parsed
    except ImproperlyConfigured:
        raise InvalidSetting(
            f"{name} is {value!r}, which is not a rate.",
            "Write it as 'N/s', 'N/min', 'N/h' or 'N/10s', as a (messages, "
            "seconds) tuple of positive numbers, or None for no limit.",
        ) from None


_HISTORY_PATTERN = re.compile(r"[A-Za-z0-9_.:*?\[\]!-]{1,100}\Z")


def history(name: str, value: Any) -> dict[str, dict[str, Any]]:
    """
    Accept ``{"<group pattern>": {"MAX_MESSAGES": n, "MAX_AGE": seconds}, ...}``.

    Return it with both keys in every rule (``MAX_MESSAGES`` 100 and
    ``MAX_AGE`` None, no age limit, when left out), in the project's order.
    """
    fix = (
        'Set it to {"chat.*": {"MAX_MESSAGES": 100, "MAX_AGE": 3600}}: group '
        "name patterns (* and ? as in fnmatch) mapped to what to keep."
    )
    if not isinstance(value, Mapping):
        raise InvalidSetting(f"{name} must be a dict, not {type(value).__name__}.", fix)
    cleaned: dict[str, dict[str, Any]] = {}
    for pattern, rule in value.items():
        if not isinstance(pattern, str) or not _HISTORY_PATTERN.match(pattern):
            raise InvalidSetting(
                f"{name} has the pattern {pattern!r}, which matches no group name.",
                "Use group-name characters (letters, digits, _ . : -) and * ? [ ]; "
                "names starting with '@' (user groups) keep no history.",
            )
        if not isinstance(rule, Mapping):
            raise InvalidSetting(
                f"{name}[{pattern!r}] must be a dict, not {type(rule).__name__}.", fix
            )
        unknown = set(rule) - {"MAX_MESSAGES", "MAX_AGE"}
        if unknown:
            raise InvalidSetting(
                f"{name}[{pattern!r}] has unknown keys {sorted(unknown, key=str)}.",
                "It takes 'MAX_MESSAGES' and 'MAX_AGE' only.",
            )
        size = rule.get("MAX_MESSAGES", 100)
        if type(size) is not int or size < 1:
            raise InvalidSetting(
                f"{name}[{pattern!r}]['MAX_MESSAGES'] must be a positive integer, "
                f"not {size!r}.",
                "Set it to the number of messages to keep, e.g. 100.",
            )
        age = rule.get("MAX_AGE")
        if age is not None and (not _is_number(age) or age <= 0):
            raise InvalidSetting(
                f"{name}[{pattern!r}]['MAX_AGE'] must be a positive number of "
                f"seconds or None, not {age!r}.",
                "Set it to the seconds a message is kept, e.g. 3600, or None.",
            )
        cleaned[pattern] = {
            "MAX_MESSAGES": size,
            "MAX_AGE": None if age is None else float(age),
        }
    return cleaned


def choice(choices: tuple[str, ...]) -> Validator:
    def clean(name: str, value: Any) -> str:
        if value not in choices:
            raise InvalidSetting(
                f"{name} is {value!r}.",
                "Set it to one of " + ", ".join(repr(c) for c in choices) + ".",
            )
        return str(value)

    return clean


def backend(name: str, value: Any) -> dict[str, Any]:
    """
    Accept ``"dotted.path"`` or ``{"BACKEND": "dotted.path", "OPTIONS": {...}}``.

    Return the dict form. Whether the path imports a backend that accepts the
    options is :func:`django_wsviews.backends.get_backend_config`'s to say.
    """
    fix = (
        f'Set it to {{"BACKEND": "{MEMORY_BACKEND}", "OPTIONS": {{...}}}}, '
        "or to the dotted path alone."
    )
    if isinstance(value, str):
        value = {"BACKEND": value}
    if not isinstance(value, Mapping):
        raise InvalidSetting(
            f"{name} must be a dotted path or a dict, not {type(value).__name__}.",
            fix,
        )
    path = value.get("BACKEND")
    if not isinstance(path, str) or not path:
        raise InvalidSetting(f"{name} needs a 'BACKEND' dotted path.", fix)
    unknown = set(value) - {"BACKEND", "OPTIONS"}
    if unknown:
        raise InvalidSetting(
            f"{name} has unknown keys {sorted(unknown, key=str)}.",
            "It takes 'BACKEND' and 'OPTIONS' only; backend options go in 'OPTIONS'.",
        )
    options = value.get("OPTIONS")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise InvalidSetting(
            f"{name}['OPTIONS'] must be a dict, not {type(options).__name__}.",
            "Set it to a dict of the backend's options, or leave it out.",
        )
    return {"BACKEND": path, "OPTIONS": dict(options)}
