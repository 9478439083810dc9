"""
Groups: send to every connection that joined a name, in every process.

A view joins groups (``group_names``, ``get_group_names()``, ``join()``) and
gets their messages through its ``receive_group()`` hook. Anything can send
to a group: a view, a signal handler, a management command, a Celery task,
the shell::

    from django_wsviews.groups import abroadcast, broadcast

    broadcast("room.lobby", "hello")  # sync code
    await abroadcast("room.lobby", json={"text": "hello"})  # async code

A broadcast is serialized once, published once to the backend
(``WSVIEWS_BACKEND``), decoded once per process and fanned out to the local
members without waiting on any socket.

Delivery is at most once, and in order per sender per group: a connection
that is not a member at the time (not yet joined, reconnecting, closed for
being slow) misses the message. Groups that ``WSVIEWS_HISTORY`` names keep
their latest messages, numbered, so that a client that reconnects catches
up (see :mod:`django_wsviews.history`).

``on_commit=True`` holds a message until the database transaction open in
the calling code commits (Django's ``transaction.on_commit()``, for the
database ``using``), and drops it if the transaction rolls back.

Group names are 1 to 100 ASCII letters, digits, hyphens, underscores,
periods and colons. Names starting with ``@`` belong to django-wsviews
(user groups, see :func:`send_to_user`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction

from . import history, jsontext, metrics
from .backends.memory import MemoryBackend
from .envelope import GroupMessage, encode_close, encode_message
from .exceptions import BroadcastError
from .hub import Hub, current_hub, get_hub, serving
from .log import get_logger
from .status import CloseCode, check_close

__all__ = [
    "GroupMessage",
    "abroadcast",
    "aclose_user_sockets",
    "asend_to_user",
    "broadcast",
    "close_user_sockets",
    "send_to_user",
    "user_group_name",
    "validate_group_name",
]

logger = get_logger("django_wsviews.groups")

MAX_NAME_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}\Z")
_MISSING: Any = object()


def validate_group_name(name: object) -> str:
    """
    Return ``name`` if it is a valid group name.

    Raise TypeError if it is not a str, and ValueError, saying what is
    allowed, if it is empty, too long, has other characters, or starts with
    the reserved ``@``.
    """
    if not isinstance(name, str):
        raise TypeError(f"A group name is a str, not {type(name).__name__}.")
    if not _NAME.match(name):
        raise ValueError(
            f"Invalid group name {name!r}: use 1 to {MAX_NAME_LENGTH} ASCII "
            "letters, digits, hyphens, underscores, periods and colons, such as "
            "'room.lobby' (slugify user input first). Names starting with '@' "
            "are reserved."
        )
    return name


def user_group_name(user: Any) -> str:
    """
    Return the name of the group that every connection of ``user`` joins.

    ``user`` is a user instance or its primary key. Raise ValueError for an
    anonymous or unsaved user (no primary key).
    """
    pk = user if isinstance(user, (str, int)) else getattr(user, "pk", None)
    if pk is None or isinstance(pk, bool):
        raise ValueError(
            f"{user!r} has no primary key: anonymous and unsaved users have no sockets."
        )
    key = str(pk)
    if _NAME.match(key) and len(key) <= MAX_NAME_LENGTH - 6:
        return f"@user:{key}"
    return "@user-sha:" + hashlib.sha256(key.encode()).hexdigest()


def _encode(
    group: str,
    message: str | bytes | None,
    content: Any,
    sender: str | None,
    meta: Mapping[str, Any] | None,
    history_kept: bool = True,
) -> bytes:
    if content is not _MISSING:
        if message is not None:
            raise TypeError("Pass a message or json=..., not both.")
        message = jsontext.dumps(content)
    elif message is None:
        raise TypeError("Pass a message (str or bytes) or json=... to broadcast.")
    if sender is not None and not isinstance(sender, str):
        raise TypeError(f"sender is a str, not {type(sender).__name__}.")
    if history_kept and history.limits_for(group) is not None:
        history.check_message(group, message, None if content is _MISSING else content)
    return encode_message(group, message, sender=sender, meta=meta)


#: Called as ``observer(payload, user)`` with every payload the backend took:
#: the wire form of a broadcast, a message to a user or a close request, and
#: the user that :func:`send_to_user` or :func:`close_user_sockets` was given
#: (else None). How :func:`django_wsviews.testing.capture_broadcasts` records;
#: empty outside it, so a broadcast pays one check of an empty list.
publish_observers: list[Callable[[bytes, Any], None]] = []


async def _publish(
    group: str, payload: bytes, user: Any = None, history_kept: bool = True
) -> None:
    """Publish ``payload`` to ``group``: the one place every sending function ends."""
    hub = get_hub()
    _warn_if_nobody_listens(hub, group)
    limits = history.limits_for(group) if history_kept else None
    try:
        if limits is None:
            await hub.publish(group, payload)
        else:
            await history.publish(hub.backend, group, payload, limits)
    except BroadcastError as exc:
        metrics.broadcast_error()
        logger.error("Broadcast to group %r failed: %s", group, exc)
        raise
    if publish_observers:
        for observe in tuple(publish_observers):
            observe(payload, user)


_warned_nobody_listens = False


def _warn_if_nobody_listens(hub: Hub, group: str) -> None:
    """Warn, once per process, that the in-memory backend reaches nobody from here."""
    global _warned_nobody_listens
    if (
        _warned_nobody_listens
        or serving()
        or not issubclass(hub.config.backend_class, MemoryBackend)
    ):
        return
    _warned_nobody_listens = True
    logger.warning(
        "A broadcast to group %r reached nobody: WSVIEWS_BACKEND is the "
        "in-memory backend, which reaches only this process, and this process "
        "serves no WebSocket connections (a shell, a management command, a "
        "task). To reach the server's connections from here, set "
        "WSVIEWS_BACKEND to the Redis backend "
        "(django_wsviews.backends.redis.RedisBackend) or the PostgreSQL backend "
        "(django_wsviews.backends.postgres.PostgresBackend). Said once per process.",
        group,
    )


def _sync_publish(
    group: str,
    payload: bytes,
    name: str,
    user: Any = None,
    on_commit: bool = False,
    using: str | None = None,
    history_kept: bool = True,
) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            f"{name}() is for sync code; in async code, use await a{name}() instead."
        )
    if not (on_commit and _deferred(group, payload, user, using, history_kept)):
        async_to_sync(_publish)(group, payload, user, history_kept)


def _deferred(
    group: str, payload: bytes, user: Any, using: str | None, history_kept: bool
) -> bool:
    """
    Have the outermost transaction open on ``using`` publish ``payload`` once it commits.

    Return False, registering nothing, when no transaction is open there.
    The commit runs in sync code, in a thread without a running event loop
    (Django refuses database work on the loop's thread), so the callback
    publishes as ``broadcast()`` does, whichever function deferred it.
    """
    if not transaction.get_connection(using).in_atomic_block:
        return False

    def broadcast_after_commit() -> None:
        # The transaction has committed: a failed broadcast is logged (by
        # _publish()), not raised out of the commit.
        with contextlib.suppress(BroadcastError):
            async_to_sync(_publish)(group, payload, user, history_kept)

    transaction.on_commit(broadcast_after_commit, using=using, robust=True)
    return True


async def _async_publish(
    group: str,
    payload: bytes,
    user: Any = None,
    on_commit: bool = False,
    using: str | None = None,
    history_kept: bool = True,
) -> None:
    if not (on_commit and _deferred(group, payload, user, using, history_kept)):
        await _publish(group, payload, user, history_kept)


async def abroadcast(
    group: str,
    message: str | bytes | None = None,
    *,
    json: Any = _MISSING,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
    on_commit: bool = False,
    using: str | None = None,
    history: bool = True,
) -> None:
    """
    Send ``message`` (``str``: a text frame, ``bytes``: a binary frame), or
    ``json=`` content as JSON text, to every member of ``group``.

    ``sender`` (any str, such as a view's ``connection_id``) and ``meta`` (a
    small mapping of JSON types) reach ``receive_group()`` for filtering.
    The content is serialized once (JSON with ``DjangoJSONEncoder``),
    whatever the number of members. A group with no members anywhere is
    not an error: nobody gets the message.

    With ``on_commit=True``, the message waits for the transaction open on
    database ``using`` (None: the default database) to commit, and is
    dropped if it rolls back; with no transaction open, it is sent now.
    Django opens no transaction on the event loop (its async ORM runs each
    query in autocommit), so in async code the message is sent now unless a
    transaction is open in this very context: to broadcast after a
    transaction, call :func:`broadcast` with ``on_commit=True`` in the sync
    function that runs it (``sync_to_async``). A message sent after the
    commit raises nothing: a failure is logged.

    To a group with history (``WSVIEWS_HISTORY``), the message must be a
    JSON object without a ``"seq"`` key; each member gets it with its seq.
    ``history=False`` sends it live only: not kept, never replayed, without
    a seq, and of any content (a typing indicator, say; presence's events
    go so).

    Raise TypeError or ValueError for a bad name or content (at once, also
    with ``on_commit``), and
    :class:`~django_wsviews.exceptions.BroadcastError` (also logged) when
    the backend's server is unreachable.
    """
    validate_group_name(group)
    payload = _encode(group, message, json, sender, meta, history)
    await _async_publish(group, payload, None, on_commit, using, history)


def broadcast(
    group: str,
    message: str | bytes | None = None,
    *,
    json: Any = _MISSING,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
    on_commit: bool = False,
    using: str | None = None,
    history: bool = True,
) -> None:
    """
    The sync twin of :func:`abroadcast`, for sync code; raise RuntimeError in async code.

    Outside a server process (a management command, a Celery task) each call
    opens and closes its own backend connection. The in-memory backend
    reaches nobody from there: the first such broadcast of the process logs
    a warning naming the backends that do.

    ``on_commit=True`` defers the message to ``transaction.on_commit()`` for
    database ``using``: sent once the outermost transaction commits (a
    failure then is logged, not raised), dropped if it, or the savepoint
    the call was made in, rolls back; sent now outside a transaction.
    """
    validate_group_name(group)
    payload = _encode(group, message, json, sender, meta, history)
    _sync_publish(group, payload, "broadcast", None, on_commit, using, history)


async def asend_to_user(
    user: Any,
    message: str | bytes | None = None,
    *,
    json: Any = _MISSING,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
    on_commit: bool = False,
    using: str | None = None,
) -> None:
    """
    Send to every connection of ``user`` (an instance or a pk), in every process.

    Only connections that joined the user's group get it: see the view's
    ``user_group``. Raise as :func:`abroadcast` does.
    """
    group = user_group_name(user)
    payload = _encode(group, message, json, sender, meta)
    await _async_publish(group, payload, user, on_commit, using)


def send_to_user(
    user: Any,
    message: str | bytes | None = None,
    *,
    json: Any = _MISSING,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
    on_commit: bool = False,
    using: str | None = None,
) -> None:
    """The sync twin of :func:`asend_to_user`."""
    group = user_group_name(user)
    payload = _encode(group, message, json, sender, meta)
    _sync_publish(group, payload, "send_to_user", user, on_commit, using)


def _close_payload(user: Any, code: int, reason: str) -> tuple[str, bytes]:
    check_close(code, reason)
    group = user_group_name(user)
    return group, encode_close(group, code, reason)


async def aclose_user_sockets(
    user: Any, code: int = CloseCode.UNAUTHORIZED, reason: str = ""
) -> None:
    """
    Close every connection of ``user``, in every process (logout everywhere, ban).

    The code is 4401 (unauthorized) by default; use 4403 (forbidden) for a
    ban. Group messages still waiting for those connections are dropped.
    Connections that did not join the user's group (see ``user_group``)
    are not reached. Raise ValueError for a code a server may not send,
    and BroadcastError as :func:`abroadcast` does.
    """
    await _publish(*_close_payload(user, code, reason), user)


def close_user_sockets(
    user: Any, code: int = CloseCode.UNAUTHORIZED, reason: str = ""
) -> None:
    """The sync twin of :func:`aclose_user_sockets`."""
    group, payload = _close_payload(user, code, reason)
    _sync_publish(group, payload, "close_user_sockets", user)


async def startup() -> None:
    """Connect the group backend now rather than on first use (lifespan startup)."""
    await get_hub().start()


async def shutdown() -> None:
    """Close the group backend (lifespan shutdown, after the connections)."""
    hub = current_hub()
    if hub is not None:
        await hub.close()
