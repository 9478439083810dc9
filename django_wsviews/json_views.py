"""
:class:`JsonWebSocketView`: a WebSocket view that speaks JSON in text frames.

Decoding happens in ``receive()``, before the view's ``receive_json()``;
encoding in ``send_json()``, with the same encoder as ``broadcast(json=...)``
(:mod:`django_wsviews.jsontext`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from . import jsontext
from .hooks import call_hook
from .log import get_logger
from .status import CloseCode
from .views import WebSocketView

__all__ = ["JsonWebSocketView"]

logger = get_logger("django_wsviews")


class JsonWebSocketView(WebSocketView):
    """
    A :class:`WebSocketView` that speaks JSON in text frames.

    Override :meth:`receive_json`. A text frame that is not valid JSON closes
    the connection with 1007 (invalid payload data); a binary frame closes it
    with 1003 (unsupported data). Both are logged at WARNING; neither raises.
    """

    async def receive(self, message: str | bytes) -> None:
        """Decode a text frame and pass the content to :meth:`receive_json`."""
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
        await call_hook(self.receive_json, content)

    async def receive_json(self, content: Any) -> None:
        """Handle one decoded JSON message."""

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
