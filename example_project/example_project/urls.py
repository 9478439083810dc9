"""
URL configuration of the example project.

HTTP routes are in ``urlpatterns`` and WebSocket routes in ``ws_urlpatterns``.
``include("chat.urls")`` reads the matching list of ``chat/urls.py`` in each.
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("chat.urls")),
    path("admin/", admin.site.urls),
]

ws_urlpatterns = [
    path("ws/", include("chat.urls")),
]
