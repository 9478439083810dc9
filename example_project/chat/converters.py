"""The ``room`` path converter: a slug of at most ROOM_MAX_LENGTH characters."""

from .models import ROOM_MAX_LENGTH


class RoomConverter:
    """Match a room name: 1 to 50 ASCII letters, digits, hyphens and underscores."""

    regex = rf"[-a-zA-Z0-9_]{{1,{ROOM_MAX_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
