"""The innermost included app URLconf (namespace "leaf")."""

from __future__ import annotations

from django.urls import path

from . import extra_views

app_name = "leaf"

urlpatterns = [
    path("http-leaf/", extra_views.plain_function, name="http-leaf"),
]

ws_urlpatterns = [
    path("<int:n>/", extra_views.Other.as_view(), name="leaf"),
]
