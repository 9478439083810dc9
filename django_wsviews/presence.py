"""
Presence: who is in a group, across processes and browser tabs.

A view declares the groups its connections are present in
(``presence_groups`` / ``get_presence_groups()``; they are joined as well)
and each connection's metadata (``get_presence_meta()``). Anything can ask
who is there::

    from django_wsviews import apresence, presence

    members = presence("room.lobby")  # sync code
    members = await apresence("room.lobby")  # async code
    members["user:42"].connections  # {"3f2a...": {"username": "ada"}, ...}

Members are keyed by user (``"user:<pk>"``) for an authenticated user and
by connection (``"conn:<connection id>"``) otherwise, so one user in three
tabs is one member with three connections.

The members of a group get ``wsviews.presence_diff`` group messages when a
key arrives (its first connection joins) or leaves (its last connection
ends), never for a second tab; see :doc:`presence` for the events and the
failure policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync

from . import conf, jsontext
from .auth import aload_user
from .backends import get_backend_config
from .groups import validate_group_name
from .log import get_logger
from .presence_tracker import (
    STATE_EVENT,
    Tracker,
    current_tracker,
    get_tracker,
    make_store,
    member_json,
)

if TYPE_CHECKING:
    from .views import WebSocketView

__all__ = [
    "MAX_META_SIZE",
    "PresenceMember",
    "apresence",
    "asend_presence_state",
    "presence",
    "presence_groups_of",
    "track",
]

logger = get_logger("django_wsviews.presence")

#: The largest metadata of one connection, in bytes of JSON.
MAX_META_SIZE = 4096


@dataclass(frozen=True)
class PresenceMember:
    """
    One member of a group: a user, or an anonymous connection.

    ``key`` is ``"user:<pk>"`` or ``"conn:<connection id>"``;
    ``connections`` maps each of its connection ids to that connection's
    metadata (what ``get_presence_meta()`` returned, as JSON decodes it).
    """

    key: str
    connections: Mapping[str, Mapping[str, Any]]

    def as_json(self) -> dict[str, Any]:
        """Return the member as events carry it: ``{"connections": {...}}``."""
        return member_json(self.connections)


async def apresence(group: str) -> dict[str, PresenceMember]:
    """
    Return the members of ``group`` in every process, by key, in key order.

    An empty dict when nobody is present. Raise TypeError or ValueError for
    an invalid group name, ImproperlyConfigured for a group backend without
    presence, and the store's error (a Redis or psycopg error, or
    ``OSError``) when its server is unreachable.
    """
    validate_group_name(group)
    tracker = current_tracker()
    if tracker is not None:
        found = await tracker.store.members(group)
    else:  # not serving here (a task, a shell): a store for this call
        timeout = conf.settings.WSVIEWS_PRESENCE_TIMEOUT
        store = make_store(get_backend_config(), "reader", timeout)
        try:
            found = await store.members(group)
        finally:
            await store.close()
    return {key: PresenceMember(key, found[key]) for key in sorted(found)}


def presence(group: str) -> dict[str, PresenceMember]:
    """The sync twin of :func:`apresence`; raise RuntimeError in async code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result: dict[str, PresenceMember] = async_to_sync(apresence)(group)
        return result
    raise RuntimeError(
        "presence() is for sync code; in async code, use await apresence() instead."
    )


async def asend_presence_state(view: WebSocketView, group: str | None = None) -> None:
    """
    Send ``view``'s client the full member list of ``group`` (default: each presence group).

    One ``{"event": "wsviews.presence_state", "group": ..., "members":
    {key: {"connections": {...}}}}`` text message per group. Call it after
    ``accept()``, in ``connect()`` for instance: group messages (the diffs)
    wait until ``connect()`` returns, so the client gets the list first,
    then every change after it (and perhaps a few it already has: apply
    them as a set would). Raise as :func:`apresence` does.
    """
    groups = [group] if group is not None else presence_groups_of(view)
    for name in groups:
        members = await apresence(name)
        await view.send(
            jsontext.dumps(
                {
                    "event": STATE_EVENT,
                    "group": name,
                    "members": {key: m.as_json() for key, m in members.items()},
                }
            )
        )


def presence_groups_of(view: WebSocketView) -> list[str]:
    """
    Return the view's presence groups, checked.

    Raise TypeError for a str instead of a list, and TypeError or ValueError
    for an invalid name, as the groups of ``get_group_names()`` do.
    """
    names: Sequence[str] = view.get_presence_groups()
    if isinstance(names, str):
        raise TypeError(
            f"{type(view).__qualname__}.get_presence_groups() returned the str "
            f"{names!r}; return a list of names, e.g. [{names!r}]."
        )
    return [validate_group_name(name) for name in names] if names else []


def encode_meta(view: WebSocketView, meta: object) -> str:
    """
    Return ``meta`` as JSON text.

    Raise TypeError if it is not a dict of JSON types (Django's encoder, as
    ``send_json()``), and ValueError past :data:`MAX_META_SIZE` bytes.
    """
    where = f"{type(view).__qualname__}.get_presence_meta()"
    if not isinstance(meta, Mapping):
        raise TypeError(f"{where} must return a dict, not {type(meta).__name__}.")
    try:
        text = jsontext.dumps(dict(meta))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} returned what JSON cannot encode: {exc}") from exc
    size = len(text.encode())
    if size > MAX_META_SIZE:
        raise ValueError(
            f"{where} returned {size} bytes of JSON, over the limit of "
            f"{MAX_META_SIZE}: keep presence metadata small (ids, names), and "
            "load the rest when needed."
        )
    return text


def presence_key(view: WebSocketView, user: Any) -> str:
    """Return ``"user:<pk>"`` for an authenticated user, else ``"conn:<connection id>"``."""
    if user is not None and getattr(user, "is_authenticated", False):
        return f"user:{user.pk}"
    return f"conn:{view.connection_id}"


async def track(
    view: WebSocketView, groups: Sequence[str], on_exit: Callable[..., None]
) -> None:
    """
    Make ``view``'s connection present in ``groups`` (already joined); leave on exit.

    The lifecycle calls it before the accept is sent, once the groups are
    joined. ``get_presence_meta()`` runs once, after the user is loaded; its
    errors (a non-dict, non-JSON, too big) raise, refusing the handshake as
    any error of the view does. A store that cannot be reached is logged,
    and the connection goes on without presence.
    """
    if not groups:
        return
    user = await aload_user(view.request)
    meta = encode_meta(view, view.get_presence_meta())
    key = presence_key(view, user)
    tracker = get_tracker()
    connection = view.connection_id
    joined: list[str] = []
    on_exit(_leave, tracker, joined, connection, view.request.path)
    for group in groups:
        try:
            await tracker.join(group, connection, key, meta)
        except Exception as exc:
            logger.error(
                "Could not enter WebSocket %s in the presence of %r: %s",
                view.request.path,
                group,
                exc,
            )
        else:
            joined.append(group)


async def _leave(
    tracker: Tracker, groups: list[str], connection: str, path: str
) -> None:
    for group in groups:
        try:
            await tracker.leave(group, connection)
        except Exception as exc:
            logger.error(
                "Could not remove WebSocket %s from the presence of %r: %s",
                path,
                group,
                exc,
            )
