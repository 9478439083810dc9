"""A URLconf routing WebSocketView classes without as_view() (django_wsviews.E001)."""

from __future__ import annotations

from django.urls import include, path

from . import extra_views

nested_patterns = [
    path("inner/", extra_views.Other, name="inner"),  # type: ignore[arg-type]
]

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/ok/", extra_views.Echo.as_view()),
    path("ws/class/", extra_views.Echo, name="class"),  # type: ignore[arg-type]
    path("ws/nested/", include(nested_patterns)),
]
