"""
One connection's side of its groups: membership, the groups of accept, delivery.

:class:`GroupDelivery` is what a connection's
:class:`~django_wsviews.membership.Membership` serves (its
:class:`~django_wsviews.membership.GroupTarget`): it joins
``get_group_names()`` and the user's group before the accept is sent, and
runs ``receive_group()`` for each message through the connection's hook
gate, so it never overlaps another hook (unless the view sets
``receive_group_concurrently``). The lifecycle makes one per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .auth import aload_user, loaded_user
from .connection import State
from .exceptions import TooManyGroups
from .groups import user_group_name, validate_group_name
from .history import RESET_EVENT, RESUME_PARAMETER, resume_connection
from .hooks import HookGate, call_guarded
from .membership import Membership
from .presence import presence_groups_of, track

if TYPE_CHECKING:
    from .envelope import GroupMessage
    from .signals import ClosedBy
    from .views import WebSocketView

__all__ = ["GroupDelivery"]


class GroupDelivery:
    """
    The groups of one connection, as its lifecycle runs them.

    ``spawn`` runs a task of the connection; ``on_exit`` registers a
    cleanup for the end of the connection.
    """

    __slots__ = ("_on_exit", "gate", "max_groups", "membership", "spawn", "view")

    def __init__(
        self,
        view: WebSocketView,
        gate: HookGate,
        spawn: Callable[[Awaitable[Any]], asyncio.Future[Any]],
        on_exit: Callable[..., None],
    ) -> None:
        self.view = view
        self.gate = gate
        self.spawn = spawn
        self._on_exit = on_exit
        #: Made by the first join; None for a connection without groups.
        self.membership: Membership | None = None
        #: The connection's limit of groups (its ``Limits``), set on admission.
        self.max_groups: int | None = None

    def close(self) -> None:
        """Let go of the membership and the lifecycle: the connection has ended."""
        self.membership = None
        self.spawn = self._on_exit = _gone

    def get_membership(self) -> Membership:
        """Return the connection's groups, made (and its cleanup registered) on first use."""
        if self.membership is None:
            self.membership = Membership(self, max_groups=self.max_groups)
            self._on_exit(self.membership.leave_all)
        return self.membership

    @property
    def label(self) -> str:
        """Name the connection in log lines: its path."""
        return self.view.request.path

    def is_closed(self) -> bool:
        """Return whether the connection has ended."""
        return self.view._state is State.CLOSED

    def is_busy(self) -> bool:
        """Return whether a hook is running (group messages wait for it)."""
        return self.gate.busy and not self.view.receive_group_concurrently

    async def deliver_group(self, message: GroupMessage) -> None:
        """Run ``receive_group(message)``, after any hook running now unless concurrent."""
        view = self.view
        if view.receive_group_concurrently:
            await call_guarded(view, view.receive_group, message)
        else:
            await self.gate.run(view, view.receive_group, message)

    async def send_reset(self) -> None:
        """Tell the client its history no longer reaches back (``wsviews.reset``)."""
        await self.view.send(RESET_EVENT)

    def close_soon(self, code: int, reason: str, closed_by: ClosedBy) -> None:
        """Close the connection without waiting (for the group queue's overflow)."""
        self.view._close_soon(code, reason, closed_by)

    async def join_initial(self) -> None:
        """
        Join get_group_names(), get_presence_groups() and the user's group,
        together, before the accept is sent; then enter the presence groups.

        So a client that has seen the handshake complete is a member; the
        group messages that come meanwhile wait in the queue. A client back
        with ``wsviews_last`` then gets what it missed of the group it
        resumes, read once it is a member (see :doc:`history`). More groups
        than the connection's limit is a programming error: it
        raises TooManyGroups (the handshake is refused with 500).
        """
        view = self.view
        names = view.get_group_names()
        if isinstance(names, str):
            raise TypeError(
                f"{type(view).__qualname__}.get_group_names() returned the str "
                f"{names!r}; return a list of names, e.g. [{names!r}]."
            )
        joining = [validate_group_name(name) for name in names] if names else []
        present = presence_groups_of(view)
        joining.extend(name for name in present if name not in joining)
        load = view.user_group
        if load is False:
            user = None
        elif load:
            user = await aload_user(view.request)
        else:  # None: only a user already loaded, never a query
            user = loaded_user(view.request)
        if user is not None and getattr(user, "is_authenticated", False):
            user_group: str | None = user_group_name(user)
        else:
            user_group = None
        if user_group is not None:
            joining.append(user_group)
        if not joining:
            return
        try:
            await self.get_membership().join(joining)
        except TooManyGroups as exc:
            raise TooManyGroups(
                f"{type(view).__qualname__} would be in {exc.count} groups on "
                "accept (get_group_names(), the user's group, and any joined "
                f"before), over its limit of {exc.limit}: return fewer names, or "
                "raise limits.max_groups_per_connection "
                "(WSVIEWS_MAX_GROUPS_PER_CONNECTION).",
                limit=exc.limit,
                count=exc.count,
            ) from None
        last = view.request.GET.get(RESUME_PARAMETER)
        if last is not None:  # after the join: no message falls in between
            resume = await resume_connection(
                type(view).__qualname__, last, view.get_history_group(), joining
            )
            if resume is not None:
                self.get_membership().resume_with(resume)
        if present:
            await track(view, present, self._on_exit)

    def start(self) -> None:
        """Start delivering group messages: the accept is sent."""
        if self.membership is not None:
            self.membership.start()


def _gone(*args: Any) -> Any:
    raise RuntimeError("The connection has ended.")
