"""
Answering calls of a view's actions, over the wire protocol.

A call is one JSON message (see :doc:`/protocol`)::

    {"action": "rooms.post", "id": "c7", "payload": {"text": "hello"}}

and is answered, when it has an ``id``, with exactly one reply:
``{"id": "c7", "ok": true, "result": ...}``, or ``{"id": "c7", "ok": false,
"error": {"code": ..., "message": ..., "details": ...}}``. An error reply
never closes the connection.

:func:`dispatch` answers one call with the actions
:func:`~django_wsviews.actions.collect_actions` found; :func:`refuse`
answers a message that is not a call. The failure policy: a refusal, an
action's :class:`~django_wsviews.actions.ActionError` and its unexpected
exception become error replies (without an ``id``: records on the
``django_wsviews.actions`` logger); only ConnectionClosed and cancellation
propagate.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.core.signals import got_request_exception

from .actions import Action, ActionError
from .exceptions import ConnectionClosed
from .hooks import call_hook, is_async, observe_exception
from .log import get_logger

__all__ = ["Callee", "dispatch", "refuse"]

# The actions' logger, named in the docs (calls were answered in
# django_wsviews.actions before this module was split from it).
logger = get_logger("django_wsviews.actions")


class Callee(Protocol):
    """What :func:`dispatch` needs of a view."""

    request: Any

    def encode_json(self, content: Any) -> str: ...

    def send(self, message: str | bytes) -> Awaitable[None]: ...


def _is_call_id(value: object) -> bool:
    """Return whether ``value`` may be a call's ``id``: a str or an int (not a bool)."""
    return isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


async def dispatch(
    view: Callee, actions: Mapping[str, Action], content: dict[str, Any]
) -> None:
    """
    Answer one call (a JSON object with an ``"action"`` key) of ``view``.

    A call whose ``id`` is absent or null gets no reply: its errors are
    logged (refusals at WARNING, the action's own ActionError at INFO). An
    ``id`` that is neither a string nor an integer is answered
    ``bad_request`` with ``"id": null``. An unexpected exception of the
    action, or a reply that does not encode, is logged with its traceback,
    sent as ``got_request_exception``, and answered ``internal``; the
    connection stays open. :class:`ConnectionClosed` and cancellation
    propagate.
    """
    raw_id = content.get("id")
    call_id = raw_id if _is_call_id(raw_id) else None
    name = content.get("action")
    try:
        found = _find(actions, name, raw_id)
        arguments = found.arguments(content.get("payload"))
    except ActionError as refusal:
        if raw_id is None:
            logger.warning(
                "Call of action %.100r on %s refused: %s",
                name,
                view.request.path,
                refusal,
            )
            return
        await view.send(await _encode(view, name, _error(call_id, refusal)))
        return
    try:
        result = await _call(getattr(view, found.attribute), arguments)
    except ConnectionClosed:
        raise
    except ActionError as error:
        if raw_id is None:
            logger.info("Action %r on %s: %s", found.name, view.request.path, error)
            return
        reply = _error(call_id, error)
    except Exception as exc:
        await _report(view, found.name, exc)
        if raw_id is None:
            return
        reply = _internal(call_id)
    else:
        if raw_id is None:
            return
        reply = {"id": call_id, "ok": True, "result": _plain(result)}
    await view.send(await _encode(view, found.name, reply))


async def refuse(view: Callee, content: Any) -> None:
    """
    Answer a message that is not a call (it has no ``"action"``) ``bad_request``.

    Only a JSON object with a non-null ``id`` gets the reply (with that id,
    or null if it is neither a string nor an integer); any other message is
    logged at WARNING and dropped.
    """
    raw_id = content.get("id") if isinstance(content, dict) else None
    if raw_id is None:
        logger.warning(
            "Message on WebSocket %s is not a call of an action; dropped.",
            view.request.path,
        )
        return
    refusal = ActionError("bad_request", "The message names no action.")
    call_id = raw_id if _is_call_id(raw_id) else None
    await view.send(await _encode(view, None, _error(call_id, refusal)))


def _find(actions: Mapping[str, Action], name: Any, raw_id: Any) -> Action:
    if not isinstance(name, str):
        raise ActionError("bad_request", "The call's action must be a string.")
    if raw_id is not None and not _is_call_id(raw_id):
        raise ActionError(
            "bad_request", "The call's id must be a string or an integer."
        )
    found = actions.get(name)
    if found is None:
        raise ActionError("unknown_action", "No such action.")
    return found


def _call_sync(
    box: list[Any], method: Callable[..., Any], arguments: tuple[Any, ...]
) -> None:
    box.append(method(*arguments))


async def _call_async(
    box: list[Any], method: Callable[..., Any], arguments: tuple[Any, ...]
) -> None:
    box.append(await method(*arguments))


async def _call(method: Callable[..., Any], arguments: tuple[Any, ...]) -> Any:
    """Run ``method(*arguments)`` as a hook is run; return what it returned."""
    # call_hook() runs these two, never a closure: it decides sync or async
    # once per function, and remembers.
    box: list[Any] = []
    if is_async(method):
        await call_hook(_call_async, box, method, arguments)
    else:
        await call_hook(_call_sync, box, method, arguments)
    return box[0]


def _plain(result: Any) -> Any:
    """Return a dataclass or pydantic model as JSON types; anything else as is."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(result, pydantic.BaseModel):
        return result.model_dump(mode="json")
    return result


def _error(call_id: Any, error: ActionError) -> dict[str, Any]:
    member: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        member["details"] = error.details
    return {"id": call_id, "ok": False, "error": member}


def _internal(call_id: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "ok": False,
        "error": {"code": "internal", "message": "Internal error."},
    }


async def _encode(view: Callee, name: Any, reply: dict[str, Any]) -> str:
    """Return ``reply`` encoded by the view; ``internal`` if it does not encode."""
    try:
        return view.encode_json(reply)
    except (TypeError, ValueError) as exc:  # a result or details JSON cannot hold
        await _report(view, name, exc)
        return view.encode_json(_internal(reply["id"]))


async def _report(view: Callee, name: Any, exc: Exception) -> None:
    """
    Log an action's unexpected exception and send ``got_request_exception``.

    As ``handle_exception()`` does for a hook, but without closing: the call
    is answered ``internal`` and the connection stays open. (The test client
    raises it in the test, as for a hook's exception.)
    """
    observe_exception(exc)
    logger.error(
        "Error in action %.100r of WebSocket view %s at %s",
        name,
        type(view).__qualname__,
        view.request.path,
        exc_info=exc,
        extra={"request": view.request},
    )
    await sync_to_async(got_request_exception.send)(
        sender=type(view), request=view.request
    )
