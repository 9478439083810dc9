"""A URLconf with HTTP routes only: no ws_urlpatterns at all."""

from __future__ import annotations

from django.urls import path

from . import extra_views

urlpatterns = [
    path("ws/echo/", extra_views.plain_function, name="echo"),
    path("page/", extra_views.plain_function, name="page"),
]
