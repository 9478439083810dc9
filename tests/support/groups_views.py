"""WebSocket views for the group tests (unit tests and the uvicorn servers)."""

from __future__ import annotations

from typing import Any

from django_wsviews import (
    GroupMessage,
    JsonWebSocketView,
    WebSocketView,
    abroadcast,
    broadcast,
)
from django_wsviews.auth import aload_user

from .views import record


class RoomView(WebSocketView):
    """
    Join ``room.<room>`` on accept; speak a tiny test protocol.

    ``say <text>`` broadcasts <text> to the room (sender: this connection),
    ``join <group>`` / ``leave <group>`` change membership and answer
    ``joined`` / ``left``, ``groups`` answers the sorted group list.
    """

    key = "room"

    def get_group_names(self) -> list[str]:
        return [f"room.{self.kwargs['room']}"]

    async def receive(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await abroadcast(f"room.{self.kwargs['room']}", message)
            return
        command, _, argument = message.partition(" ")
        if command == "say":
            await abroadcast(
                f"room.{self.kwargs['room']}", argument, sender=self.connection_id
            )
        elif command == "join":
            await self.join(argument)
            await self.send("joined")
        elif command == "leave":
            await self.leave(argument)
            await self.send("left")
        elif command == "groups":
            await self.send(",".join(sorted(self.joined_groups)))
        elif command == "id":
            await self.send(self.connection_id)

    async def disconnect(self, code: int) -> None:
        record(self.key, ("disconnect", code, sorted(self.joined_groups)))


class SkipSenderView(RoomView):
    """Do not echo a connection's own broadcasts back to it."""

    async def receive_group(self, message: GroupMessage) -> None:
        if message.sender != self.connection_id:
            await super().receive_group(message)


class AudienceView(RoomView):
    """Show a message only to the connections its ``meta["to"]`` names."""

    async def receive_group(self, message: GroupMessage) -> None:
        audience = message.meta.get("to")
        if audience is None or self.request.GET.get("name") in audience:
            await self.send(f"{message.group}: {message.data!s}")


class SyncRoomView(WebSocketView):
    """Plain-def hooks: join, broadcast() and receive_group() from a worker thread."""

    def connect(self) -> None:  # type: ignore[override]
        self.accept()
        self.join("sync.room")

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        broadcast("sync.room", json={"said": message})

    def receive_group(self, message: GroupMessage) -> None:  # type: ignore[override]
        self.send("sync:" + str(message.data))


class JsonRoomView(JsonWebSocketView):
    """JSON in, JSON broadcast to ``json.room``."""

    group_names = ["json.room"]

    async def receive_json(self, content: Any) -> None:
        await abroadcast("json.room", json=content)


class EarlyJoinView(WebSocketView):
    """Join in connect(), before accept()."""

    async def connect(self) -> None:
        await self.join("early")
        record("early", "joined")
        await self.accept()


class FailingGroupView(WebSocketView):
    """receive_group() raises."""

    group_names = ["failing"]

    async def receive_group(self, message: GroupMessage) -> None:
        raise RuntimeError("receive_group failed")


class BadNamesView(WebSocketView):
    """get_group_names() returns an invalid name."""

    def get_group_names(self) -> list[str]:
        return ["no spaces allowed"]


class StrNamesView(WebSocketView):
    """group_names is a str instead of a list."""

    group_names = "lobby"  # type: ignore[assignment]


class NoGroupsView(WebSocketView):
    """Joins nothing; records whether it has a membership."""

    async def receive(self, message: str | bytes) -> None:
        lifecycle = self._lifecycle
        await self.send(repr(None if lifecycle is None else lifecycle.membership))


class UserView(WebSocketView):
    """
    Join the user's group if loaded (``user_group = None``).

    With ``?load=1``, connect() loads the user first; ``who`` answers the
    groups.
    """

    async def connect(self) -> None:
        if self.request.GET.get("load"):
            await aload_user(self.request)
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        await self.send(",".join(sorted(self.joined_groups)))


class LoadUserView(UserView):
    """``user_group = True``: the user is loaded on accept."""

    user_group = True


class NoUserGroupView(UserView):
    """``user_group = False``: never joins."""

    user_group = False
