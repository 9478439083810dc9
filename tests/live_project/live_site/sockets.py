"""The example project's WebSocket views."""

from __future__ import annotations

from django_wsviews import Limits, WebSocketView

#: The close codes GoodbyeView's disconnect() saw, in order.
goodbyes: list[int] = []


class EchoView(WebSocketView):
    """Send every message back."""

    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class WhoAmIView(WebSocketView):
    """Send the logged-in user's name (empty if anonymous), then the number of users."""

    def connect(self) -> None:  # type: ignore[override]
        # A plain def hook: the session and the user come from the database.
        from django.contrib.auth.models import User

        self.accept()
        user = self.request.user
        self.send(user.get_username() if user.is_authenticated else "")
        self.send(str(User.objects.count()))


class NewsView(WebSocketView):
    """Join the ``live.news`` group; its broadcasts are sent on unchanged."""

    group_names = ["live.news"]


class BigEchoView(EchoView):
    """Echo, with a library limit (16 MiB) above the server's."""

    limits = Limits(max_message_size=16 * 1024 * 1024)


class GoodbyeView(EchoView):
    """Echo, and record the close code disconnect() gets."""

    async def disconnect(self, code: int) -> None:
        goodbyes.append(code)
