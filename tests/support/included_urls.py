"""An app URLconf with both HTTP and WebSocket routes, for include()."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path

from . import views

app_name = "included"

urlpatterns = [
    path("http-only/", lambda request: HttpResponse("http"), name="http-only"),
]

ws_urlpatterns = [
    path("echo/", views.EchoView.as_view(), name="echo"),
]
