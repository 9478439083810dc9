"""A URLconf with a plain function in ws_urlpatterns (refused at run time)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/function/", views.plain_function),
]
