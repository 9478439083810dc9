"""Routes for the history tests, and for the uvicorn servers of their end-to-end tests."""

from __future__ import annotations

from django.urls import path

from django_wsviews import WebSocketView

from . import history_views as views

urlpatterns: list[object] = []

ws_urlpatterns = [
    path("ws/hist/<slug:room>/", views.HistoryRoomView.as_view()),
    path("ws/even/<slug:room>/", views.EvenOnlyView.as_view()),
    path("ws/two/<slug:room>/", views.TwoHistoriesView.as_view()),
    path("ws/chosen/<slug:room>/", views.ChosenHistoryView.as_view()),
    path("ws/plain/", WebSocketView.as_view(group_names=["plain.room"])),
    path("ws/plain-bench/<slug:room>/", views.PlainRoomView.as_view()),
]
