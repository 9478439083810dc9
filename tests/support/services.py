"""
Where the Redis, PostgreSQL and NATS servers for the backend tests are.

Environment variables (all optional):

- ``WSVIEWS_TEST_REDIS_URL``: default ``redis://127.0.0.1:6379/0``.
- ``WSVIEWS_TEST_NATS_URL``: default ``nats://127.0.0.1:4222``.
- ``WSVIEWS_TEST_POSTGRES_HOST``, ``_PORT``, ``_DB``, ``_USER``,
  ``_PASSWORD``: default ``127.0.0.1``, ``5432``, ``test``, ``postgres``,
  no password.
- ``WSVIEWS_REQUIRE_SERVICES=1`` (set by ``.ci/run``): a test whose server
  is unreachable fails instead of skipping.

This module imports nothing from Django: the test settings read it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["nats_url", "postgres_database", "redis_url", "services_required"]


def redis_url() -> str:
    """Return the URL of the Redis server the tests may use."""
    return os.environ.get("WSVIEWS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def nats_url() -> str:
    """Return the URL of the NATS server the tests may use."""
    return os.environ.get("WSVIEWS_TEST_NATS_URL", "nats://127.0.0.1:4222")


def postgres_database() -> dict[str, Any]:
    """Return a ``DATABASES`` entry for the PostgreSQL server the tests may use."""
    env = os.environ.get
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env("WSVIEWS_TEST_POSTGRES_DB", "test"),
        "USER": env("WSVIEWS_TEST_POSTGRES_USER", "postgres"),
        "PASSWORD": env("WSVIEWS_TEST_POSTGRES_PASSWORD", ""),
        "HOST": env("WSVIEWS_TEST_POSTGRES_HOST", "127.0.0.1"),
        "PORT": env("WSVIEWS_TEST_POSTGRES_PORT", "5432"),
    }


def services_required() -> bool:
    """Return whether a missing server fails the tests (``WSVIEWS_REQUIRE_SERVICES=1``)."""
    return os.environ.get("WSVIEWS_REQUIRE_SERVICES") == "1"
