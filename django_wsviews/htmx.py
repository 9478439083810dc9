"""
htmx over WebSockets: read what ``ws-send`` sends, answer with HTML.

htmx's ``ws`` extension (the npm package ``htmx-ext-ws``, for htmx 2) opens a
socket for an element with ``ws-connect``. An element with ``ws-send`` (a
form, a button) sends one JSON object per trigger: its values, as a form
would post them, plus ``HEADERS``, the headers an htmx request would carry
(``HX-Request``, ``HX-Trigger``, ``HX-Trigger-Name``, ``HX-Target``,
``HX-Current-URL``). Each text message the page receives is parsed as HTML
and every top-level element is swapped out of band, by its ``id`` (its
``hx-swap-oob`` attribute says how; by default it replaces the element).

:class:`HtmxWebSocketView` parses that message into an :class:`HtmxMessage`
(``data`` is a :class:`~django.http.QueryDict`, so a Django form validates
it) and calls ``receive_htmx()``. :meth:`HtmxWebSocketView.send_html`
renders a template (or a Django 6.0 template partial, ``"page.html#name"``)
for one socket; :func:`broadcast_html` and :func:`abroadcast_html` render it
once and send the text to every member of a group.

These names live here, in ``django_wsviews.htmx``, not in the package's
top-level namespace: only projects that use htmx need them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, QueryDict
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.datastructures import CaseInsensitiveMapping

from .groups import abroadcast, broadcast, validate_group_name
from .hooks import call_hook
from .json_views import JsonWebSocketView
from .log import get_logger
from .status import CloseCode

__all__ = [
    "HtmxMessage",
    "HtmxWebSocketView",
    "InvalidHtmxMessage",
    "abroadcast_html",
    "broadcast_html",
    "render_html",
]

logger = get_logger("django_wsviews.htmx")

#: The key under which ``ws-send`` puts the request headers.
_HEADERS_KEY = "HEADERS"

# max_fields' default: Django's DATA_UPLOAD_MAX_NUMBER_FIELDS, read per call.
_FROM_SETTINGS: Any = object()


class InvalidHtmxMessage(ValueError):
    """A JSON message that is not what ``ws-send`` sends; the text says why."""


# Reading ws-send's message -------------------------------------------------


def _number_text(value: int | float) -> str:
    """Return ``value`` as JavaScript's ``String()`` writes it (``3``, not ``3.0``)."""
    # is_integer() is false for inf and nan.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _scalar_text(value: Any) -> str:
    """Return a JSON value as the same page would post it over HTTP."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number_text(value)
    # null, objects and nested lists: htmx posts them as JSON text.
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise InvalidHtmxMessage("a value is nested too deeply.") from None


def _form_data(content: Mapping[str, Any], max_fields: int | None) -> QueryDict:
    data = QueryDict(mutable=True)
    count = 0
    for key, value in content.items():
        values = value if isinstance(value, list) else [value]
        count += len(values)
        if max_fields is not None and count > max_fields:
            raise InvalidHtmxMessage(
                f"more than {max_fields} values (DATA_UPLOAD_MAX_NUMBER_FIELDS)."
            )
        data.setlist(key, [_scalar_text(item) for item in values])
    data._mutable = False
    return data


def _headers(value: Any) -> CaseInsensitiveMapping[str]:
    if not isinstance(value, dict):
        raise InvalidHtmxMessage(
            f"{_HEADERS_KEY} is a JSON {_json_type(value)}, not an object."
        )
    headers: dict[str, str] = {}
    for name, header in value.items():
        if header is None:  # htmx sends null for an element without an id
            continue
        if isinstance(header, (dict, list)):
            raise InvalidHtmxMessage(
                f"header {name[:40]!r} is a JSON {_json_type(header)}, not text."
            )
        headers[name] = _scalar_text(header)
    return CaseInsensitiveMapping(headers)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class HtmxMessage:
    """
    One message from an element with ``ws-send``.

    ``data`` holds the element's values as a :class:`~django.http.QueryDict`,
    as the same form would post them over HTTP, so ``MyForm(message.data)``
    validates it: text as it is; numbers and booleans (from ``hx-vals``) as
    JavaScript writes them (``3``, ``1.5``, ``true``); ``null`` and objects
    as JSON text; a list gives one value per item (``getlist()``).
    ``headers`` is a case-insensitive mapping of the ``HEADERS`` that htmx
    sent, less those it sent as ``null``. Both come from the page: trust them
    as much as a request's POST data and headers. ``content`` is the JSON
    object as it came.
    """

    data: QueryDict
    headers: Mapping[str, str]
    content: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_json(
        cls, content: Any, *, max_fields: int | None = _FROM_SETTINGS
    ) -> HtmxMessage:
        """
        Return the message read from decoded JSON ``content``.

        Raise :class:`InvalidHtmxMessage` when ``content`` is not a JSON
        object, when its ``HEADERS`` is present but not an object (or holds an
        object or array), or when it holds more values than ``max_fields``
        (Django's ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` by default, as for a form
        posted over HTTP; ``None`` for no limit). A message without
        ``HEADERS`` (a page that removed them in ``htmx:wsConfigSend``) has
        empty headers.
        """
        if not isinstance(content, dict):
            raise InvalidHtmxMessage(
                f"the message is a JSON {_json_type(content)}, not an object."
            )
        if max_fields is _FROM_SETTINGS:
            max_fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        values = {key: value for key, value in content.items() if key != _HEADERS_KEY}
        headers = _headers(content.get(_HEADERS_KEY, {}))
        return cls(
            data=_form_data(values, max_fields),
            headers=headers,
            content=content,
        )

    @property
    def trigger(self) -> str | None:
        """Return the ``id`` of the element that sent (``HX-Trigger``), or None."""
        return self.headers.get("HX-Trigger")

    @property
    def trigger_name(self) -> str | None:
        """Return the ``name`` of the element that sent (``HX-Trigger-Name``), or None."""
        return self.headers.get("HX-Trigger-Name")

    @property
    def target(self) -> str | None:
        """Return the ``id`` of the element's target (``HX-Target``), or None."""
        return self.headers.get("HX-Target")

    @property
    def current_url(self) -> str | None:
        """Return the URL of the page that sent (``HX-Current-URL``), or None."""
        return self.headers.get("HX-Current-URL")


# Rendering -----------------------------------------------------------------


def render_html(
    template_name: str | Sequence[str],
    context: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> str:
    """
    Return a template rendered with Django's template engines, as a plain ``str``.

    As :func:`django.template.loader.render_to_string`: ``template_name`` is
    a name or a list of names to try; with a ``request``, context processors
    run. On Django 6.0 and later a name may point at a template partial,
    ``"page.html#name"`` (``{% partialdef name %}``). On older Django such a
    name works only with the django-template-partials package; without it,
    raise :class:`~django.core.exceptions.ImproperlyConfigured` saying so.

    Rendering happens in the calling thread: called from an ``async def``
    hook, the context must not query the database (pass evaluated data, such
    as ``list(queryset)``), as for Django's async views; a plain ``def``
    hook may pass querysets.
    """
    try:
        html = render_to_string(template_name, dict(context or {}), request)
    except TemplateDoesNotExist as exc:
        names = [template_name] if isinstance(template_name, str) else template_name
        partial = next((name for name in names if "#" in name), None)
        if (
            partial is not None
            and django.VERSION < (6, 0)
            and not apps.is_installed("template_partials")
        ):
            raise ImproperlyConfigured(
                f"Template {partial!r} names a template partial, which Django "
                f"{django.get_version()} cannot load: partials are built in from "
                "Django 6.0. Upgrade Django, install django-template-partials "
                "(add 'template_partials' to INSTALLED_APPS), or render a "
                "template of its own."
            ) from exc
        raise
    # A plain str, not the SafeString the engine returns: send() takes str
    # exactly, and nothing downstream needs the mark.
    return str.__str__(html)


async def abroadcast_html(
    group: str,
    template_name: str | Sequence[str],
    context: Mapping[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """
    Render a template once and send the HTML to every member of ``group``.

    One rendering and one :func:`~django_wsviews.groups.abroadcast` of the
    text, whatever the number of members and processes: nothing is rendered
    per member, so the context is the same for all (no ``request.user`` of
    each). Members get it through ``receive_group()`` (by default sent to the
    client as it is). ``request`` runs context processors (the sender's
    request). ``sender`` and ``meta`` reach ``receive_group()`` as for
    ``abroadcast()``.

    Raise TypeError or ValueError for a bad group name before rendering;
    template errors as :func:`render_html`; BroadcastError as
    :func:`~django_wsviews.groups.abroadcast`. A group with no members is
    not an error. Renders on the event loop: see :func:`render_html`.
    """
    validate_group_name(group)
    html = render_html(template_name, context, request)
    await abroadcast(group, html, sender=sender, meta=meta)


def broadcast_html(
    group: str,
    template_name: str | Sequence[str],
    context: Mapping[str, Any] | None = None,
    *,
    request: HttpRequest | None = None,
    sender: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """
    The sync twin of :func:`abroadcast_html`: for plain ``def`` hooks, views, tasks.

    Raise RuntimeError in async code (use ``await abroadcast_html()``), as
    :func:`~django_wsviews.groups.broadcast` does.
    """
    validate_group_name(group)
    html = render_html(template_name, context, request)
    broadcast(group, html, sender=sender, meta=meta)


# The view ------------------------------------------------------------------


class HtmxWebSocketView(JsonWebSocketView):
    """
    A WebSocket view for htmx's ``ws`` extension.

    Override :meth:`receive_htmx`, ``async def`` or plain ``def``; answer with
    :meth:`send_html`, or :func:`abroadcast_html` for everyone in a group. A
    message that is not what ``ws-send`` sends goes to
    :meth:`handle_invalid_htmx` (by default a warning and a close with 1007);
    malformed JSON and binary frames close the connection as for any
    :class:`~django_wsviews.JsonWebSocketView`. See :doc:`/htmx`.
    """

    async def receive_json(self, content: Any) -> None:
        """Read ``content`` as an :class:`HtmxMessage` and pass it to :meth:`receive_htmx`."""
        try:
            message = HtmxMessage.from_json(content)
        except InvalidHtmxMessage as error:
            await call_hook(self.handle_invalid_htmx, content, error)
            return
        await call_hook(self.receive_htmx, message)

    async def receive_htmx(self, message: HtmxMessage) -> None:
        """Handle one message from a ``ws-send`` element; the default ignores it."""

    async def handle_invalid_htmx(
        self, content: Any, error: InvalidHtmxMessage
    ) -> None:
        """
        Handle JSON that is not a ``ws-send`` message; it does not reach receive_htmx().

        The default logs a warning (with ``error``, never ``content``) and
        closes with 1007 (invalid payload data), a code htmx does not
        reconnect on, so a page that keeps sending such messages stops.
        Override to ignore the message instead, or to answer it.
        """
        logger.warning(
            "Not an htmx ws-send message on WebSocket %s: %s Closing.",
            self.request.path,
            str(error),
        )
        await self.close(CloseCode.INVALID_PAYLOAD, "Not an htmx ws-send message.")

    def send_html(
        self,
        template_name: str | Sequence[str],
        context: Mapping[str, Any] | None = None,
    ) -> Awaitable[None]:
        """
        Render a template (or a partial, ``"page.html#name"``) and send it to this socket.

        Rendered by :func:`render_html` with this connection's request, so
        context processors run (``{{ request }}``, ``{% ws_url %}``). Await it
        in ``async def`` hooks; call it without ``await`` from plain ``def``
        hooks, where the context may query the database. Raise as
        :meth:`send` does: ConnectionClosed once the connection is closed,
        InvalidState before accept.
        """
        return self.send(render_html(template_name, context, self.request))
