"""Views with named actions for tests/test_actions.py, and their URLconf."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import threading
from typing import Any, Literal, TypedDict

from django.contrib.auth.models import User
from django.urls import path

from django_wsviews import ActionError, JsonWebSocketView, action

try:
    import pydantic
except ImportError:  # pydantic is optional: its tests skip
    pydantic = None  # type: ignore[assignment]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Post:
    text: str
    tags: list[str] = dataclasses.field(default_factory=list)
    priority: int = 0
    colour: Colour | None = None

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("The text is blank.")


@dataclasses.dataclass
class Author:
    name: str
    score: float


@dataclasses.dataclass
class Article:
    title: str
    author: Author
    kind: Literal["news", "blog"] = "news"


@dataclasses.dataclass
class Node:
    name: str
    children: list[Node] = dataclasses.field(default_factory=list)


class _TagRequired(TypedDict):
    name: str
    count: int


class Tag(_TagRequired, total=False):
    colour: str
    ratios: dict[str, float]


class Failure(TypedDict):
    code: str
    message: str
    details: Any


class ChatView(JsonWebSocketView):
    """A view with actions of every kind, and a few public methods that are not actions."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notes: list[Any] = []

    @action
    async def echo(self, payload: Any) -> Any:
        return payload

    @action
    async def ping(self) -> str:
        return "pong"

    @action("rooms.post")
    async def post(self, payload: Post) -> dict[str, Any]:
        colour = payload.colour
        return {
            "type": type(payload).__name__,
            "text": payload.text,
            "tags": payload.tags,
            "priority": payload.priority,
            "colour": None if colour is None else [type(colour).__name__, colour.value],
        }

    @action
    async def article(self, payload: Article) -> Article:
        assert isinstance(payload.author, Author)
        return payload

    @action
    async def tree(self, payload: Node) -> int:
        def count(node: Node) -> int:
            return 1 + sum(count(child) for child in node.children)

        return count(payload)

    @action
    async def tag(self, payload: Tag) -> Tag:
        return payload

    @action
    async def maybe(self, payload: int | None = 7) -> int | None:
        return payload

    @action
    async def fail(self, payload: Failure) -> None:
        raise ActionError(payload["code"], payload["message"], payload["details"])

    @action
    async def crash(self) -> None:
        raise RuntimeError("the action broke")

    @action
    async def unencodable(self) -> object:
        return {"a set": {1, 2}}

    @action
    async def odd_error(self) -> None:
        raise ActionError("odd", "Details JSON cannot hold.", details=object())

    @action
    async def closing(self) -> str:
        await self.close()
        return "never sent"

    @action
    async def note(self, payload: str) -> None:
        self.notes.append(payload)

    @action
    async def notes_seen(self) -> list[Any]:
        return self.notes

    @action
    async def slow(self, payload: str) -> str:
        for _ in range(20):
            await asyncio.sleep(0)
        return payload

    @action
    def where(self) -> dict[str, Any]:
        """A plain def: runs in the worker thread, sends without await."""
        self.send_json({"event": "working"})
        return {"thread": threading.get_ident()}

    @action
    async def where_async(self) -> dict[str, Any]:
        return {"thread": threading.get_ident()}

    @action
    def users(self, payload: str) -> dict[str, Any]:
        """A plain def that uses the ORM."""
        User.objects.create(username=payload)
        return {"count": User.objects.count(), "thread": threading.get_ident()}

    @action
    def sync_crash(self) -> None:
        raise ValueError("the sync action broke")

    # Public methods that are not actions.
    async def helper(self) -> str:
        return "not an action"


class EchoingView(ChatView):
    """Actions, and a receive_json() of its own for the messages that are not calls."""

    async def receive_json(self, content: Any) -> None:
        await self.send_json({"not a call": content})


class ChildView(ChatView):
    """Inherits ChatView's actions, drops one, renames none, adds one."""

    async def echo(self, payload: Any) -> Any:  # no @action: no longer an action
        return payload

    @action("child.only")
    def child_only(self) -> str:
        return "child"


class ProtocolView(JsonWebSocketView):
    """Speaks a subprotocol of its own, and has an action."""

    subprotocols = ("chat.v2",)

    @action
    async def ping(self) -> str:
        return "pong"


class PlainJsonView(JsonWebSocketView):
    """No actions: JSON messages with an "action" key are its own."""

    async def receive_json(self, content: Any) -> None:
        await self.send_json({"got": content})


if pydantic is not None:

    class Signup(pydantic.BaseModel):
        email: str
        age: int

    class PydanticView(JsonWebSocketView):
        @action
        async def signup(self, payload: Signup) -> Signup:
            assert isinstance(payload, Signup)
            return payload


urlpatterns: list[object] = []

ws_urlpatterns = [
    path("actions/chat/", ChatView.as_view()),
    path("actions/echoing/", EchoingView.as_view()),
    path("actions/child/", ChildView.as_view()),
    path("actions/protocol/", ProtocolView.as_view()),
    path("actions/plain/", PlainJsonView.as_view()),
]
if pydantic is not None:
    ws_urlpatterns.append(path("actions/pydantic/", PydanticView.as_view()))
