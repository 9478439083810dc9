"""WebSocket views for the history tests (in-process tests and the uvicorn servers)."""

from __future__ import annotations

import json
import os

from django_wsviews import GroupMessage, WebSocketView, abroadcast


class HistoryRoomView(WebSocketView):
    """
    Join ``hist.<room>``; ``burst <n>`` broadcasts n JSON messages, then answers ``done``.

    Each message is ``{"n": <i>, "from": <the server's TAG>}``.
    """

    def get_group_names(self) -> list[str]:
        return [f"hist.{self.kwargs['room']}"]

    async def receive(self, message: str | bytes) -> None:
        command, _, argument = str(message).partition(" ")
        if command == "burst":
            tag = os.environ.get("WSVIEWS_E2E_TAG", "here")
            group = f"hist.{self.kwargs['room']}"
            for n in range(int(argument)):
                await abroadcast(group, json={"n": n, "from": tag})
            await self.send("done")


class EvenOnlyView(HistoryRoomView):
    """Send only the group messages whose ``n`` is even: replayed ones too."""

    async def receive_group(self, message: GroupMessage) -> None:
        if json.loads(str(message.data))["n"] % 2 == 0:
            await super().receive_group(message)


class TwoHistoriesView(HistoryRoomView):
    """Join two groups with history, without saying which one resumes."""

    def get_group_names(self) -> list[str]:
        return [f"hist.{self.kwargs['room']}", f"hist.{self.kwargs['room']}-b"]


class ChosenHistoryView(TwoHistoriesView):
    """Join two groups with history and resume the second."""

    def get_history_group(self) -> str | None:
        return f"hist.{self.kwargs['room']}-b"


class PlainRoomView(HistoryRoomView):
    """Join ``plain.<room>``, a group without history."""

    def get_group_names(self) -> list[str]:
        return [f"plain.{self.kwargs['room']}"]
