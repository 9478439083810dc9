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

This module reads annotations; the checks it compiles them into, and
:class:`Invalid` with the errors they record, are in
:mod:`django_wsviews.payload_checks` (``Invalid``, ``NON_FIELD`` and
``MAX_ERRORS`` are importable from here too).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from .payload_checks import (
    _FAILED,
    MAX_ERRORS,
    NON_FIELD,
    Invalid,
    _anything,
    _boolean,
    _Check,
    _dict,
    _enum,
    _Errors,
    _integer,
    _list,
    _literal,
    _null,
    _number,
    _object,
    _pydantic,
    _string,
)

__all__ = ["MAX_ERRORS", "NON_FIELD", "Invalid", "Validator", "validator_for"]

#: Return the value an action gets from a payload, or raise Invalid.
Validator = Callable[[Any], Any]


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
