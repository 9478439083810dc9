"""A chat message. Rooms have no table: a room is the slug in its URL."""

from django.conf import settings
from django.db import models

#: The longest room name (a slug), and so the longest group name is
#: ``chat.`` + 50 characters, within the 100 a group name may have.
ROOM_MAX_LENGTH = 50

#: The longest message, in characters.
TEXT_MAX_LENGTH = 2000


class Message(models.Model):
    room = models.SlugField(max_length=ROOM_MAX_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    text = models.TextField(max_length=TEXT_MAX_LENGTH)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "pk"]
        indexes = [models.Index(fields=["room", "-created"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}: {self.text[:40]}"

    def as_json(self) -> dict[str, object]:
        """Return what pages show of the message, as sent on the socket."""
        return {
            "id": self.pk,
            "room": self.room,
            "user": self.user.get_username(),
            "text": self.text,
            "created": self.created.isoformat(),
        }
