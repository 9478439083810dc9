"""Unit tests of django_wsviews.htmx: ws-send messages read, HTML rendered and sent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import django
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.test import override_settings
from django.test.signals import template_rendered

from django_wsviews import CloseCode, ConnectionClosed, abroadcast
from django_wsviews.htmx import (
    HtmxMessage,
    InvalidHtmxMessage,
    abroadcast_html,
    broadcast_html,
    render_html,
)
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .support.htmx_views import GROUP, ChatForm

pytestmark = pytest.mark.urls("tests.support.htmx_urls")

T = 5.0  # seconds: the bound of every receive

#: What htmx 2's ws extension sends for <form id="chat-form" ws-send> with
#: one text input: the values, then the headers of an htmx request.
WS_SEND = {
    "text": "hello",
    "HEADERS": {
        "HX-Request": "true",
        "HX-Trigger": "chat-form",
        "HX-Trigger-Name": None,
        "HX-Target": "chat-form",
        "HX-Current-URL": "http://testserver/chat/",
    },
}


def ws_send_headers() -> dict[str, Any]:
    """Return WS_SEND's HEADERS entry alone, to send with other values."""
    return {"HEADERS": WS_SEND["HEADERS"]}


MESSAGE_HTML = (
    '<ul id="messages" hx-swap-oob="beforeend"><li data-trigger="{}">{}</li></ul>\n'
)


@pytest.fixture
def client() -> WebSocketClient:
    """Return a test client with a 5-second bound on every wait."""
    return WebSocketClient(timeout=T)


@contextlib.contextmanager
def rendered() -> Iterator[list[str]]:
    """Collect the names of the templates rendered meanwhile (Django's test signal)."""
    names: list[str] = []

    def receiver(sender: Any, template: Any, context: Any, **kwargs: Any) -> None:
        names.append(template.name)

    template_rendered.connect(receiver)
    try:
        yield names
    finally:
        template_rendered.disconnect(receiver)


async def connect_all(
    client: WebSocketClient, path: str, count: int
) -> list[WebSocketTestConnection]:
    """Open ``count`` connections to ``path``."""
    return list(await asyncio.gather(*(client.connect(path) for _ in range(count))))


# Reading the message -------------------------------------------------------


def test_values_and_headers_of_a_ws_send_message() -> None:
    """The form values go to data, HEADERS to headers (null ones dropped), not to data."""
    message = HtmxMessage.from_json(WS_SEND)
    assert dict(message.data) == {"text": ["hello"]}
    assert dict(message.headers) == {
        "HX-Request": "true",
        "HX-Trigger": "chat-form",
        "HX-Target": "chat-form",
        "HX-Current-URL": "http://testserver/chat/",
    }
    assert message.trigger == "chat-form"
    assert message.trigger_name is None
    assert message.target == "chat-form"
    assert message.current_url == "http://testserver/chat/"
    assert message.content is WS_SEND


def test_headers_are_case_insensitive() -> None:
    """headers['hx-trigger'] finds HX-Trigger, as request.headers would."""
    message = HtmxMessage.from_json({"HEADERS": {"Hx-Trigger-Name": "send"}})
    assert message.headers["hx-trigger-name"] == "send"
    assert message.trigger_name == "send"


def test_message_without_headers() -> None:
    """A message whose HEADERS a page removed has empty headers, and no trigger."""
    message = HtmxMessage.from_json({"text": "hi"})
    assert dict(message.headers) == {}
    assert message.trigger is None
    assert message.current_url is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", ["text"]),
        ("", [""]),
        (["a", "b"], ["a", "b"]),
        ([], []),
        (3, ["3"]),
        (1.5, ["1.5"]),
        (2.0, ["2"]),
        (True, ["true"]),
        (False, ["false"]),
        (None, ["null"]),
        ({"a": [1, "é"]}, ['{"a":[1,"é"]}']),
        ([1, True, None], ["1", "true", "null"]),
    ],
)
def test_values_as_htmx_posts_them(value: Any, expected: list[str]) -> None:
    """Each JSON value becomes the text(s) the same page would post over HTTP."""
    message = HtmxMessage.from_json({"field": value})
    assert message.data.getlist("field") == expected


def test_data_is_immutable() -> None:
    """data is a read-only QueryDict, as request.POST is."""
    message = HtmxMessage.from_json(WS_SEND)
    with pytest.raises(AttributeError, match="immutable"):
        message.data["text"] = "changed"


def test_a_django_form_validates_the_data() -> None:
    """Form(message.data) validates: single values, lists for multiple choices, errors."""
    valid = ChatForm(
        HtmxMessage.from_json(
            {"text": "hi", "tags": ["a", "c"], **ws_send_headers()}
        ).data
    )
    assert valid.is_valid(), valid.errors
    assert valid.cleaned_data == {"text": "hi", "tags": ["a", "c"]}

    invalid = ChatForm(HtmxMessage.from_json({"text": "", "tags": ["z"]}).data)
    assert not invalid.is_valid()
    assert set(invalid.errors) == {"text", "tags"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ([], "JSON array, not an object"),
        ("text", "JSON string, not an object"),
        (3, "JSON number, not an object"),
        (None, "JSON null, not an object"),
        ({"HEADERS": "x"}, "HEADERS is a JSON string, not an object"),
        ({"HEADERS": None}, "HEADERS is a JSON null, not an object"),
        ({"HEADERS": ["HX-Request"]}, "HEADERS is a JSON array, not an object"),
        ({"HEADERS": {"HX-Target": {"id": 1}}}, "'HX-Target' is a JSON object"),
        ({"HEADERS": {"HX-Target": ["a"]}}, "'HX-Target' is a JSON array"),
    ],
)
def test_what_is_not_a_ws_send_message(content: Any, reason: str) -> None:
    """Anything but an object with an object (of text) for HEADERS is refused, saying why."""
    with pytest.raises(InvalidHtmxMessage, match=reason):
        HtmxMessage.from_json(content)


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=3)
def test_too_many_values() -> None:
    """More values than DATA_UPLOAD_MAX_NUMBER_FIELDS, list items counted, are refused."""
    assert HtmxMessage.from_json({"a": ["1", "2"], "b": "3"}).data.getlist("a") == [
        "1",
        "2",
    ]
    with pytest.raises(InvalidHtmxMessage, match="more than 3 values"):
        HtmxMessage.from_json({"a": ["1", "2"], "b": ["3", "4"]})


def test_max_fields_argument() -> None:
    """max_fields overrides the setting; None means no limit."""
    many = {f"f{i}": "x" for i in range(2000)}
    assert len(HtmxMessage.from_json(many, max_fields=None).data) == 2000
    with pytest.raises(InvalidHtmxMessage):
        HtmxMessage.from_json(many)  # the setting: 1000
    with pytest.raises(InvalidHtmxMessage):
        HtmxMessage.from_json({"a": "1", "b": "2"}, max_fields=1)


def test_deeply_nested_value() -> None:
    """A value too deep to write back as JSON text is refused, not a crash."""
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(InvalidHtmxMessage, match="nested too deeply"):
        HtmxMessage.from_json({"field": [value]})


# The view ------------------------------------------------------------------


async def test_view_reads_the_message(client: WebSocketClient) -> None:
    """receive_htmx() gets the message read: data, headers and the shortcuts."""
    async with client.connect("/ws/htmx/echo/") as ws:
        await ws.send_json({**WS_SEND, "tags": ["a", "b"]})
        assert await ws.receive_json(T) == {
            "data": {"text": ["hello"], "tags": ["a", "b"]},
            "headers": {
                "HX-Request": "true",
                "HX-Trigger": "chat-form",
                "HX-Target": "chat-form",
                "HX-Current-URL": "http://testserver/chat/",
            },
            "trigger": "chat-form",
            "trigger_name": None,
            "target": "chat-form",
            "current_url": "http://testserver/chat/",
        }


@pytest.mark.parametrize(
    "content",
    [[], "text", None, {"HEADERS": "x"}, {"HEADERS": {"HX-Target": {}}}],
)
async def test_view_closes_on_what_is_not_a_ws_send_message(
    client: WebSocketClient, caplog: pytest.LogCaptureFixture, content: Any
) -> None:
    """Not a ws-send message: a WARNING, then 1007 (htmx does not reconnect); no reply, no error."""
    with caplog.at_level(logging.WARNING, logger="django_wsviews"):
        async with client.connect("/ws/htmx/echo/") as ws:
            await ws.send_json(content)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive(T)
    assert closed.value.code == CloseCode.INVALID_PAYLOAD
    assert ws.close_reason == "Not an htmx ws-send message."
    warnings = [
        r
        for r in caplog.records
        if r.name == "django_wsviews.htmx" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    assert "Not an htmx ws-send message on WebSocket /ws/htmx/echo/" in (
        warnings[0].getMessage()
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=2)
async def test_view_closes_on_too_many_values(client: WebSocketClient) -> None:
    """A message over DATA_UPLOAD_MAX_NUMBER_FIELDS closes with 1007."""
    async with client.connect("/ws/htmx/echo/") as ws:
        await ws.send_json({"a": "1", "b": "2", "c": "3"})
        assert await ws.wait_closed(T) == CloseCode.INVALID_PAYLOAD


async def test_malformed_json_still_closes_with_1007(client: WebSocketClient) -> None:
    """Text that is not JSON closes as for any JsonWebSocketView."""
    async with client.connect("/ws/htmx/echo/") as ws:
        await ws.send("<form>")
        assert await ws.wait_closed(T) == CloseCode.INVALID_PAYLOAD


async def test_handle_invalid_htmx_can_keep_the_connection(
    client: WebSocketClient,
) -> None:
    """An override of handle_invalid_htmx() answers instead; later messages are served."""
    async with client.connect("/ws/htmx/lenient/") as ws:
        await ws.send_json(["not", "an", "object"])
        assert await ws.receive(T) == (
            "ignored: the message is a JSON array, not an object."
        )
        await ws.send_json({"text": "still here"})
        assert (await ws.receive_json(T))["data"] == {"text": ["still here"]}


async def test_send_html_reaches_the_sender_only(client: WebSocketClient) -> None:
    """An invalid form's errors go to its sender alone; the next valid message to all."""
    a, b = await connect_all(client, "/ws/htmx/chat/", 2)
    try:
        await a.send_json({"text": "", **ws_send_headers()})
        assert await a.receive(T) == (
            '<div id="errors">This field is required.</div>\n'
        )
        await a.send_json(WS_SEND)
        expected = MESSAGE_HTML.format("chat-form", "hello")
        assert await a.receive(T) == expected
        # b's first message is the broadcast: the errors were a's alone.
        assert await b.receive(T) == expected
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_broadcast_renders_once_for_every_member(
    client: WebSocketClient,
) -> None:
    """One abroadcast_html() renders once, whatever the number of members, and all get it."""
    members = await connect_all(client, "/ws/htmx/chat/", 5)
    try:
        with rendered() as names:
            await abroadcast_html(
                GROUP, "htmx/message.html", {"text": "<b>hi</b>", "trigger": "x"}
            )
            received = await asyncio.gather(*(ws.receive(T) for ws in members))
        assert names == ["htmx/message.html"]
        # Autoescaped, as any template.
        assert received == [MESSAGE_HTML.format("x", "&lt;b&gt;hi&lt;/b&gt;")] * 5
    finally:
        await asyncio.gather(*(ws.close() for ws in members))


async def test_broadcast_from_a_view_renders_once(client: WebSocketClient) -> None:
    """A view's broadcast to its group is rendered once, for sender and members alike."""
    members = await connect_all(client, "/ws/htmx/chat/", 3)
    try:
        with rendered() as names:
            await members[0].send_json({**WS_SEND, "tags": ["b"]})
            received = await asyncio.gather(*(ws.receive(T) for ws in members))
        assert names == ["htmx/message.html"]
        assert received == [MESSAGE_HTML.format("chat-form", "hello #b")] * 3
    finally:
        await asyncio.gather(*(ws.close() for ws in members))


async def test_sync_hook_broadcasts_and_answers(client: WebSocketClient) -> None:
    """From a plain def hook, broadcast_html() and send_html() work without await."""
    a, b = await connect_all(client, "/ws/htmx/sync-chat/", 2)
    try:
        await a.send_json({"text": ""})
        assert await a.receive(T) == '<div id="errors">This field is required.</div>\n'
        with rendered() as names:
            await a.send_json({"text": "from a thread"})
            expected = MESSAGE_HTML.format("", "from a thread")
            assert await b.receive(T) == expected
            assert await a.receive(T) == expected
        assert names == ["htmx/message.html"]
    finally:
        await asyncio.gather(a.close(), b.close())


@pytest.mark.django_db(transaction=True)
async def test_sync_hook_renders_a_queryset(client: WebSocketClient) -> None:
    """send_html() from a plain def hook renders in its thread, where a queryset may run."""
    await get_user_model().objects.acreate(username="zoe")
    await get_user_model().objects.acreate(username="ada")
    async with client.connect("/ws/htmx/users/") as ws:
        await ws.send_json({})
        assert await ws.receive(T) == '<ul id="users"><li>ada</li><li>zoe</li></ul>\n'


async def test_send_html_uses_the_request(client: WebSocketClient) -> None:
    """send_html() renders with the connection's request: context processors run."""
    async with client.connect("/ws/htmx/request/") as ws:
        await ws.send_json(WS_SEND)
        assert await ws.receive(T) == '<div id="path">/ws/htmx/request/</div>\n'


async def test_broadcast_html_is_for_sync_code() -> None:
    """broadcast_html() called from async code raises RuntimeError, as broadcast() does."""
    with pytest.raises(RuntimeError, match="await abroadcast"):
        broadcast_html(GROUP, "htmx/message.html", {"text": "x"})


@pytest.mark.parametrize("group", ["", "has space", "@user:1"])
async def test_bad_group_name_refused_before_rendering(group: str) -> None:
    """A bad group name raises ValueError, and nothing is rendered."""
    with rendered() as names:
        with pytest.raises(ValueError, match="Invalid group name"):
            await abroadcast_html(group, "htmx/message.html")
        with pytest.raises(ValueError, match="Invalid group name"):
            broadcast_html(group, "htmx/message.html")
    assert names == []


async def test_broadcast_plain_text_still_reaches_members(
    client: WebSocketClient,
) -> None:
    """An htmx view's members get any broadcast as it is (receive_group() default)."""
    async with client.connect("/ws/htmx/chat/") as ws:
        await abroadcast(GROUP, '<div id="x">raw</div>')
        assert await ws.receive(T) == '<div id="x">raw</div>'


# Rendering and template partials --------------------------------------------


def test_render_html_takes_a_list_of_names() -> None:
    """render_html() tries the names in order, as render_to_string() does."""
    html = render_html(["htmx/missing.html", "htmx/errors.html"], {"form": ChatForm()})
    assert html == '<div id="errors"></div>\n'
    assert type(html) is str  # not a SafeString: send() takes str exactly


@pytest.mark.skipif(django.VERSION >= (6, 0), reason="template partials are built in")
def test_partial_before_django_6_says_what_to_do() -> None:
    """Before Django 6.0, a 'page.html#name' raises ImproperlyConfigured naming the fixes."""
    with pytest.raises(ImproperlyConfigured, match=r"Django 6\.0") as raised:
        render_html("htmx/partials.html#message", {"text": "x"})
    assert "django-template-partials" in str(raised.value)


def test_missing_template_is_template_does_not_exist() -> None:
    """A missing template without '#' raises Django's own TemplateDoesNotExist."""
    with pytest.raises(TemplateDoesNotExist):
        render_html("htmx/missing.html")


@pytest.mark.skipif(django.VERSION < (6, 0), reason="template partials need Django 6.0")
async def test_send_html_renders_a_partial(client: WebSocketClient) -> None:
    """send_html('page.html#name') sends that partial alone (Django 6.0)."""
    async with client.connect("/ws/htmx/partial/") as ws:
        await ws.send_json({"text": "part"})
        assert await ws.receive(T) == '<li id="last">part</li>'


@pytest.mark.skipif(django.VERSION < (6, 0), reason="template partials need Django 6.0")
async def test_broadcast_renders_a_partial_once(client: WebSocketClient) -> None:
    """abroadcast_html('page.html#name') renders the partial once, for all members."""
    members = await connect_all(client, "/ws/htmx/chat/", 2)
    try:
        # Counted at the engine's entry: a partial need not send template_rendered.
        with mock.patch(
            "django_wsviews.htmx.render_to_string", wraps=render_to_string
        ) as render:
            await abroadcast_html(GROUP, "htmx/partials.html#message", {"text": "p"})
            received = await asyncio.gather(*(ws.receive(T) for ws in members))
        render.assert_called_once()
        assert received == ['<li id="last">p</li>'] * 2
    finally:
        await asyncio.gather(*(ws.close() for ws in members))
