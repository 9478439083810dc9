"""Routes of the uvicorn processes of the multi-host test."""

from __future__ import annotations

from django.urls import path

from django_wsviews import BroadcastError, WebSocketView, abroadcast

urlpatterns: list[object] = []


class ReportingRoomView(WebSocketView):
    """
    Join ``room.<room>``; ``say <id>`` broadcasts ``<id>`` to it and answers how it went.

    The answer is ``sent <id>``, or ``failed <id>`` when the broadcast raised
    BroadcastError (the connection stays open). Group messages arrive as
    ``got <id>``.
    """

    def get_group_names(self) -> list[str]:
        return [f"room.{self.kwargs['room']}"]

    async def receive(self, message: str | bytes) -> None:
        command, _, ident = str(message).partition(" ")
        if command != "say":
            await self.send(f"unknown {command}")
            return
        try:
            await abroadcast(f"room.{self.kwargs['room']}", f"got {ident}")
        except BroadcastError:
            await self.send(f"failed {ident}")
        else:
            await self.send(f"sent {ident}")


ws_urlpatterns = [path("ws/room/<slug:room>/", ReportingRoomView.as_view())]
