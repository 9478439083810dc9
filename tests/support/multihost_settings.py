"""Settings of the uvicorn processes of the multi-host test: the group test settings, its views."""

from __future__ import annotations

from .groups_settings import *  # noqa: F403

ROOT_URLCONF = "tests.support.multihost_urls"
