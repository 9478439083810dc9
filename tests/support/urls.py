"""Routes for the test suite."""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import include, path, re_path

from . import views

app_patterns = [
    path("echo/", views.EchoView.as_view(), name="echo"),
]

urlpatterns = [
    path("page/", lambda request: HttpResponse("page"), name="page"),
    path("upgrade/", views.EchoView.as_view(), name="http-echo"),
]

ws_urlpatterns = [
    path("ws/echo/", views.EchoView.as_view(), name="echo"),
    path("ws/info/<slug:room>/<int:n>/", views.InfoView.as_view(), name="info"),
    re_path(r"^ws/re/(?P<year>[0-9]{4})/$", views.InfoView.as_view(), name="re-named"),
    re_path(r"^ws/unnamed/([a-z]+)/$", views.InfoView.as_view(), name="re-unnamed"),
    path("ws/json/", views.JsonEchoView.as_view(), name="json"),
    path("ws/json-types/", views.JsonTypesView.as_view()),
    path("ws/codec/", views.CodecView.as_view()),
    path("ws/json-word/<str:word>/", views.JsonEchoView.as_view()),
    path("ws/subprotocol/", views.SubprotocolView.as_view(), name="subprotocol"),
    path("ws/reject/", views.RejectView.as_view(), name="reject"),
    path("ws/reject-418/", views.RejectView.as_view(status=418), name="reject-418"),
    path("ws/silent/", views.SilentView.as_view()),
    path("ws/connect-error/", views.ConnectErrorView.as_view()),
    path("ws/receive-error/", views.ReceiveErrorView.as_view()),
    path("ws/close/", views.CloseView.as_view()),
    path("ws/recording/<str:key>/", views.RecordingView.as_view()),
    path("ws/order/", views.SlowOrderView.as_view()),
    path("ws/sync/<str:key>/", views.SyncEchoView.as_view()),
    path("ws/user/", views.UserView.as_view()),
    path("ws/early/", views.SendBeforeAcceptView.as_view()),
    path("ws/ünï/<str:word>/", views.InfoView.as_view(), name="unicode"),
    path("ws/barrier/", views.BarrierView.as_view()),
    path("ws/exception-hook/", views.ExceptionHookView.as_view()),
    path("ws/bad-send/", views.BadSendView.as_view()),
    path("ws/double-accept/", views.DoubleAcceptView.as_view()),
    path("ws/send-after-close/", views.SendAfterCloseView.as_view()),
    path("ws/accept-headers/", views.AcceptHeadersView.as_view()),
    path("ws/middleware/", views.MiddlewareInfoView.as_view()),
    path("ws/refused-by-middleware/", views.RefusedByMiddlewareView.as_view()),
    path("ws/auser/", views.AsyncUserView.as_view()),
    path("ws/open-origin/", views.OpenOriginView.as_view()),
    path("ws/partner-origin/", views.PartnerOriginView.as_view()),
    path("ws/query/", views.QueryView.as_view()),
    path("ws/login-required/", views.LoginRequiredView.as_view()),
    path("ws/login-required-close/", views.LoginRequiredCloseView.as_view()),
    path("ws/permission/", views.PermissionView.as_view()),
    path("ws/misconfigured-permission/", views.MisconfiguredPermissionView.as_view()),
    path("ws/staff/", views.StaffOnlyView.as_view()),
    path("ws/token/", views.TokenView.as_view()),
    path("ws/query-token/", views.QueryTokenView.as_view()),
    path("ws/small/", views.SmallMessagesView.as_view()),
    path("ws/rate/", views.RateLimitedView.as_view()),
    path("ws/rate-but-staff/", views.StaffUnlimitedView.as_view()),
    path("ws/lenient-rate/", views.LenientRateView.as_view()),
    path("ws/idle/", views.IdleView.as_view()),
    path("ws/recheck/", views.RecheckEachMessageView.as_view()),
    path("ws/recheck-periodic/", views.RecheckPeriodicallyView.as_view()),
    path("ws/greedy/", views.GreedyView.as_view()),
    path("ws/per-user/", views.PerUserLimitView.as_view()),
    path("ws/app/", include((app_patterns, "app"), namespace="app")),
    path("ws/included/", include("tests.support.included_urls")),
]
