"""A URLconf routing WebSocket views in the HTTP urlpatterns (django_wsviews.E003)."""

from __future__ import annotations

from django.urls import include, path

from . import extra_views

nested_patterns = [
    path("inner/", extra_views.Other.as_view()),
]

urlpatterns = [
    path("page/", extra_views.plain_function),
    path("as-view/", extra_views.Echo.as_view()),
    path("class/", extra_views.Echo),  # type: ignore[arg-type]
    path("nested/", include(nested_patterns)),
]

ws_urlpatterns = [
    path("ws/echo/", extra_views.Echo.as_view()),
]
