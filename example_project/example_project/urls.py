"""
URL configuration of the example project.

HTTP routes are in ``urlpatterns`` and WebSocket routes in ``ws_urlpatterns``.
``include("chat.urls")`` reads the matching list of ``chat/urls.py`` in each.
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from chat.views import signup

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:lobby"), name="home"),
    path("", include("chat.urls")),
    path("accounts/signup/", signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
]

ws_urlpatterns = [
    path("", include("chat.urls")),
]
