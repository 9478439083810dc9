"""
Keeping a WebSocket tied to the session it was opened with.

``request.user`` is fixed when the socket opens: a socket outlives the page
that opened it, and nothing re-reads the session unless asked to. Two things
keep sockets honest:

- A connection whose limits set ``session_recheck_interval`` (the view's
  ``Limits``, or ``WSVIEWS_SESSION_RECHECK_INTERVAL``) re-reads its session
  from the session store (every message for 0, else every that many seconds) and
  calls :meth:`~django_wsviews.WebSocketView.handle_session_expired` (closing with
  4401 by default) once the session has ended or its user changed, for
  instance after a logout or a password change elsewhere.
- Logging out (``django.contrib.auth.logout``) closes, with 4401, every
  socket of this process that was opened with that session.
"""

from __future__ import annotations

import asyncio
import weakref
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from .db import run_sync
from .hooks import HookGate, HookOwner, report_exception
from .status import CloseCode

if TYPE_CHECKING:
    from django.http import HttpRequest


class Closable(Protocol):
    """A connection that can be closed from a signal receiver."""

    def close_soon(self, code: int = ..., reason: str = ...) -> None:
        """Close the connection without waiting."""
        ...


__all__ = [
    "SessionCheck",
    "session_key",
    "session_still_valid",
    "session_user_id",
    "track",
    "untrack",
]

_sockets: dict[str, weakref.WeakSet[Closable]] = {}


def session_key(request: HttpRequest) -> str | None:
    """Return the session key the handshake's cookie names, or None."""
    return request.COOKIES.get(settings.SESSION_COOKIE_NAME) or None


def track(view: Closable, key: str) -> None:
    """Remember that ``view``'s socket was opened with session ``key``."""
    _sockets.setdefault(key, weakref.WeakSet()).add(view)


def untrack(view: Closable, key: str) -> None:
    """Forget ``view``; done when its socket ends."""
    views = _sockets.get(key)
    if views is not None:
        views.discard(view)
        if not views:
            del _sockets[key]


def _fresh_session(key: str) -> Any:
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(key)


def session_user_id(key: str) -> str | None:
    """Return the user id stored in session ``key`` now (sync: database or cache)."""
    value = _fresh_session(key).get(SESSION_KEY)
    return None if value is None else str(value)


def session_still_valid(key: str, user_id: str | None) -> bool:
    """
    Return whether session ``key`` is still logged in as ``user_id`` (sync).

    An anonymous socket (``user_id`` None) is always valid. Otherwise the
    session must still exist, name the same user, and pass Django's session
    verification (the password hash check of ``get_user()``).
    """
    if user_id is None:
        return True
    session = _fresh_session(key)
    if str(session.get(SESSION_KEY)) != user_id or not session.get(HASH_SESSION_KEY):
        return False

    class _Request:
        pass

    request = _Request()
    request.session = session  # type: ignore[attr-defined]
    user = get_user(request)  # type: ignore[arg-type]
    return bool(user.is_authenticated) and str(user.pk) == user_id


@receiver(user_logged_out, dispatch_uid="django_wsviews.sessions.close_on_logout")
def close_on_logout(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """Close every socket of this process opened with the session being logged out."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key:
        return
    for view in list(_sockets.get(key, ())):
        view.close_soon(CloseCode.UNAUTHORIZED, "Logged out.")


class _Watched(HookOwner, Protocol):
    async def handle_session_expired(self) -> None: ...


class SessionCheck:
    """
    Re-read one connection's session, as its limits' ``session_recheck_interval`` asks.

    :meth:`baseline` records who the session is logged in as at connect;
    :meth:`still_valid` re-reads it (on a pooled thread) and, once it has
    ended or names another user, runs the view's
    ``handle_session_expired()`` through ``gate``; :meth:`watch` does that
    every ``interval`` seconds while the connection is open.
    """

    __slots__ = ("_user_id", "gate", "key", "view")

    def __init__(self, view: _Watched, gate: HookGate, key: str | None) -> None:
        self.view = view
        self.gate = gate
        self.key = key
        self._user_id: str | None = None

    async def baseline(self) -> None:
        """Record who the session is logged in as now."""
        if self.key is not None:
            self._user_id = await run_sync(session_user_id, self.key)

    async def still_valid(self) -> bool:
        """Return whether the session is still valid; if not, run handle_session_expired()."""
        if self.key is None:
            return True
        view = self.view
        try:
            valid = await run_sync(session_still_valid, self.key, self._user_id)
        except Exception as exc:
            await report_exception(view, exc)
            return False
        if not valid:
            await self.gate.run(view, view.handle_session_expired)
        return bool(valid)

    async def watch(self, interval: float) -> None:
        """Re-check every ``interval`` seconds while the connection is open."""
        from .connection import State

        while self.view.state is State.OPEN:
            await asyncio.sleep(interval)
            if self.view.state is State.OPEN and not await self.still_valid():
                return
