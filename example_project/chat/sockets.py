"""
The chat's WebSocket view: one connection per open room page.

The JavaScript page calls ChatRoomView's actions through the client
(``client.call("post", {text})``); the htmx page's form sends its fields to
HtmxRoomView. What happens in the room reaches every page through the
room's groups (see broadcasts.py).
"""

from dataclasses import dataclass
from typing import Any

from django_wsviews import (
    GroupMessage,
    JsonWebSocketView,
    Limits,
    LoginRequiredMixin,
    abroadcast,
    action,
)
from django_wsviews.htmx import HtmxMessage, HtmxWebSocketView
from django_wsviews.presence import asend_presence_state

from .broadcasts import (
    ANNOUNCEMENTS,
    ANNOUNCEMENTS_HTML,
    log_group,
    publish_message,
    room_group,
    room_html_group,
)
from .forms import MessageForm
from .models import TEXT_MAX_LENGTH, Message


@dataclass
class PostMessage:
    """The payload of ``post``; a ValueError here is the call's ``invalid`` reply."""

    text: str

    def __post_init__(self) -> None:
        self.text = self.text.strip()
        if not self.text:
            raise ValueError("Write something first.")
        if len(self.text) > TEXT_MAX_LENGTH:
            raise ValueError(f"Messages have at most {TEXT_MAX_LENGTH} characters.")


class ChatRoomView(LoginRequiredMixin, JsonWebSocketView):
    """
    A room's socket, at ``ws/chat/<room>/``, for logged-in users.

    Joins the room's group and the announcements' on accept, and is present
    in the room's group: the page gets the room's members on connect, then
    a ``wsviews.presence_diff`` as people come and go. Actions:
    ``post`` saves a message and broadcasts it to the room's log, ``typing``
    tells the others. The log keeps history: a page that reconnects gets the
    messages it missed first (the JavaScript client asks, with the seq of
    the last one it saw), or a reset.
    """

    # An anonymous socket is accepted then closed with 4401, which the
    # client takes as "stop" (a refused handshake looks like a network error).
    close_on_denial = True
    permission_denied_message = "Log in to chat."
    # Bursts of 20 messages, then 5 a second.
    limits = Limits(rate=(20, 4))

    def get_group_names(self) -> list[str]:
        room = self.kwargs["room"]
        return [room_group(room), log_group(room), ANNOUNCEMENTS]

    def get_history_group(self) -> str:
        return log_group(self.kwargs["room"])

    def get_presence_groups(self) -> list[str]:
        return [room_group(self.kwargs["room"])]

    async def connect(self) -> None:
        await self.accept()
        await asend_presence_state(self)  # who is online, before any change

    @action
    def post(self, payload: PostMessage) -> dict[str, Any]:
        """Save a message and broadcast it to the room; return its id."""
        message = Message.objects.create(
            room=self.kwargs["room"], user=self.request.user, text=payload.text
        )
        publish_message(message)
        return {"id": message.pk}

    @action
    async def typing(self) -> None:
        """Tell the room's other pages that this user is typing."""
        await abroadcast(
            room_group(self.kwargs["room"]),
            json={"event": "typing", "user": self.request.user.get_username()},
            sender=self.connection_id,
        )

    async def receive_group(self, message: GroupMessage) -> None:
        if message.sender == self.connection_id:
            return  # this page's own "typing"
        await super().receive_group(message)


class HtmxRoomView(LoginRequiredMixin, HtmxWebSocketView):
    """
    A room's socket for the htmx page, at ``ws/chat/<room>/htmx/``.

    The page's form (``ws-send``) arrives as form data; a valid message is
    saved and broadcast like one from ``post``, and the page gets its form
    back, empty or with its errors. Messages reach the page as HTML.
    """

    close_on_denial = True
    permission_denied_message = "Log in to chat."
    limits = Limits(rate=(20, 4))

    def get_group_names(self) -> list[str]:
        return [room_html_group(self.kwargs["room"]), ANNOUNCEMENTS_HTML]

    def receive_htmx(self, message: HtmxMessage) -> None:
        form = MessageForm(message.data)
        if form.is_valid():
            saved = Message.objects.create(
                room=self.kwargs["room"],
                user=self.request.user,
                text=form.cleaned_data["text"],
            )
            publish_message(saved)
            form = MessageForm()
        self.send_html("chat/composer.html", {"form": form})
