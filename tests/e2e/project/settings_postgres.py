"""
The end-to-end test project with a second database on PostgreSQL.

Only the database hygiene test uses it: its ``QueryView`` and
``OrmQueryView`` query the ``pg`` alias, whose connections carry an
``application_name`` the test counts in ``pg_stat_activity``.
``WSVIEWS_TEST_POSTGRES_*`` point it elsewhere; ``E2E_PG_CONN_MAX_AGE`` and
``E2E_PG_CONN_HEALTH_CHECKS`` set its connection rules.
"""

from __future__ import annotations

import os

from .settings import *  # noqa: F403
from .settings import DATABASES

APPLICATION_NAME = os.environ.get("E2E_PG_APPLICATION_NAME", "wsviews-e2e")

DATABASES["pg"] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("WSVIEWS_TEST_POSTGRES_DB", "test"),
    "USER": os.environ.get("WSVIEWS_TEST_POSTGRES_USER", "postgres"),
    "PASSWORD": os.environ.get("WSVIEWS_TEST_POSTGRES_PASSWORD", ""),
    "HOST": os.environ.get("WSVIEWS_TEST_POSTGRES_HOST", "127.0.0.1"),
    "PORT": os.environ.get("WSVIEWS_TEST_POSTGRES_PORT", "5432"),
    "OPTIONS": {"application_name": APPLICATION_NAME},
}

# The tests of the database rules set these: a number of seconds, or "none".
_conn_max_age = os.environ.get("E2E_PG_CONN_MAX_AGE", "0")
DATABASES["pg"]["CONN_MAX_AGE"] = (
    None if _conn_max_age == "none" else int(_conn_max_age)
)
DATABASES["pg"]["CONN_HEALTH_CHECKS"] = (
    os.environ.get("E2E_PG_CONN_HEALTH_CHECKS") == "1"
)
