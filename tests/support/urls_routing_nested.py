"""An included app URLconf (namespace "nested") that includes another in turn."""

from __future__ import annotations

from django.urls import include, path

from . import extra_views

app_name = "nested"

urlpatterns = [
    path("http-here/", extra_views.plain_function, name="http-here"),
]

ws_urlpatterns = [
    path("here/", extra_views.Echo.as_view(), name="here"),
    path("deeper/", include("tests.support.urls_routing_leaf")),
]
