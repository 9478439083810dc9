"""
History and resume: groups that keep their latest messages, and clients that catch up.

A project opts groups in with ``WSVIEWS_HISTORY``, group-name patterns
(``fnmatch``: ``*``, ``?``, ``[...]``) mapped to what to keep::

    WSVIEWS_HISTORY = {
        "chat.*": {"MAX_MESSAGES": 100, "MAX_AGE": 3600},
    }

The first pattern that matches a group decides. Names starting with ``@``
(user groups) never have history.

Every broadcast to such a group is numbered, kept and published in one
atomic step by the backend's store (see
:mod:`django_wsviews.backends.history_base`); its members get it with
``"seq": "<epoch>:<offset>"`` added to the JSON object. So a broadcast to
a history group must be a JSON object without a ``"seq"`` key (``json={...}``,
or a str holding one); anything else raises TypeError when broadcast.

A connection that comes back with ``wsviews_last=<seq>`` resumes one
group (see :func:`resume`): it gets the messages after that seq, in order,
before any live one, with no gap and no duplicate; or
``{"event": "wsviews.reset"}`` when the history no longer reaches back.
"""

from __future__ import annotations

import fnmatch
import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from . import conf
from .backends import BaseBackend
from .backends.history_base import HistoryLimits, HistoryStore, Seq
from .envelope import GroupMessage, decode
from .exceptions import BroadcastError
from .hub import get_hub
from .log import get_logger

__all__ = [
    "RESET_EVENT",
    "RESUME_PARAMETER",
    "Resume",
    "alast_seq",
    "check_message",
    "choose_group",
    "last_seq",
    "limits_for",
    "publish",
    "resume",
    "resume_connection",
    "store_for",
]

logger = get_logger("django_wsviews.history")

#: The query parameter a client resumes with.
RESUME_PARAMETER = "wsviews_last"
#: The text frame that tells a client its history no longer reaches back.
RESET_EVENT = '{"event": "wsviews.reset"}'

#: The stores of the backends that have one, by the backend class's dotted path.
#: A subclass of a listed backend gets its parent's store.
STORES = {
    "django_wsviews.backends.memory.MemoryBackend": (
        "django_wsviews.backends.history_memory.MemoryHistory"
    ),
    "django_wsviews.backends.redis.RedisBackend": (
        "django_wsviews.backends.history_redis.RedisHistory"
    ),
    "django_wsviews.backends.postgres.PostgresBackend": (
        "django_wsviews.backends.history_postgres.PostgresHistory"
    ),
}

_limits_cache: dict[str, HistoryLimits | None] = {}
_rules: list[tuple[str, HistoryLimits]] | None = None
_stores: weakref.WeakKeyDictionary[BaseBackend, HistoryStore[Any]] = (
    weakref.WeakKeyDictionary()
)


def limits_for(group: str) -> HistoryLimits | None:
    """Return what ``WSVIEWS_HISTORY`` keeps of ``group``, or None if it keeps nothing."""
    try:
        return _limits_cache[group]
    except KeyError:
        pass
    global _rules
    if _rules is None:
        _rules = [
            (pattern, HistoryLimits(rule["MAX_MESSAGES"], rule["MAX_AGE"]))
            for pattern, rule in conf.settings.WSVIEWS_HISTORY.items()
        ]
    limits = None
    if not group.startswith("@"):
        for pattern, rule in _rules:
            if fnmatch.fnmatchcase(group, pattern):
                limits = rule
                break
    if len(_limits_cache) > 10_000:
        _limits_cache.clear()
    _limits_cache[group] = limits
    return limits


def check_message(group: str, data: str | bytes, content: Any = None) -> None:
    """
    Raise TypeError unless a broadcast to history group ``group`` is a JSON object without ``"seq"``.

    ``content`` is the ``json=`` argument when there was one (not parsed
    again); ``data`` the text or bytes otherwise.
    """
    if content is None:
        if not isinstance(data, str):
            raise TypeError(
                f"Group {group!r} keeps history (WSVIEWS_HISTORY), so its messages "
                "are JSON objects: pass json={...} or JSON text, not bytes."
            )
        try:
            content = json.loads(data)
        except ValueError:
            content = None
    if not isinstance(content, Mapping):
        raise TypeError(
            f"Group {group!r} keeps history (WSVIEWS_HISTORY), so its messages are "
            'JSON objects, to which each member\'s copy adds its "seq": pass '
            "json={...} with a dict."
        )
    if "seq" in content:
        raise TypeError(
            f'A message to group {group!r} has a "seq" key, which is reserved: '
            "the group keeps history and sets it. Rename the key."
        )


def store_for(backend: BaseBackend) -> HistoryStore[Any]:
    """
    Return the history store of ``backend``, made on first use.

    Raise ImproperlyConfigured if the backend keeps no history.
    """
    store = _stores.get(backend)
    if store is None:
        store = _stores[backend] = import_string(_store_path(type(backend)))(backend)
    return store


def check_store(backend_class: type[BaseBackend]) -> None:
    """
    Raise ImproperlyConfigured if ``WSVIEWS_HISTORY`` keeps history and ``backend_class`` cannot.

    Run by the system checks and at lifespan startup, so that the mistake is
    found before the first broadcast to a group with history.
    """
    if conf.settings.WSVIEWS_HISTORY:
        _store_path(backend_class)


def _store_path(backend_class: type[BaseBackend]) -> str:
    for klass in backend_class.__mro__:
        path = STORES.get(f"{klass.__module__}.{klass.__qualname__}")
        if path is not None:
            return path
    raise ImproperlyConfigured(
        f"WSVIEWS_HISTORY keeps history, but the group backend "
        f"{backend_class.__qualname__} has no history store: use the "
        "in-memory, Redis or PostgreSQL backend, or remove WSVIEWS_HISTORY."
    )


async def publish(
    backend: BaseBackend, group: str, payload: bytes, limits: HistoryLimits
) -> Seq:
    """Number, keep and publish ``payload`` to ``group``; return its seq."""
    return await store_for(backend).publish(group, payload, limits)


async def alast_seq(group: str) -> str | None:
    """
    Return the seq of the latest message of ``group``, or None if it has none.

    A page that renders a group's state from the database passes it to the
    JavaScript client as ``lastSeq``, read *before* the database: then its
    first connection resumes from there, and nothing said between the
    render and the connection is missed (a message both rendered and
    replayed is possible: the page drops it by its own id). None when the
    group has had no broadcast since its history was lost (or ever). Raise
    ValueError if ``WSVIEWS_HISTORY`` keeps no history for ``group``, and
    BroadcastError if the backend's server is unreachable.
    """
    limits = limits_for(group)
    if limits is None:
        raise ValueError(
            f"Group {group!r} keeps no history: add a pattern that matches it "
            "to WSVIEWS_HISTORY."
        )
    read = await store_for(get_hub().backend).read(group, _PAST_EVERY_OFFSET, limits)
    return None if read.epoch is None else str(Seq(read.epoch, read.last))


def last_seq(group: str) -> str | None:
    """The sync twin of :func:`alast_seq`, for sync code (a view rendering a page)."""
    return async_to_sync(alast_seq)(group)


#: An offset past any: a read after it returns the epoch and last offset only.
_PAST_EVERY_OFFSET = 10**18 - 2


@dataclass(frozen=True)
class Resume:
    """
    What a connection gets before its live messages: ``reset``, or ``messages``.

    ``through`` is the seq of the last message replayed (or the client's
    own when there was nothing to replay): live messages of the group up to
    it are duplicates, to be dropped. None with a reset.
    """

    group: str
    reset: bool
    messages: tuple[GroupMessage, ...] = ()
    through: Seq | None = None

    def is_duplicate(self, message: GroupMessage) -> bool:
        """Return whether live ``message`` was replayed already (or seen by the client)."""
        through = self.through
        if through is None or message.group != self.group or message.seq is None:
            return False
        seq = Seq.parse(message.seq)
        return (
            seq is not None
            and seq.epoch == through.epoch
            and seq.offset <= through.offset
        )


async def resume(backend: BaseBackend, group: str, last: str) -> Resume:
    """
    Return what a client that saw ``last`` in ``group`` missed.

    A reset when ``last`` is malformed (not ``"<epoch>:<offset>"``), names
    another epoch (the history was lost, or the seq came from another
    group), lies past the group's last offset, or lies before what is kept.
    Call it once the connection is a member of the group, so that no
    message falls between the read and live delivery. Raise BroadcastError
    if the backend's server is unreachable.
    """
    limits = limits_for(group)
    seq = Seq.parse(last)
    if limits is None or seq is None:
        return Resume(group, reset=True)
    read = await store_for(backend).read(group, seq.offset, limits)
    if read.epoch != seq.epoch or seq.offset > read.last:
        return Resume(group, reset=True)
    if seq.offset == read.last:
        return Resume(group, reset=False, through=seq)
    if not read.entries or read.entries[0][0] != seq.offset + 1:
        return Resume(group, reset=True)
    messages = []
    for _, payload in read.entries:
        message = decode(payload)
        if isinstance(message, GroupMessage):
            messages.append(message)
    return Resume(
        group,
        reset=False,
        messages=tuple(messages),
        through=Seq(read.epoch, read.entries[-1][0]),
    )


_warned_views: set[str] = set()


def choose_group(view: str, explicit: str | None, names: Iterable[str]) -> str | None:
    """
    Return the group a connection of ``view`` (its name) resumes, or None.

    Called when the client asked to resume. ``explicit`` is the view's
    ``history_group``: it must be one of the connection's groups ``names``
    and keep history, else the connection resumes nothing (and a warning
    says why, once per view). Without it, the first of ``names`` that keeps
    history; when several do, a warning (once per view) says that the
    others are not resumed, and when none does, a warning (once per view)
    says that the client's last seq is ignored.
    """
    names = list(names)
    if explicit is not None:
        if explicit in names and limits_for(explicit) is not None:
            return explicit
        _warn_once(
            view,
            "%s.history_group is %r, which is not one of the connection's "
            "groups with history (WSVIEWS_HISTORY); it resumes nothing. Return "
            "that group from get_group_names(), or name one that is.",
            view,
            explicit,
        )
        return None
    candidates = [name for name in names if limits_for(name) is not None]
    if not candidates:
        _warn_once(
            view,
            "A client of %s asked to resume (wsviews_last), but none of its "
            "groups (%s) keeps history; it resumes nothing. Add a pattern for "
            "the group to WSVIEWS_HISTORY.",
            view,
            ", ".join(names) or "none",
        )
    elif len(candidates) > 1:
        _warn_once(
            view,
            "%s joins several groups with history (%s); a connection resumes one, "
            "the first (%r): the client's last seq may come from another, and "
            "then it gets a reset. Set history_group to say which.",
            view,
            ", ".join(candidates),
            candidates[0],
        )
    return candidates[0] if candidates else None


def _warn_once(view: str, text: str, *args: object) -> None:
    if view not in _warned_views:
        _warned_views.add(view)
        logger.warning(text, *args)


async def resume_connection(
    view: str,
    last: str | None,
    explicit: str | None,
    names: Iterable[str],
) -> Resume | None:
    """
    Return what a new connection of ``view`` gets before live messages, or None.

    ``last`` is the ``wsviews_last`` query parameter (None: absent). None
    when the client sent none, or the view has no group to resume: the
    parameter is then ignored. A server that cannot read the history
    (unreachable) logs a warning and sends a reset.
    """
    if last is None:
        return None
    group = choose_group(view, explicit, names)
    if group is None:
        return None
    try:
        result = await resume(get_hub().backend, group, last)
    except BroadcastError as exc:
        logger.warning(
            "Cannot resume group %r for %s (%s); sending a reset.", group, view, exc
        )
        return Resume(group, reset=True)
    if result.reset:
        logger.debug("Resuming group %r after %r: reset.", group, last[:60])
    return result


def _history_setting_changed(*, setting: str, **kwargs: Any) -> None:
    global _rules
    if setting == "WSVIEWS_HISTORY":
        _limits_cache.clear()
        _rules = None


setting_changed.connect(_history_setting_changed, dispatch_uid="django_wsviews.history")
