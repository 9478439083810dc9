"""Routes for the group tests, and for the uvicorn servers of the end-to-end tests."""

from __future__ import annotations

from django.urls import path

from django_wsviews import WebSocketView

from . import groups_views as views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/room/<slug:room>/", views.RoomView.as_view()),
    path("ws/skip/<slug:room>/", views.SkipSenderView.as_view()),
    path("ws/audience/<slug:room>/", views.AudienceView.as_view()),
    path("ws/sync/", views.SyncRoomView.as_view()),
    path("ws/json/", views.JsonRoomView.as_view()),
    path("ws/early/", views.EarlyJoinView.as_view()),
    path("ws/failing/", views.FailingGroupView.as_view()),
    path("ws/bad-names/", views.BadNamesView.as_view()),
    path("ws/str-names/", views.StrNamesView.as_view()),
    path("ws/no-groups/", views.NoGroupsView.as_view()),
    path("ws/lobby/", WebSocketView.as_view(group_names=["lobby"])),
    path("ws/user/", views.UserView.as_view()),
    path("ws/user-load/", views.LoadUserView.as_view()),
    path("ws/user-never/", views.NoUserGroupView.as_view()),
]
