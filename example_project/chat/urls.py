from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
]

ws_urlpatterns = [
    path("echo/", views.EchoView.as_view(), name="echo"),
    path("json/", views.JsonEchoView.as_view(), name="json-echo"),
    path("boom/", views.BoomView.as_view(), name="boom"),
]
