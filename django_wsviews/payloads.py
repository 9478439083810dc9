"""
Checking an action's payload against the type it is annotated with.

:func:`validator_for` turns an annotation into a function that takes the
decoded JSON payload and returns the value the action gets (a dataclass
instance, a checked dict, a pydantic model), or raises :class:`Invalid`
with what is wrong, field by field. The work of reading the annotation is
done once, when the view's class is created; each call only walks the
payload.

The types understood: ``Any`` and ``object`` (anything, unchecked), ``str``,
``int``, ``float`` (an integer is accepted and converted; NaN and infinities
are not), ``bool``, ``None``, ``list`` / ``list[T]`` / ``Sequence[T]``,
``dict`` / ``dict[str, T]`` / ``Mapping[str, T]``, ``Literal[...]``, an
``Enum``, unions (``T | None``), ``Annotated[T, ...]``, dataclasses and
``TypedDict`` classes (their fields of these types, nested as deep as
needed, recursive ones included), and pydantic models when pydantic is
installed (never imported here: a model's class brings it). Any other type
raises TypeError when the view's class is created.

Objects (dataclasses, ``TypedDict``) refuse keys they do not declare and
require the fields without a default (a ``TypedDict``'s required keys). A
dataclass whose ``__post_init__`` raises ValueError is invalid with that
message. This module imports nothing from Django.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import json
import math
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_ERRORS", "NON_FIELD", "Invalid", "Validator", "validator_for"]

#: The key of errors that belong to the payload as a whole, as in Django's forms.
NON_FIELD = "__all__"

#: Validation stops after this many errors: a hostile payload cannot make
#: the reply longer than this.
MAX_ERRORS = 20

#: Return the value an action gets from a payload, or raise Invalid.
Validator = Callable[[Any], Any]

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


def validator_for(annotation: Any) -> Validator | None:
    """
    Return the validator of payloads annotated ``annotation``, or None for any payload.

    None for ``Any``, ``object`` and no annotation at all
    (``inspect.Parameter.empty``): the payload is passed as decoded. Raise
    TypeError, naming the type, for a type that cannot be checked.
    """
    if annotation in (Any, object, inspect.Parameter.empty):
        return None
    check = _Compiler().compile(annotation)

    def validate(value: Any) -> Any:
        errors = _Errors()
        try:
            result = check(value, "", errors)
        except RecursionError:
            raise Invalid({NON_FIELD: ["The payload is nested too deeply."]}) from None
        if result is _FAILED or errors.count:
            raise Invalid(errors.found)
        return result

    return validate


def _pydantic_model(annotation: Any) -> Any:
    """Return the pydantic ``BaseModel`` class if ``annotation`` is a model, else None."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(annotation, type):
        return None
    base = getattr(pydantic, "BaseModel", None)
    if base is not None and issubclass(annotation, base):
        return pydantic
    return None


def _describe(annotation: Any) -> str:
    """Return what a value of ``annotation`` is, for an error message."""
    simple = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        type(None): "null",
        None: "null",
    }
    if annotation in simple:
        return simple[annotation]
    origin = typing.get_origin(annotation) or annotation
    if origin in (list, collections.abc.Sequence):
        return "a list"
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in typing.get_args(annotation))
    return "an object"


class _Compiler:
    """Turn annotations into checks, once each (so recursive types terminate)."""

    def __init__(self) -> None:
        self.done: dict[Any, _Check] = {}

    def compile(self, annotation: Any) -> _Check:
        try:
            return self.done[annotation]
        except KeyError:
            pass
        except TypeError:  # an unhashable annotation: compiled every time
            return self._compile(annotation)
        # A recursive type refers to itself: it gets this forwarder until done.
        slot: list[_Check] = []

        def forward(value: Any, path: str, errors: _Errors) -> Any:
            return slot[0](value, path, errors)

        self.done[annotation] = forward
        check = self._compile(annotation)
        slot.append(check)
        self.done[annotation] = check
        return check

    def _compile(self, annotation: Any) -> _Check:
        if annotation in (Any, object):
            return _anything
        if annotation is None or annotation is type(None):
            return _null
        if annotation is bool:
            return _boolean
        if annotation is int:
            return _integer
        if annotation is float:
            return _number
        if annotation is str:
            return _string
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.compile(args[0])
        if origin is typing.Literal:
            return _literal(args)
        if origin is typing.Union or origin is types.UnionType:
            return self._union(args)
        if annotation in (list, collections.abc.Sequence) or origin in (
            list,
            collections.abc.Sequence,
        ):
            return _list(self.compile(args[0]) if args else _anything)
        if annotation in (dict, collections.abc.Mapping) or origin in (
            dict,
            collections.abc.Mapping,
        ):
            if args and args[0] not in (str, Any):
                raise TypeError(
                    f"Cannot check the payload type {annotation!r}: JSON object "
                    "keys are strings; use dict[str, ...]."
                )
            return _dict(self.compile(args[1]) if args else _anything)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return _enum(annotation)
        if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
            return self._dataclass(annotation)
        if typing.is_typeddict(annotation):
            return self._typeddict(annotation)
        pydantic = _pydantic_model(annotation)
        if pydantic is not None:
            return _pydantic(annotation, pydantic)
        raise TypeError(
            f"Cannot check a payload of type {annotation!r}. Use str, int, float, "
            "bool, None, list, dict, Literal, an Enum, a dataclass or a "
            "TypedDict (or a pydantic model), or annotate it Any to take the "
            "payload unchecked."
        )

    def _union(self, members: tuple[Any, ...]) -> _Check:
        others = [m for m in members if m is not type(None)]
        nullable = len(others) < len(members)
        if len(others) == 1:
            only = self.compile(others[0])
            if not nullable:  # pragma: no cover  (Union[X] is X)
                return only

            def optional(value: Any, path: str, errors: _Errors) -> Any:
                return None if value is None else only(value, path, errors)

            return optional
        checks = [self.compile(m) for m in others]
        expected = " or ".join(_describe(m) for m in members)

        def union(value: Any, path: str, errors: _Errors) -> Any:
            if value is None and nullable:
                return None
            for check in checks:
                trial = _Errors()
                try:
                    result = check(value, path, trial)
                except Invalid:
                    continue
                if result is not _FAILED and not trial.count:
                    return result
            errors.add(path, f"Expected {expected}.")
            return _FAILED

        return union

    def _fields(self, owner: type, names: list[str] | None) -> dict[str, _Check]:
        """Return the checks of ``owner``'s fields ``names`` (all its fields for None)."""
        try:
            hints = typing.get_type_hints(owner, include_extras=True)
        except NameError as exc:
            raise TypeError(
                f"Cannot resolve the annotations of {owner.__qualname__}: {exc}. "
                "Define or import the types it uses at module level (not only "
                "under TYPE_CHECKING)."
            ) from exc
        if names is None:
            names = list(hints)
        return {name: self.compile(_unwrap_required(hints[name])) for name in names}

    def _dataclass(self, cls: type) -> _Check:
        fields = [f for f in dataclasses.fields(cls) if f.init]
        checks = self._fields(cls, [f.name for f in fields])
        required = frozenset(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        )

        def build(values: dict[str, Any], path: str, errors: _Errors) -> Any:
            try:
                return cls(**values)
            except ValueError as exc:
                errors.add(path, str(exc))
                return _FAILED

        return _object(checks, required, build)

    def _typeddict(self, cls: Any) -> _Check:
        checks = self._fields(cls, None)
        required = frozenset(cls.__required_keys__)

        def build(values: dict[str, Any], path: str, errors: _Errors) -> Any:
            return values

        return _object(checks, required, build)


def _unwrap_required(annotation: Any) -> Any:
    """Return ``T`` for ``Required[T]`` and ``NotRequired[T]`` (keys of a TypedDict)."""
    origin = typing.get_origin(annotation)
    name = getattr(origin, "_name", None)
    if name in ("Required", "NotRequired"):
        return typing.get_args(annotation)[0]
    return annotation


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
