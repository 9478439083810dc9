"""
What the chat broadcasts, and to which groups.

Every socket of a room joins the room's group and the announcements' group:
a message reaches its room, an announcement every room. A room's messages
go to a group of their own, its log, which keeps history
(``WSVIEWS_HISTORY``): a page that reconnects resumes it, where the room's
group carries what only matters now (typing, presence). The JavaScript page
gets JSON (``chat.<room>``, ``chat.announcements``); the htmx page gets HTML
rendered once per broadcast (``chat.<room>.html``,
``chat.announcements.html``). Broadcasts are plain function calls, from a
socket's action as from a normal Django view.
"""

from typing import Any

from django_wsviews import broadcast
from django_wsviews.htmx import broadcast_html

from .models import Message

#: The groups every room's sockets join, for the staff's announcements.
ANNOUNCEMENTS = "chat.announcements"
ANNOUNCEMENTS_HTML = "chat.announcements.html"


def room_group(room: str) -> str:
    """Return the group of a room's JavaScript pages."""
    return f"chat.{room}"


def log_group(room: str) -> str:
    """Return the group of a room's messages, which keeps history."""
    return f"chat-log.{room}"


def room_html_group(room: str) -> str:
    """Return the group of a room's htmx pages."""
    return f"chat.{room}.html"


def publish_message(message: Message) -> None:
    """Send a saved message to every page of its room (in every process)."""
    broadcast(
        log_group(message.room),
        json={"event": "message", "message": message.as_json()},
    )
    broadcast_html(
        room_html_group(message.room), "chat/oob_message.html", {"message": message}
    )


def publish_announcement(text: str, user: Any) -> None:
    """Send an announcement to every page of every room."""
    author = user.get_username()
    broadcast(
        ANNOUNCEMENTS, json={"event": "announcement", "text": text, "user": author}
    )
    broadcast_html(
        ANNOUNCEMENTS_HTML, "chat/oob_announcement.html", {"text": text, "user": author}
    )
