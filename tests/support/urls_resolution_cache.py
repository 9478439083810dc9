"""URLconf for test_routing_cache: pure routes, a stateful converter, a translated route."""

from __future__ import annotations

from typing import Any

from django.urls import include, path, re_path, register_converter
from django.utils.translation import gettext_lazy

from django_wsviews import WebSocketView


class Flag:
    """Whether the stateful converter accepts what it is given (the tests flip it)."""

    accepting = False
    calls = 0


class Token:
    """A value the stateful converter makes: a new object each time."""

    def __init__(self, text: str) -> None:
        self.text = text


class StatefulConverter:
    """A converter whose to_python() reads state and returns a fresh object."""

    regex = "[a-z]+"

    def to_python(self, value: str) -> Token:
        Flag.calls += 1
        if not Flag.accepting:
            raise ValueError(value)
        return Token(value)

    def to_url(self, value: Token) -> str:
        return value.text


register_converter(StatefulConverter, "wsstateful")


class KwargsView(WebSocketView):
    """Send back its kwargs, then spoil them, and the resolver match's."""

    async def connect(self) -> None:
        await self.accept()
        await self.send_json_kwargs()
        self.kwargs["spoiled"] = True
        self.request.resolver_match.kwargs["spoiled"] = True  # type: ignore[union-attr]
        self.request.resolver_match.namespaces.append("spoiled")  # type: ignore[union-attr]

    async def send_json_kwargs(self) -> None:
        match = self.request.resolver_match
        assert match is not None
        payload: dict[str, Any] = {
            "kwargs": {key: str(value) for key, value in self.kwargs.items()},
            "match": {key: str(value) for key, value in match.kwargs.items()},
            "namespaces": match.namespaces,
        }
        await self.send(__import__("json").dumps(payload, sort_keys=True))


class MetaView(WebSocketView):
    """Send back whether the handshake made the request's META."""

    async def connect(self) -> None:
        made = "META" in self.request.__dict__
        await self.accept()
        await self.send("made" if made else "not made")


view = KwargsView.as_view()

nested = [
    path("leaf/<int:n>/", view, name="leaf"),
]

ws_urlpatterns = [
    path("c/plain/", view, name="plain"),
    path("c/int/<int:n>/", view, name="int"),
    path("c/uuid/<uuid:id>/", view, name="uuid"),
    path("c/path/<path:rest>", view, name="path"),
    re_path(r"^c/re/(?P<year>[0-9]{4})/([a-z]+)?/?$", view, name="re"),
    path("c/defaults/", view, {"flavour": "vanilla"}, name="defaults"),
    path("c/ns/", include((nested, "app"), namespace="ns")),
    # The stateful route comes first: whether it matches decides who gets "/c/word/x/".
    path("c/word/<wsstateful:token>/", view, name="stateful"),
    path("c/word/<str:word>/", view, name="word"),
    # A translated route: its regex depends on the language.
    path(
        "c/i18n/", include([path(gettext_lazy("translated/"), view, name="translated")])
    ),
    path("c/after/", view, name="after"),
    path("c/meta/", MetaView.as_view(), name="meta"),
]
