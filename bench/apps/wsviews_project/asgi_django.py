"""The same project served by Django's own ASGI handler: the HTTP baseline."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.apps.wsviews_project.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
