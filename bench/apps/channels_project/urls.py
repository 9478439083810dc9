from django.contrib import admin
from django.urls import path

from bench.apps.stats_view import stats

urlpatterns = [
    path("admin/", admin.site.urls),
    path("bench/stats/", stats),
]
