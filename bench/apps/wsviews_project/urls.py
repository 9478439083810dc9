from django.contrib import admin
from django.urls import path

from bench.apps.stats_view import stats

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("hello/", views.hello),
    path("bench/stats/", stats),
]

ws_urlpatterns = [
    path("ws/echo/", views.EchoView.as_view()),
    path("ws/group/", views.GroupView.as_view()),
]
