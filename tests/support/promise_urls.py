"""The URLconf of the tests that hold the documentation's promises."""

from __future__ import annotations

from django.urls import path

from django_wsviews import WebSocketView

from . import actions_views, promise_views, views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/echo/", views.EchoView.as_view()),
    path("ws/user/", views.UserView.as_view()),
    path("ws/default/", WebSocketView.as_view()),
    path("ws/public/", promise_views.PublicView.as_view()),
    path("ws/scripted/", promise_views.ScriptedView.as_view()),
    path("ws/close-by-name/", promise_views.CloseByNameView.as_view()),
    path("ws/quiet-idle/", promise_views.QuietIdleView.as_view()),
    path("ws/blocking/", promise_views.BlockingView.as_view()),
    path("ws/broken-before-accept/", promise_views.BrokenBeforeAcceptView.as_view()),
    path("ws/own-receive/", promise_views.OwnReceiveView.as_view()),
    path(
        "ws/own-receive-super/",
        promise_views.OwnReceiveView.as_view(call_super=True),
    ),
    path(
        "ws/as-view-list/",
        actions_views.ProtocolView.as_view(subprotocols=["chat.v3"]),
    ),
    path(
        "ws/as-view-list-v1/",
        actions_views.ProtocolView.as_view(subprotocols=["chat.v3", "wsviews.v1"]),
    ),
    path("ws/session-writer/", promise_views.SessionWriterView.as_view()),
    path("ws/token/", views.TokenView.as_view()),
    path("ws/token-60s/", views.TokenView.as_view(token_max_age=60)),
    path("ws/small/", views.SmallMessagesView.as_view()),
    path(
        "ws/close-before-accept/",
        promise_views.ScriptedView.as_view(script="close-before-accept"),
    ),
    path("ws/reject/", promise_views.ScriptedView.as_view(script="reject")),
    path(
        "ws/reject-after-accept/",
        promise_views.ScriptedView.as_view(script="reject-after-accept"),
    ),
]
