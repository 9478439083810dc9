"""A URLconf routing non-WebSocket callables in ws_urlpatterns (django_wsviews.E002)."""

from __future__ import annotations

from django.urls import include, path

from . import extra_views

nested_patterns = [
    path("inner/", extra_views.PlainHttpView.as_view()),
]

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/ok/", extra_views.Echo.as_view()),
    path("ws/function/", extra_views.plain_function),
    path("ws/not-a-view/", extra_views.NotAView),  # type: ignore[arg-type]
    path("ws/nested/", include(nested_patterns)),
]
