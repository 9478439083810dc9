"""The ASGI application of the uvicorn servers that the end-to-end group tests start."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.groups_settings")

from django_wsviews.asgi import get_asgi_application

application = get_asgi_application()
