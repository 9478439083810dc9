"""
ASGI entry point: HTTP requests go to Django, WebSocket connections to the
views in ``ws_urlpatterns``.

Run it with any ASGI server, for example::

    uvicorn --app-dir example_project example_project.asgi:application
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from django_wsviews.asgi import get_asgi_application

application = get_asgi_application()
