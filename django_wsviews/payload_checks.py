"""
The checks of payload values, and the errors they record.

:mod:`django_wsviews.payloads` compiles an annotation into a tree of the
checks held here: one per JSON type (``_string``, ``_integer``...), per
container (``_list``, ``_dict``, ``_object`` for dataclasses and
``TypedDict`` classes), ``_literal``, ``_enum`` and ``_pydantic``. A check
takes ``(value, path, errors)`` and returns the value the action gets, or
``_FAILED`` after recording what is wrong at ``path`` in ``errors``.

The failure policy: a check never raises for a bad value, it records it and
goes on, so one reply lists every field that is wrong; once
:data:`MAX_ERRORS` errors are recorded, :class:`Invalid` is raised at once,
so a hostile payload cannot make the reply, or the work, longer. This module
imports nothing from Django, nor from the rest of the package.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_ERRORS", "NON_FIELD", "Invalid"]

#: The key of errors that belong to the payload as a whole, as in Django's forms.
NON_FIELD = "__all__"

#: Validation stops after this many errors: a hostile payload cannot make
#: the reply longer than this.
MAX_ERRORS = 20

# What a check returns for a value that failed (its errors are recorded).
_FAILED: Any = object()


class Invalid(Exception):
    """
    A payload that does not fit its type.

    ``errors`` maps a path (``"text"``, ``"items.0.name"``, or ``"__all__"``
    for the payload itself) to its messages.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__(self.summary())

    def summary(self) -> str:
        """Return one line for people: the only error, or how many there are."""
        count = sum(len(messages) for messages in self.errors.values())
        if count == 1:
            ((path, (message,)),) = self.errors.items()
            return message if path == NON_FIELD else f"{path}: {message}"
        more = "+" if count >= MAX_ERRORS else ""
        return f"Invalid payload: {count}{more} errors."


class _Errors:
    """The errors of one validation, at most MAX_ERRORS of them."""

    __slots__ = ("count", "found")

    def __init__(self) -> None:
        self.found: dict[str, list[str]] = {}
        self.count = 0

    def add(self, path: str, message: str) -> None:
        self.found.setdefault(path or NON_FIELD, []).append(message)
        self.count += 1
        if self.count >= MAX_ERRORS:
            raise Invalid(self.found)


# A check: (value, path, errors) -> the converted value, or _FAILED.
_Check = Callable[[Any, str, _Errors], Any]


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


def _object(
    checks: dict[str, _Check],
    required: frozenset[str],
    build: Callable[[dict[str, Any], str, _Errors], Any],
) -> _Check:
    def check(value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, dict):
            errors.add(path, "Expected an object.")
            return _FAILED
        before = errors.count
        for key in value:
            if key not in checks:
                errors.add(_join(path, key), "Unknown field.")
        values: dict[str, Any] = {}
        for name, field_check in checks.items():
            if name in value:
                values[name] = field_check(value[name], _join(path, name), errors)
            elif name in required:
                errors.add(_join(path, name), "This field is required.")
        if errors.count > before:
            return _FAILED
        return build(values, path, errors)

    return check


def _anything(value: Any, path: str, errors: _Errors) -> Any:
    return value


def _null(value: Any, path: str, errors: _Errors) -> Any:
    if value is not None:
        errors.add(path, "Expected null.")
        return _FAILED
    return None


def _boolean(value: Any, path: str, errors: _Errors) -> Any:
    if value is True or value is False:
        return value
    errors.add(path, "Expected true or false.")
    return _FAILED


def _integer(value: Any, path: str, errors: _Errors) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    errors.add(path, "Expected an integer.")
    return _FAILED


def _number(value: Any, path: str, errors: _Errors) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    errors.add(path, "Expected a finite number.")
    return _FAILED


def _string(value: Any, path: str, errors: _Errors) -> Any:
    if isinstance(value, str):
        return value
    errors.add(path, "Expected a string.")
    return _FAILED


def _literal(allowed: tuple[Any, ...]) -> _Check:
    expected = "Expected one of: " + ", ".join(json.dumps(a) for a in allowed) + "."

    def check(value: Any, path: str, errors: _Errors) -> Any:
        for option in allowed:
            # 1 == True in Python, not in JSON: the types must match too.
            if type(value) is type(option) and value == option:
                return option
        errors.add(path, expected)
        return _FAILED

    return check


def _enum(cls: type[enum.Enum]) -> _Check:
    values = {member.value: member for member in cls}
    allowed = [m.value for m in cls]
    expected = "Expected one of: " + ", ".join(json.dumps(v) for v in allowed) + "."

    def check(value: Any, path: str, errors: _Errors) -> Any:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            member = values.get(value)
            if member is not None and type(member.value) is type(value):
                return member
        errors.add(path, expected)
        return _FAILED

    return check


def _list(item: _Check) -> _Check:
    def check(value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, list):
            errors.add(path, "Expected a list.")
            return _FAILED
        before = errors.count
        result = [item(v, _join(path, i), errors) for i, v in enumerate(value)]
        return _FAILED if errors.count > before else result

    return check


def _dict(item: _Check) -> _Check:
    def check(value: Any, path: str, errors: _Errors) -> Any:
        if not isinstance(value, dict):
            errors.add(path, "Expected an object.")
            return _FAILED
        before = errors.count
        result = {k: item(v, _join(path, k), errors) for k, v in value.items()}
        return _FAILED if errors.count > before else result

    return check


def _pydantic(model: Any, pydantic: Any) -> _Check:
    validate = getattr(model, "model_validate", None)
    if validate is None:
        raise TypeError(
            f"{model.__qualname__} is a pydantic 1 model: payloads are checked "
            "with pydantic 2 (model_validate())."
        )
    validation_error = pydantic.ValidationError

    def check(value: Any, path: str, errors: _Errors) -> Any:
        try:
            return validate(value)
        except validation_error as exc:
            for error in exc.errors(include_url=False):
                where = path
                for part in error.get("loc", ()):
                    where = _join(where, part)
                errors.add(where, str(error.get("msg", "Invalid value.")))
            return _FAILED

    return check
