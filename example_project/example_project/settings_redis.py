"""
The example project with its groups in Redis: several processes, one chat.

Every server process (and ``manage.py shell``, a Celery worker...) that
broadcasts or serves sockets must use the same backend; the in-memory one
reaches only its own process. See docs/deployment.rst::

    DJANGO_SETTINGS_MODULE=example_project.settings_redis \\
        .venv/bin/python example_project/manage.py runserver 8000
    DJANGO_SETTINGS_MODULE=example_project.settings_redis \\
        .venv/bin/python example_project/manage.py runserver 8001

A message posted on port 8000 reaches the same room open on port 8001.
Needs ``pip install -e ".[redis]"`` and a Redis server; ``REDIS_URL``
names it (``redis://127.0.0.1:6379/0`` by default).
"""

import os

from .settings import *  # noqa: F403

WSVIEWS_BACKEND = {
    "BACKEND": "django_wsviews.backends.redis.RedisBackend",
    "OPTIONS": {"URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")},
}
