"""
The example project on PostgreSQL: ``manage.py test --settings=live_site.settings_postgres``.

The server is the test suite's (``WSVIEWS_TEST_POSTGRES_*``, see
tests/services.py); the test database is named after the process, so that
runs at the same time do not share one.
"""

from __future__ import annotations

import os

from tests.support.services import postgres_database

from .settings import *  # noqa: F403

DATABASES = {
    "default": {
        **postgres_database(),
        "TEST": {"NAME": f"test_wsviews_live_site_{os.getpid()}"},
    }
}
