"""
:class:`JsonWebSocketView`: a WebSocket view that speaks JSON in text frames.

Decoding happens in ``receive()``, before the view's ``receive_json()``;
encoding in ``send_json()``, with the same encoder as ``broadcast(json=...)``
(:mod:`django_wsviews.jsontext`). A view with actions
(:mod:`django_wsviews.actions`) has its calls answered in ``receive()``
too; ``receive_json()`` gets the other messages.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from . import action_calls, actions, jsontext
from .hooks import call_hook
from .log import get_logger
from .status import CloseCode
from .views import WebSocketView

__all__ = ["JsonWebSocketView"]

logger = get_logger("django_wsviews")


class JsonWebSocketView(WebSocketView):
    """
    A :class:`WebSocketView` that speaks JSON in text frames.

    Override :meth:`receive_json`, or declare actions with
    :func:`~django_wsviews.action`. A text frame that is not valid JSON
    closes the connection with 1007 (invalid payload data); a binary frame
    closes it with 1003 (unsupported data). Both are logged at WARNING;
    neither raises.

    A view with actions answers each call (a JSON object with an
    ``"action"`` key) itself, and lists ``wsviews.v1`` in its
    ``subprotocols``; its other messages go to :meth:`receive_json`.
    """

    # The actions of the class by name, collected when it is created.
    _actions: ClassVar[Mapping[str, actions.Action]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect the class's actions; list ``wsviews.v1`` if it has any."""
        super().__init_subclass__(**kwargs)
        cls._actions = MappingProxyType(actions.collect_actions(cls))
        if not cls._actions:
            return
        subprotocols = cls.subprotocols
        if isinstance(subprotocols, str):
            raise ImproperlyConfigured(
                f"{cls.__qualname__}.subprotocols is the str {subprotocols!r}; "
                f"make it a tuple, e.g. ({subprotocols!r},)."
            )
        if actions.SUBPROTOCOL not in subprotocols:
            cls.subprotocols = (*subprotocols, actions.SUBPROTOCOL)

    async def receive(self, message: str | bytes) -> None:
        """Decode a text frame; answer it if it calls an action, else pass it to :meth:`receive_json`."""
        if not isinstance(message, str):
            logger.warning(
                "Binary frame on JSON WebSocket %s; closing.", self.request.path
            )
            await self.close(
                CloseCode.UNSUPPORTED_DATA, "Binary frames are not supported."
            )
            return
        try:
            content = self.decode_json(message)
        except ValueError:
            logger.warning(
                "Malformed JSON on WebSocket %s; closing.", self.request.path
            )
            await self.close(CloseCode.INVALID_PAYLOAD, "Malformed JSON.")
            return
        except RecursionError:
            # Thousands of nested arrays: the decoder gives up. The client's
            # fault, not the view's: no traceback, no error report.
            logger.warning(
                "JSON nested too deeply on WebSocket %s; closing.", self.request.path
            )
            await self.close(CloseCode.INVALID_PAYLOAD, "JSON nested too deeply.")
            return
        if self._actions and isinstance(content, dict) and "action" in content:
            await action_calls.dispatch(self, self._actions, content)
            return
        await call_hook(self.receive_json, content)

    async def receive_json(self, content: Any) -> None:
        """
        Handle one decoded JSON message (for a view with actions: one that is not a call).

        The default does nothing; for a view with actions, it answers a JSON
        object that has an ``id`` with a ``bad_request`` error, and logs
        anything else at WARNING.
        """
        if self._actions:
            await action_calls.refuse(self, content)

    def send_json(self, content: Any) -> Awaitable[None]:
        """Encode ``content`` with :meth:`encode_json` and send it as a text frame."""
        return self.send(self.encode_json(content))

    def decode_json(self, text: str) -> Any:
        """Return the content of a text frame; raise ValueError if malformed."""
        return json.loads(text)

    def encode_json(self, content: Any) -> str:
        """
        Return ``content`` as JSON text.

        Encoded as ``broadcast(json=...)`` encodes, with Django's
        ``DjangoJSONEncoder`` (datetimes, ``Decimal``, ``UUID``, lazy
        strings); an object it cannot encode raises ``TypeError``.
        """
        return jsontext.dumps(content)
