"""
Named actions of a :class:`~django_wsviews.JsonWebSocketView`: declaring them.

A method becomes an action with :func:`action`; nothing else can be called
by a client. The view's class collects its actions once, when it is created
(:func:`collect_actions`); each is an :class:`Action`, whose payload is
checked against the annotation of the method's parameter
(:mod:`django_wsviews.payloads`). A misuse fails when the class is created:
TypeError for a method that cannot be an action or a payload type that
cannot be checked, ImproperlyConfigured for a name that is not allowed.

An action answers a call with an error by raising :class:`ActionError`.
Answering calls over the wire protocol (see :doc:`/protocol`) is
:mod:`django_wsviews.action_calls`' job.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured

from .payloads import NON_FIELD, Invalid, Validator, validator_for

__all__ = [
    "SUBPROTOCOL",
    "Action",
    "ActionError",
    "action",
    "collect_actions",
]

#: The subprotocol of the wire protocol, listed by every view with actions.
SUBPROTOCOL = "wsviews.v1"

#: Action names with this prefix are the library's.
RESERVED_PREFIX = "wsviews."

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}")
_MARK = "_wsviews_action"

F = TypeVar("F", bound=Callable[..., Any])


class ActionError(Exception):
    """
    Raise in an action to answer the call with an error; the connection stays open.

    ``code`` is a short, stable string for programs (``"not_found"``,
    ``"forbidden"``...), ``message`` is for people, ``details`` any JSON
    value (it must encode, or the reply becomes ``internal``). The reply is
    ``{"id": ..., "ok": false, "error": {"code": code, "message": message}}``,
    with ``"details"`` when given. A call without ``id`` gets no reply: the
    error is only logged.
    """

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        if not isinstance(code, str) or not code:
            raise TypeError(f"ActionError's code is a non-empty str, not {code!r}.")
        self.code = code
        self.message = str(message)
        self.details = details
        super().__init__(code, self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclasses.dataclass(frozen=True)
class _Declared:
    """What @action records on a method, checked when it is applied."""

    name: str | None
    takes_payload: bool
    #: Whether the payload parameter has a default (used when the payload is null).
    has_default: bool
    validate: Validator | None


@dataclasses.dataclass(frozen=True)
class Action:
    """One action of a view's class: its name and the method that runs it."""

    name: str
    #: The name of the method on the view.
    attribute: str
    declared: _Declared

    def arguments(self, payload: Any) -> tuple[Any, ...]:
        """
        Return the arguments of the method for ``payload`` (None when absent).

        Raise ActionError ``invalid`` when the payload does not fit.
        """
        declared = self.declared
        if not declared.takes_payload:
            if payload is None:
                return ()
            raise ActionError(
                "invalid",
                "This action takes no payload.",
                {NON_FIELD: ["This action takes no payload."]},
            )
        if payload is None and declared.has_default:
            return ()
        if declared.validate is None:
            return (payload,)
        try:
            return (declared.validate(payload),)
        except Invalid as exc:
            raise ActionError("invalid", exc.summary(), exc.errors) from None


@overload
def action(function: F, /) -> F: ...


@overload
def action(name: str | None = None, /) -> Callable[[F], F]: ...


def action(target: Any = None, /) -> Any:
    """
    Declare a method of a ``JsonWebSocketView`` as an action clients may call.

    ``@action`` names it after the method; ``@action("rooms.post")`` names
    it otherwise (letters, digits and ``_ . : -``, at most 100
    characters; names starting with ``wsviews.`` are reserved). The method
    takes ``self`` and at most one payload parameter, positional; its
    annotation decides how the payload is checked (a dataclass, a
    ``TypedDict``, a pydantic model, simple types; none or ``Any`` takes it
    as decoded). A parameter with a default gets it when the payload is
    absent or null. An ``async def`` is awaited, a plain ``def`` runs in
    the connection's worker thread, as hooks do. The return value is the
    reply's ``result``.

    The method keeps its signature, and may still be called directly.
    Raise TypeError for a misuse (a method with more parameters, a payload
    type that cannot be checked) and ImproperlyConfigured for a name that
    is not allowed, when the class is created.
    """
    if target is None or isinstance(target, str):
        name = target

        def decorate(function: F) -> F:
            return _declare(function, name)

        return decorate
    return _declare(target, None)


def _declare(function: F, name: str | None) -> F:
    if isinstance(function, (staticmethod, classmethod)) or not inspect.isroutine(
        function
    ):
        raise TypeError(
            f"@action decorates a method (def or async def), not {function!r}; "
            "put @action above any @staticmethod or @classmethod (neither can be an "
            "action)."
        )
    where = getattr(function, "__qualname__", repr(function))
    if name is not None:
        _check_name(name, where)
    parameters = list(inspect.signature(function).parameters.values())
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )
    if (
        not parameters
        or len(parameters) > 2
        or any(p.kind not in positional for p in parameters)
    ):
        raise TypeError(
            f"The action {where}() takes self and at most one payload parameter, "
            "as in def post(self, payload: Post); put what it needs in the payload."
        )
    payload = parameters[1] if len(parameters) == 2 else None
    validate = None
    if payload is not None:
        annotation = _resolve(function, payload.annotation, where)
        try:
            validate = validator_for(annotation)
        except TypeError as exc:
            raise TypeError(f"The payload of the action {where}(): {exc}") from None
    declared = _Declared(
        name=name,
        takes_payload=payload is not None,
        has_default=payload is not None and payload.default is not payload.empty,
        validate=validate,
    )
    setattr(function, _MARK, declared)
    return function


def _check_name(name: str, where: str) -> None:
    if name.startswith(RESERVED_PREFIX):
        raise ImproperlyConfigured(
            f"The action name {name!r} of {where}() is reserved: names starting "
            f"with {RESERVED_PREFIX!r} belong to django-wsviews. Name the action "
            "otherwise, e.g. @action('rooms.post')."
        )
    if not _NAME.fullmatch(name):
        raise ImproperlyConfigured(
            f"The action name {name!r} of {where}() is not allowed: use letters, "
            "digits, '_', '.', ':' and '-' (at most 100 characters), e.g. "
            "@action('rooms.post')."
        )


def _resolve(function: Callable[..., Any], annotation: Any, where: str) -> Any:
    """Return ``annotation`` evaluated in the module that defines ``function``."""
    if not isinstance(annotation, str):
        return annotation
    # Only this annotation: the others (the return type) may name types
    # imported under TYPE_CHECKING.
    holder = type("holder", (), {"__annotations__": {"payload": annotation}})
    try:
        return typing.get_type_hints(
            holder,
            globalns=getattr(inspect.unwrap(function), "__globals__", None),
            include_extras=True,
        )["payload"]
    except NameError as exc:
        raise TypeError(
            f"Cannot resolve the payload annotation {annotation!r} of the action "
            f"{where}(): {exc}. Define or import the type at module level, before "
            "the view (not only under TYPE_CHECKING)."
        ) from None


def collect_actions(cls: type) -> dict[str, Action]:
    """
    Return the actions of ``cls`` by name: its decorated methods, inherited ones included.

    A method overridden without @action is no longer an action. Raise
    ImproperlyConfigured when two methods declare one name, or an action is
    a staticmethod or classmethod.
    """
    found: dict[str, Action] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attribute, value in vars(klass).items():
            if attribute in seen:
                continue  # overridden further down: the override decides
            seen.add(attribute)
            inner = getattr(value, "__func__", None)
            if isinstance(value, (staticmethod, classmethod)):
                if getattr(inner, _MARK, None) is not None:
                    raise ImproperlyConfigured(
                        f"{cls.__qualname__}.{attribute} is a "
                        f"{type(value).__name__}: an action is a plain method "
                        "(it gets self)."
                    )
                continue
            declared = getattr(value, _MARK, None)
            if not isinstance(declared, _Declared):
                continue
            name = declared.name or attribute
            if declared.name is None:
                _check_name(name, f"{cls.__qualname__}.{attribute}")
            other = found.get(name)
            if other is not None:
                raise ImproperlyConfigured(
                    f"{cls.__qualname__}: the methods {other.attribute}() and "
                    f"{attribute}() both declare the action {name!r}. Give one of "
                    "them another name, as in @action('other.name'), or override "
                    "the method itself."
                )
            found[name] = Action(name, attribute, declared)
    return found
