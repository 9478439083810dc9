"""
Settings of the presence tests' uvicorn servers: the group servers' settings,
routed to the presence views, the user taken from the query string, and
``WSVIEWS_PRESENCE_TIMEOUT`` from ``WSVIEWS_E2E_PRESENCE_TIMEOUT``.
"""

from __future__ import annotations

import os

from .groups_settings import *  # noqa: F403

ROOT_URLCONF = "tests.support.presence_urls"
WSVIEWS_MIDDLEWARE = ["tests.support.presence_views.user_from_query"]
WSVIEWS_INLINE_MIDDLEWARE = WSVIEWS_MIDDLEWARE
WSVIEWS_PRESENCE_TIMEOUT = float(os.environ.get("WSVIEWS_E2E_PRESENCE_TIMEOUT", "30"))
