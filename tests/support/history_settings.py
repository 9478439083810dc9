"""
Settings of the uvicorn servers that the end-to-end history tests start.

Those of the group tests (``WSVIEWS_E2E_BACKEND`` and the rest), routed to
the history views, with ``hist.*`` keeping ``WSVIEWS_E2E_HISTORY_SIZE``
messages (50).
"""

from __future__ import annotations

import os

from .groups_settings import *  # noqa: F403

ROOT_URLCONF = "tests.support.history_urls"
WSVIEWS_HISTORY = {
    "hist.*": {"MAX_MESSAGES": int(os.environ.get("WSVIEWS_E2E_HISTORY_SIZE", "50"))}
}
