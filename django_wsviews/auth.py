"""
The user of a connection, loaded once and never by surprise.

A handshake's ``request.user`` is Django's lazy user: touching it reads the
session and the user table. These functions say when that happens:
:func:`loaded_user` never queries; :func:`aload_user` queries at most once,
on a pooled worker thread.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import LazyObject, empty

from .db import run_sync

__all__ = ["aload_user", "loaded_user"]


def loaded_user(request: Any) -> Any | None:
    """
    Return the user of ``request`` if it is already loaded, else None.

    Looks at what ``AuthenticationMiddleware`` cached (``request.user``
    evaluated, or ``await request.auser()`` called); never queries.
    """
    state = request.__dict__
    user = state.get("_acached_user")
    if user is None:
        user = state.get("_cached_user")
        if user is None:
            user = state.get("user")
            if isinstance(user, LazyObject):
                wrapped = user._wrapped
                return None if wrapped is empty else wrapped
    return user


def _evaluated_user(request: Any) -> Any:
    """Return ``request.user``, loading it (sync: session and user queries)."""
    user = request.user
    bool(user.is_authenticated)  # evaluates the lazy object
    return user


async def aload_user(request: Any) -> Any | None:
    """
    Return the user of ``request``, loading it if needed; None without auth middleware.

    An already loaded user costs nothing; otherwise the session and user are
    read in one call on a pooled worker thread (on every Django version,
    ``request.auser()`` or not).
    """
    user = loaded_user(request)
    if user is None and hasattr(request, "user"):
        user = await run_sync(_evaluated_user, request)
    return user
