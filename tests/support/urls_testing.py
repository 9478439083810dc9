"""URLconf for test_testing: views that hang, record, greet or crash."""

from __future__ import annotations

from django.urls import path

from . import extra_views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("t/echo/", extra_views.Echo.as_view()),
    path("t/hanging-connect/", extra_views.HangingConnect.as_view()),
    path("t/hanging-disconnect/", extra_views.HangingDisconnect.as_view()),
    path("t/recorder/", extra_views.DisconnectRecorder.as_view()),
    path("t/greeter/", extra_views.Greeter.as_view()),
    path("t/crashing/", extra_views.Crashing.as_view()),
]
