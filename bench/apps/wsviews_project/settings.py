"""
django-wsviews project, "full" variant: handshakes run the startproject
``MIDDLEWARE`` (``WSVIEWS_MIDDLEWARE`` unset) and the Origin check is on.
"""

from bench.apps.django_settings import *  # noqa: F403
from bench.apps.django_settings import (
    BENCH_LAYER,
    BENCH_POSTGRES,
    BENCH_REDIS_URL,
    DATABASES,
    INSTALLED_APPS,
)

INSTALLED_APPS = [*INSTALLED_APPS, "django_wsviews"]
ROOT_URLCONF = "bench.apps.wsviews_project.urls"

# The default, spelled out: the client sends a same-origin Origin header.
WSVIEWS_CHECK_ORIGIN = True

if BENCH_LAYER == "memory":
    WSVIEWS_BACKEND = {"BACKEND": "django_wsviews.backends.memory.MemoryBackend"}
elif BENCH_LAYER == "redis":
    WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"URL": BENCH_REDIS_URL},
    }
elif BENCH_LAYER == "postgres":
    # LISTEN/NOTIFY through a PostgreSQL database of its own alias; no request
    # of the benchmark queries it otherwise.
    DATABASES = {**DATABASES, "groups": BENCH_POSTGRES}
    WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": {"DATABASE": "groups", "PREFIX": "wsviews_bench"},
    }
