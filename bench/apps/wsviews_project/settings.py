"""
django-wsviews project, "full" variant: handshakes run the startproject
``MIDDLEWARE`` (``WSVIEWS_MIDDLEWARE`` unset) and the Origin check is on.
"""

from bench.apps.django_settings import *  # noqa: F403
from bench.apps.django_settings import BENCH_LAYER, BENCH_REDIS_URL, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_wsviews"]
ROOT_URLCONF = "bench.apps.wsviews_project.urls"

WSVIEWS_CHECK_ORIGIN = (
    True  # the default, spelled out: the client sends a same-origin Origin
)

if BENCH_LAYER == "memory":
    WSVIEWS_BACKEND = {"BACKEND": "django_wsviews.backends.memory.InMemoryBackend"}
elif BENCH_LAYER == "redis":
    WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {"url": BENCH_REDIS_URL},
    }
