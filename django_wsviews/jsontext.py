"""
JSON text as django-wsviews writes it, in one place.

``send_json()`` and ``broadcast(json=...)`` both encode with
:func:`dumps`, so what one accepts the other accepts too: Django's
``DjangoJSONEncoder`` (datetimes, dates, times, timedeltas, ``Decimal``,
``UUID``, lazy translation strings) on top of the standard types.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["dumps"]


def dumps(content: Any) -> str:
    """
    Return ``content`` as JSON text, with ``DjangoJSONEncoder``.

    Raise ``TypeError`` for an object JSON cannot represent, and
    ``ValueError`` for a circular reference.
    """
    return json.dumps(content, cls=DjangoJSONEncoder)
