"""A URLconf that passes django-wsviews' checks: WebSocket views only in ws_urlpatterns."""

from __future__ import annotations

from django.urls import include, path

from . import extra_views

urlpatterns = [
    path("page/", extra_views.plain_function, name="page"),
    path("cbv/", extra_views.PlainHttpView.as_view(), name="cbv"),
    path("app/", include("tests.support.urls_routing_leaf")),
]

ws_urlpatterns = [
    path("ws/echo/", extra_views.Echo.as_view(), name="echo"),
    path("ws/list/", include([path("other/", extra_views.Other.as_view())])),
    path("ws/app/", include("tests.support.urls_routing_nested")),
]
