"""URLconf for test_routing: converters, regex groups, include() and namespaces."""

from __future__ import annotations

from django.urls import include, path, re_path, register_converter

from . import extra_views


class FourDigitYearConverter:
    """A custom converter: four digits to an int and back, zero-padded."""

    regex = "[0-9]{4}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return f"{value:04d}"


register_converter(FourDigitYearConverter, "wsyear")

#: Routed by identity, so that ws_reverse() can be given the callable.
echo_view = extra_views.Echo.as_view()

shared_patterns = [
    path("x/", extra_views.Echo.as_view(), name="x"),
]

app_name_less = [
    path("leaf/", extra_views.Other.as_view(), name="leaf"),
]

urlpatterns = [
    path("http/page/", extra_views.plain_function, name="http-page"),
    # Its HTTP routes, under the namespace "nested" of its app_name.
    path("http/nested/", include("tests.support.urls_routing_nested")),
]

ws_urlpatterns = [
    path("r/echo/", echo_view, name="echo"),
    path("r/kw/<slug:room>/<int:n>/", extra_views.Echo.as_view(), name="kw"),
    path("r/path/<path:rest>", extra_views.Echo.as_view(), name="path-conv"),
    path("r/uuid/<uuid:id>/", extra_views.Echo.as_view(), name="uuid"),
    path("r/year/<wsyear:year>/", extra_views.Echo.as_view(), name="year"),
    re_path(
        r"^r/re/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$",
        extra_views.Echo.as_view(),
        name="re-named",
    ),
    re_path(
        r"^r/unnamed/([a-z]+)/([0-9]+)/$", extra_views.Echo.as_view(), name="re-unnamed"
    ),
    re_path(
        r"^r/mixed/(?P<word>[a-z]+)/([0-9]+)/$",
        extra_views.Echo.as_view(),
        name="re-mixed",
    ),
    path(
        "r/defaults/",
        extra_views.Echo.as_view(),
        {"flavour": "vanilla"},
        name="defaults",
    ),
    path("r/one/", include((shared_patterns, "shared"), namespace="one")),
    path("r/two/", include((shared_patterns, "shared"), namespace="two")),
    path(
        "r/nested/",
        include("tests.support.urls_routing_nested"),
        {"from_include": True},
    ),
    path("r/plain-list/", include(app_name_less)),
    path("r/http-only/", include("tests.support.urls_no_ws")),
]
