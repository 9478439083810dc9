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

from .broadcasts import (
    ANNOUNCEMENTS,
    ANNOUNCEMENTS_HTML,
    publish_message,
    room_group,
    room_html_group,
)
from .forms import MessageForm
from .models import TEXT_MAX_LENGTH, Message
from .views import HISTORY


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


@dataclass
class History:
    """The payload of ``history``: the id of the last message the page has."""

    after: int = 0


class ChatRoomView(LoginRequiredMixin, JsonWebSocketView):
    """
    A room's socket, at ``ws/chat/<room>/``, for logged-in users.

    Joins the room's group and the announcements' on accept. Actions:
    ``post`` saves a message and broadcasts it to the room, ``typing`` tells
    the others, ``history`` returns what a page missed while it was
    disconnected.
    """

    # An anonymous socket is accepted then closed with 4401, which the
    # client takes as "stop" (a refused handshake looks like a network error).
    close_on_denial = True
    permission_denied_message = "Log in to chat."
    # Bursts of 20 messages, then 5 a second.
    limits = Limits(rate=(20, 4))

    def get_group_names(self) -> list[str]:
        return [room_group(self.kwargs["room"]), ANNOUNCEMENTS]

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

    @action
    def history(self, payload: History) -> list[dict[str, Any]]:
        """Return the room's messages after ``after``, oldest first (at most 50)."""
        messages = (
            Message.objects.filter(room=self.kwargs["room"], pk__gt=payload.after)
            .select_related("user")
            .order_by("pk")[:HISTORY]
        )
        return [message.as_json() for message in messages]

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
