"""URLconf of test_htmx."""

from __future__ import annotations

from django.urls import path

from . import htmx_views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/htmx/echo/", htmx_views.EchoMessageView.as_view()),
    path("ws/htmx/chat/", htmx_views.ChatView.as_view()),
    path("ws/htmx/sync-chat/", htmx_views.SyncChatView.as_view()),
    path("ws/htmx/users/", htmx_views.SyncUsersView.as_view()),
    path("ws/htmx/request/", htmx_views.RequestContextView.as_view()),
    path("ws/htmx/partial/", htmx_views.PartialView.as_view()),
    path("ws/htmx/lenient/", htmx_views.LenientView.as_view()),
]
