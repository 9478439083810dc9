"""
WebSocket views for the presence tests (unit tests and the uvicorn servers).

The user comes from the query string (``?user=<pk>``) through
:func:`user_from_query`, so that processes without a user table can serve
several users.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponseBase

from django_wsviews import WebSocketView, apresence, presence
from django_wsviews.presence import asend_presence_state


@dataclass(frozen=True)
class QueryUser:
    """An authenticated user that exists only in the query string."""

    pk: int
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_username(self) -> str:
        return f"user{self.pk}"


def user_from_query(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Any:
    """Set ``request.user`` from ``?user=<pk>`` (anonymous without it)."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        pk = request.GET.get("user")
        request.user = QueryUser(int(pk)) if pk else AnonymousUser()  # type: ignore[assignment]
        return get_response(request)

    return middleware


class PresenceRoomView(WebSocketView):
    """
    Present in ``room.<room>``, with ``?device=`` in the metadata.

    ``?state=1`` sends the full list on connect. Commands: ``list`` answers
    the room's members as JSON (``apresence()``), ``say <text>`` broadcasts.
    """

    def get_presence_groups(self) -> list[str]:
        return [f"room.{self.kwargs['room']}"]

    def get_presence_meta(self) -> dict[str, Any]:
        meta = dict(super().get_presence_meta())
        device = self.request.GET.get("device")
        if device:
            meta["device"] = device
        return meta

    async def connect(self) -> None:
        await self.accept()
        if self.request.GET.get("state"):
            await asend_presence_state(self)

    async def receive(self, message: str | bytes) -> None:
        from django_wsviews import abroadcast
        from django_wsviews.jsontext import dumps

        command, _, argument = str(message).partition(" ")
        group = f"room.{self.kwargs['room']}"
        if command == "list":
            members = await apresence(group)
            await self.send(
                dumps(
                    {"list": {key: sorted(m.connections) for key, m in members.items()}}
                )
            )
        elif command == "say":
            await abroadcast(group, argument)
        elif command == "id":
            await self.send(self.connection_id)
        elif command == "fail":
            raise RuntimeError("Failing on request.")


class SyncListView(PresenceRoomView):
    """Answer ``list`` from a worker thread with the sync ``presence()``."""

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        members = presence(f"room.{self.kwargs['room']}")
        self.send(",".join(f"{k}={len(m.connections)}" for k, m in members.items()))


class ClassAttributeView(WebSocketView):
    """Present in the groups named by the class attribute."""

    presence_groups = ("lobby", "hall")


class BadMetaView(PresenceRoomView):
    """get_presence_meta() returns what JSON cannot encode."""

    def get_presence_meta(self) -> dict[str, Any]:
        return {"when": object()}


class HugeMetaView(PresenceRoomView):
    """get_presence_meta() returns 10 kB."""

    def get_presence_meta(self) -> dict[str, Any]:
        return {"blob": "x" * 10_000}


class NotADictMetaView(PresenceRoomView):
    """get_presence_meta() returns a list."""

    def get_presence_meta(self) -> Any:
        return ["ada"]


class BadGroupView(WebSocketView):
    """get_presence_groups() returns an invalid name."""

    def get_presence_groups(self) -> list[str]:
        return ["no spaces allowed"]


class StrGroupView(WebSocketView):
    """presence_groups is a str instead of a list."""

    presence_groups = "lobby"


class MetaFromConnectView(WebSocketView):
    """Reads its metadata in connect(), with a query, before it accepts (docs/presence.rst)."""

    presence_groups = ("from-connect",)

    async def connect(self) -> None:
        from django.contrib.auth.models import User

        user = await User.objects.aget(username=self.request.GET["name"])
        self.display_name = user.get_full_name()
        await self.accept()

    def get_presence_meta(self) -> dict[str, Any]:
        return {**super().get_presence_meta(), "name": self.display_name}
