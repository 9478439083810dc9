"""
The chat's routes: pages in ``urlpatterns``, sockets in ``ws_urlpatterns``.

The project includes this module in both lists; each ``include()`` reads the
list it needs. The room ``lobby`` is the page ``/chat/lobby/`` and the
socket ``/ws/chat/lobby/``, both named ``chat:room``.
"""

from django.urls import path, register_converter

from . import sockets, views
from .converters import RoomConverter

app_name = "chat"

register_converter(RoomConverter, "room")

urlpatterns = [
    path("chat/", views.lobby, name="lobby"),
    path("chat/<room:room>/", views.room, name="room"),
    path("chat/<room:room>/htmx/", views.htmx_room, name="htmx-room"),
    path("announce/", views.announce, name="announce"),
]

ws_urlpatterns = [
    path("ws/chat/<room:room>/", sockets.ChatRoomView.as_view(), name="room"),
    path("ws/chat/<room:room>/htmx/", sockets.HtmxRoomView.as_view(), name="htmx-room"),
]
