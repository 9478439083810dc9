"""Routes of the example project (the test suite serves them too)."""

from __future__ import annotations

from django.urls import path

from . import sockets, views

urlpatterns = [
    path("", views.page, name="page"),
]

ws_urlpatterns = [
    path("ws/echo/", sockets.EchoView.as_view(), name="echo"),
    path("ws/whoami/", sockets.WhoAmIView.as_view(), name="whoami"),
    path("ws/news/", sockets.NewsView.as_view(), name="news"),
    path("ws/big/", sockets.BigEchoView.as_view(), name="big"),
    path("ws/goodbye/", sockets.GoodbyeView.as_view(), name="goodbye"),
]
