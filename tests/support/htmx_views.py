"""Views of test_htmx: htmx ws-send messages read, answered and broadcast."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from django_wsviews.htmx import (
    HtmxMessage,
    HtmxWebSocketView,
    InvalidHtmxMessage,
    abroadcast_html,
    broadcast_html,
)

GROUP = "htmx.chat"


class ChatForm(forms.Form):
    """What the chat page's ws-send form posts."""

    text = forms.CharField(max_length=50)
    tags = forms.MultipleChoiceField(
        choices=[("a", "A"), ("b", "B"), ("c", "C")], required=False
    )


class EchoMessageView(HtmxWebSocketView):
    """Answer each message with what the view read of it, as JSON."""

    async def receive_htmx(self, message: HtmxMessage) -> None:
        await self.send_json(
            {
                "data": {key: message.data.getlist(key) for key in message.data},
                "headers": dict(message.headers),
                "trigger": message.trigger,
                "trigger_name": message.trigger_name,
                "target": message.target,
                "current_url": message.current_url,
            }
        )


class ChatView(HtmxWebSocketView):
    """A valid form goes to the whole group; the errors of an invalid one to the sender."""

    group_names = [GROUP]

    async def receive_htmx(self, message: HtmxMessage) -> None:
        form = ChatForm(message.data)
        if form.is_valid():
            await abroadcast_html(
                GROUP,
                "htmx/message.html",
                {**form.cleaned_data, "trigger": message.trigger},
                sender=self.connection_id,
            )
        else:
            await self.send_html("htmx/errors.html", {"form": form})


class SyncChatView(HtmxWebSocketView):
    """ChatView with a plain def hook: broadcast_html() and send_html() without await."""

    group_names = [GROUP]

    def receive_htmx(self, message: HtmxMessage) -> None:  # type: ignore[override]
        form = ChatForm(message.data)
        if form.is_valid():
            broadcast_html(GROUP, "htmx/message.html", form.cleaned_data)
        else:
            self.send_html("htmx/errors.html", {"form": form})


class SyncUsersView(HtmxWebSocketView):
    """A plain def hook rendering a queryset, which the template evaluates in its thread."""

    def receive_htmx(self, message: HtmxMessage) -> None:  # type: ignore[override]
        users = get_user_model().objects.order_by("username")
        self.send_html("htmx/users.html", {"users": users})


class RequestContextView(HtmxWebSocketView):
    """send_html() renders with the connection's request: context processors run."""

    async def receive_htmx(self, message: HtmxMessage) -> None:
        await self.send_html("htmx/request.html")


class PartialView(HtmxWebSocketView):
    """Send a template partial (Django 6.0)."""

    async def receive_htmx(self, message: HtmxMessage) -> None:
        await self.send_html(
            "htmx/partials.html#message", {"text": message.data["text"]}
        )


class LenientView(EchoMessageView):
    """Answer what is not a ws-send message instead of closing."""

    async def handle_invalid_htmx(
        self, content: Any, error: InvalidHtmxMessage
    ) -> None:
        await self.send(f"ignored: {error}")
