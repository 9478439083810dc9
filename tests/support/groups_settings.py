"""
Settings of the uvicorn servers that the end-to-end group tests start.

The test suite's settings, routed to the group views, with the backend and
queue size taken from the environment the test gives the server:
``WSVIEWS_E2E_BACKEND`` (the ``WSVIEWS_BACKEND`` setting as JSON),
``WSVIEWS_E2E_QUEUE_SIZE``, ``WSVIEWS_E2E_NO_MIDDLEWARE``.
"""

from __future__ import annotations

import json
import os

from ..settings import *  # noqa: F403

ROOT_URLCONF = "tests.support.groups_urls"

if "WSVIEWS_E2E_BACKEND" in os.environ:
    WSVIEWS_BACKEND = json.loads(os.environ["WSVIEWS_E2E_BACKEND"])
WSVIEWS_SEND_QUEUE_SIZE = int(os.environ.get("WSVIEWS_E2E_QUEUE_SIZE", "100"))
if os.environ.get("WSVIEWS_E2E_NO_MIDDLEWARE"):
    WSVIEWS_MIDDLEWARE: list[str] = []

LOGGING_CONFIG = "logging.config.dictConfig"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django_wsviews": {"handlers": ["stderr"], "level": "INFO"}},
}
