"""Django Channels 4 project: the shared settings plus ``channels`` and its layer."""

from bench.apps.django_settings import *  # noqa: F403
from bench.apps.django_settings import BENCH_LAYER, BENCH_REDIS_URL, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "channels"]
ROOT_URLCONF = "bench.apps.channels_project.urls"
ASGI_APPLICATION = "bench.apps.channels_project.asgi.application"

if BENCH_LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
elif BENCH_LAYER == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 caps a connection pool at 100 and raises "Too many
                # connections" beyond; channels_redis holds one per operation in
                # flight, so 100 handshakes joining a group at once exhaust it.
                "hosts": [{"address": BENCH_REDIS_URL, "max_connections": 1000}],
                "prefix": "wsviews-bench:channels",
            },
        }
    }
else:
    CHANNEL_LAYERS = {}
