"""The project served through django-wsviews' entry point (WebSockets and HTTP)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.apps.wsviews_project.settings")

from django_wsviews.asgi import get_asgi_application

application = get_asgi_application()
