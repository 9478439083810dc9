"""Routes for the presence tests, and for the uvicorn servers of the end-to-end tests."""

from __future__ import annotations

from django.urls import path

from . import presence_views as views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/presence/<slug:room>/", views.PresenceRoomView.as_view()),
    path("ws/presence-sync/<slug:room>/", views.SyncListView.as_view()),
    path("ws/presence-attr/", views.ClassAttributeView.as_view()),
    path("ws/presence-bad-meta/<slug:room>/", views.BadMetaView.as_view()),
    path("ws/presence-huge-meta/<slug:room>/", views.HugeMetaView.as_view()),
    path("ws/presence-list-meta/<slug:room>/", views.NotADictMetaView.as_view()),
    path("ws/presence-bad-group/", views.BadGroupView.as_view()),
    path("ws/presence-str-group/", views.StrGroupView.as_view()),
    path("ws/presence-meta-from-connect/", views.MetaFromConnectView.as_view()),
]
