"""URLconf of the end-to-end test project: HTTP routes and ``ws_urlpatterns``."""

from __future__ import annotations

from django.contrib.auth.views import LoginView
from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello, name="hello"),
    path("login/", LoginView.as_view(template_name="login.html"), name="login"),
    # A WebSocket view routed for HTTP too: a plain GET gets 426.
    path("ws/echo/", views.EchoView.as_view()),
    path("socket-token/", views.socket_token, name="socket-token"),
    path("token-page/", views.token_page, name="token-page"),
]

ws_urlpatterns = [
    path("ws/echo/", views.EchoView.as_view(), name="echo"),
    path("ws/whoami/", views.WhoAmIView.as_view(), name="whoami"),
    path("ws/small/", views.SmallView.as_view(), name="small"),
    path("ws/query/", views.QueryView.as_view(), name="query"),
    path("ws/big-echo/", views.BigEchoView.as_view(), name="big-echo"),
    path("ws/json/", views.JsonEchoView.as_view(), name="json"),
    path("ws/boom/", views.BoomView.as_view(), name="boom"),
    path("ws/info/", views.InfoView.as_view(), name="info"),
    path("ws/room/<str:name>/", views.InfoView.as_view(), name="room"),
    path("ws/tracked/<str:tag>/", views.TrackedView.as_view(), name="tracked"),
    path("ws/flood/<str:tag>/", views.FloodView.as_view(), name="flood"),
    path("ws/hold/<str:tag>/", views.HoldView.as_view(), name="hold"),
    path("ws/started/<str:tag>/", views.StartedView.as_view(), name="started"),
    path("ws/release/<str:tag>/", views.ReleaseView.as_view(), name="release"),
    path("ws/token-echo/", views.TokenEchoView.as_view(), name="token-echo"),
    path("ws/orm/", views.OrmQueryView.as_view(), name="orm"),
]

# htmx's ws extension from a browser (tests/e2e/test_htmx.py).
urlpatterns += [
    path("htmx/chat/", views.htmx_chat, name="htmx-chat-page"),
    path("htmx/assets/<str:name>", views.htmx_asset, name="htmx-asset"),
]
ws_urlpatterns += [
    path("ws/htmx/chat/", views.HtmxChatView.as_view(), name="htmx-chat"),
]

# The JavaScript client from a browser (tests/e2e/test_js_client.py): its page,
# and static files found by the staticfiles finders (DEBUG is off).
urlpatterns += [
    path("js-client/", views.js_client_page, name="js-client"),
    path("static/<path:path>", views.found_static_file, name="found-static-file"),
]
ws_urlpatterns += [
    path("ws/js/protocol/", views.JsProtocolView.as_view(), name="js-protocol"),
]

# Named actions through real servers (tests/e2e/test_actions.py).
ws_urlpatterns += [
    path("ws/actions/", views.ActionsView.as_view(), name="actions"),
]
