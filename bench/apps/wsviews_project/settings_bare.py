"""
django-wsviews project, "bare" variant: no middleware around handshakes and no
Origin check, the least work django-wsviews does for a connection.
"""

from bench.apps.wsviews_project.settings import *  # noqa: F403

WSVIEWS_MIDDLEWARE = []
WSVIEWS_CHECK_ORIGIN = False
