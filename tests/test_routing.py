"""Unit tests of django_wsviews.routing: ws_urlpatterns resolved and reversed by Django."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import django
import pytest
from django.test import override_settings
from django.urls import (
    NoReverseMatch,
    Resolver404,
    URLResolver,
    get_script_prefix,
    path,
    resolve,
    reverse,
    set_script_prefix,
    set_urlconf,
)

from django_wsviews.routing import (
    WS_URLPATTERNS_ATTRIBUTE,
    WebSocketURLConf,
    clear_ws_url_caches,
    get_ws_resolver,
    get_ws_urlconf,
    ws_resolve,
    ws_reverse,
)

from .support import extra_views, urls_routing

routing_urls = override_settings(ROOT_URLCONF="tests.support.urls_routing")


@pytest.fixture
def script_prefix() -> Iterator[None]:
    """Restore the script prefix after a test sets it."""
    saved = get_script_prefix()
    yield
    set_script_prefix(saved)


# Resolving ------------------------------------------------------------------


@routing_urls
def test_path_named_groups_are_converted_kwargs() -> None:
    """path() converters capture kwargs converted to Python values."""
    match = ws_resolve("/r/kw/lobby/42/")
    assert match.kwargs == {"room": "lobby", "n": 42}
    assert match.args == ()
    assert match.url_name == "kw"
    assert match.route == "r/kw/<slug:room>/<int:n>/"


@routing_urls
def test_path_converter_rejects_nonmatching_segment() -> None:
    """A segment the converter refuses (int given letters) does not resolve."""
    with pytest.raises(Resolver404):
        ws_resolve("/r/kw/lobby/forty-two/")


@routing_urls
def test_path_and_uuid_converters() -> None:
    """The path converter spans slashes and the uuid converter gives a UUID."""
    assert ws_resolve("/r/path/a/b/c.txt").kwargs == {"rest": "a/b/c.txt"}
    value = uuid.uuid4()
    assert ws_resolve(f"/r/uuid/{value}/").kwargs == {"id": value}


@routing_urls
def test_custom_converter_to_python() -> None:
    """A registered custom converter's to_python() is applied on resolve."""
    assert ws_resolve("/r/year/2024/").kwargs == {"year": 2024}
    with pytest.raises(Resolver404):
        ws_resolve("/r/year/24/")


@routing_urls
def test_re_path_named_groups_are_kwargs() -> None:
    """re_path() named groups become string kwargs."""
    match = ws_resolve("/r/re/2024/05/")
    assert match.kwargs == {"year": "2024", "month": "05"}
    assert match.args == ()


@routing_urls
def test_re_path_unnamed_groups_are_args() -> None:
    """re_path() unnamed groups become positional args."""
    match = ws_resolve("/r/unnamed/abc/12/")
    assert match.args == ("abc", "12")
    assert match.kwargs == {}


@routing_urls
def test_re_path_mixed_groups_keep_only_named() -> None:
    """With named and unnamed groups, only the named ones are passed (as Django)."""
    match = ws_resolve("/r/mixed/abc/12/")
    assert match.kwargs == {"word": "abc"}
    assert match.args == ()


@routing_urls
def test_resolve_returns_routed_callable() -> None:
    """The match's func is the very callable routed in ws_urlpatterns."""
    match = ws_resolve("/r/echo/")
    assert match.func is urls_routing.echo_view
    assert match.func.view_class is extra_views.Echo


@routing_urls
def test_default_kwargs_of_pattern() -> None:
    """Extra kwargs given to path() reach the match."""
    assert ws_resolve("/r/defaults/").kwargs == {"flavour": "vanilla"}


@routing_urls
def test_include_module_takes_its_ws_urlpatterns() -> None:
    """include("module") in ws_urlpatterns resolves that module's ws_urlpatterns."""
    match = ws_resolve("/r/nested/here/")
    assert match.func.view_class is extra_views.Echo
    assert match.namespace == "nested"
    assert match.app_name == "nested"
    assert match.view_name == "nested:here"


@routing_urls
def test_include_does_not_take_http_urlpatterns() -> None:
    """An included module's HTTP urlpatterns are not WebSocket routes."""
    with pytest.raises(Resolver404):
        ws_resolve("/r/nested/http-here/")
    with pytest.raises(Resolver404):
        ws_resolve("/r/nested/deeper/http-leaf/")


@routing_urls
def test_nested_include_follows_ws_urlpatterns_down() -> None:
    """An include inside an included module also reads ws_urlpatterns, with nested namespaces."""
    match = ws_resolve("/r/nested/deeper/7/")
    assert match.func.view_class is extra_views.Other
    assert match.namespaces == ["nested", "leaf"]
    assert match.view_name == "nested:leaf:leaf"
    assert match.kwargs == {"n": 7, "from_include": True}


@routing_urls
def test_include_default_kwargs_propagate() -> None:
    """Extra kwargs given to include() reach the matches below it."""
    assert ws_resolve("/r/nested/here/").kwargs == {"from_include": True}


@routing_urls
def test_include_of_plain_list_without_namespace() -> None:
    """include([...]) takes the list as it is, with no namespace."""
    match = ws_resolve("/r/plain-list/leaf/")
    assert match.func.view_class is extra_views.Other
    assert match.namespace == ""


@routing_urls
def test_include_of_module_without_ws_urlpatterns_has_no_routes() -> None:
    """An included module with no ws_urlpatterns contributes nothing."""
    with pytest.raises(Resolver404):
        ws_resolve("/r/http-only/ws/echo/")


@routing_urls
def test_http_routes_are_not_ws_routes() -> None:
    """HTTP urlpatterns of the ROOT_URLCONF are not WebSocket routes, and vice versa."""
    with pytest.raises(Resolver404):
        ws_resolve("/http/page/")
    assert resolve("/http/page/").url_name == "http-page"
    with pytest.raises(Resolver404):
        resolve("/r/echo/")


@routing_urls
def test_unknown_path_raises_resolver404() -> None:
    """A path no WebSocket route matches raises Resolver404."""
    with pytest.raises(Resolver404):
        ws_resolve("/r/nowhere/")


def test_tests_urls_namespaced_include_of_list() -> None:
    """tests.support.urls' ws/app/ include of a (patterns, "app") tuple gets namespace "app"."""
    match = ws_resolve("/ws/app/echo/")
    assert match.namespace == "app"
    assert match.view_name == "app:echo"
    assert ws_reverse("app:echo") == "/ws/app/echo/"


def test_tests_urls_include_of_module_uses_its_ws_urlpatterns() -> None:
    """tests.support.urls' ws/included/ takes tests.support.included_urls' ws_urlpatterns only."""
    match = ws_resolve("/ws/included/echo/")
    assert match.view_name == "included:echo"
    assert ws_reverse("included:echo") == "/ws/included/echo/"
    with pytest.raises(Resolver404):
        ws_resolve("/ws/included/http-only/")


def test_explicit_urlconf_argument() -> None:
    """ws_resolve() and ws_reverse() accept an explicit urlconf, ignoring ROOT_URLCONF."""
    assert (
        ws_resolve("/r/echo/", urlconf="tests.support.urls_routing").url_name == "echo"
    )
    assert (
        ws_reverse("kw", urlconf="tests.support.urls_routing", args=["a", 1])
        == "/r/kw/a/1/"
    )
    with pytest.raises(Resolver404):
        ws_resolve("/r/echo/")


def test_thread_urlconf_is_used_by_default() -> None:
    """The current thread's urlconf (set_urlconf, as request.urlconf does) is the default."""
    set_urlconf("tests.support.urls_routing")
    try:
        assert ws_resolve("/r/echo/").url_name == "echo"
        assert ws_reverse("echo") == "/r/echo/"
    finally:
        set_urlconf(None)
    with pytest.raises(Resolver404):
        ws_resolve("/r/echo/")


def test_urlconf_as_list_of_patterns() -> None:
    """A list of patterns is accepted as the urlconf of WebSocket routes."""
    patterns = [path("l/<int:n>/", extra_views.Echo.as_view(), name="l")]
    assert WebSocketURLConf(patterns).urlpatterns == patterns
    assert ws_resolve("/l/3/", urlconf=patterns).kwargs == {"n": 3}
    assert ws_reverse("l", urlconf=patterns, args=[3]) == "/l/3/"


# Reversing ------------------------------------------------------------------


@routing_urls
def test_reverse_with_kwargs_and_args() -> None:
    """ws_reverse() fills converters from kwargs or from args."""
    assert ws_reverse("kw", kwargs={"room": "lobby", "n": 3}) == "/r/kw/lobby/3/"
    assert ws_reverse("kw", args=["lobby", 3]) == "/r/kw/lobby/3/"


@routing_urls
def test_reverse_custom_converter_to_url() -> None:
    """ws_reverse() applies the custom converter's to_url()."""
    assert ws_reverse("year", kwargs={"year": 7}) == "/r/year/0007/"


@routing_urls
def test_reverse_re_path_named_and_unnamed() -> None:
    """ws_reverse() reverses re_path() routes with named and unnamed groups."""
    assert (
        ws_reverse("re-named", kwargs={"year": "2024", "month": "05"})
        == "/r/re/2024/05/"
    )
    assert ws_reverse("re-unnamed", args=["abc", "12"]) == "/r/unnamed/abc/12/"


@routing_urls
def test_reverse_by_view_callable() -> None:
    """ws_reverse() accepts the routed callable itself."""
    assert ws_reverse(urls_routing.echo_view) == "/r/echo/"


@routing_urls
def test_reverse_nested_namespaces() -> None:
    """ws_reverse() follows nested namespaces through included modules."""
    assert ws_reverse("nested:here") == "/r/nested/here/"
    assert ws_reverse("nested:leaf:leaf", kwargs={"n": 5}) == "/r/nested/deeper/5/"


@routing_urls
def test_reverse_current_app_picks_instance_namespace() -> None:
    """current_app chooses between two instances of one application namespace."""
    assert ws_reverse("shared:x", current_app="one") == "/r/one/x/"
    assert ws_reverse("shared:x", current_app="two") == "/r/two/x/"
    assert ws_reverse("one:x") == "/r/one/x/"
    assert ws_reverse("two:x") == "/r/two/x/"


@pytest.mark.skipif(
    django.VERSION < (5, 2), reason="query= and fragment= need Django 5.2"
)
@routing_urls
def test_reverse_query_and_fragment() -> None:
    """On Django 5.2+, query= and fragment= are encoded onto the path."""
    assert ws_reverse("echo", query={"a": "1 2", "b": "é"}) == "/r/echo/?a=1+2&b=%C3%A9"
    assert ws_reverse("echo", query={"t": "x"}, fragment="f") == "/r/echo/?t=x#f"


@routing_urls
def test_reverse_percent_encodes_non_ascii() -> None:
    """Non-ASCII route arguments are percent-encoded as UTF-8."""
    assert ws_reverse("path-conv", kwargs={"rest": "é/ü"}) == "/r/path/%C3%A9/%C3%BC"


@routing_urls
def test_reverse_unknown_name_raises() -> None:
    """An unknown route name raises NoReverseMatch."""
    with pytest.raises(NoReverseMatch):
        ws_reverse("no-such-route")


@routing_urls
def test_reverse_bad_arguments_raise() -> None:
    """Arguments the converters refuse, or missing ones, raise NoReverseMatch."""
    with pytest.raises(NoReverseMatch):
        ws_reverse("kw", kwargs={"room": "lobby", "n": "not-an-int"})
    with pytest.raises(NoReverseMatch):
        ws_reverse("kw", kwargs={"room": "lobby"})


@routing_urls
def test_reverse_unknown_namespace_raises() -> None:
    """An unknown namespace raises NoReverseMatch."""
    with pytest.raises(NoReverseMatch):
        ws_reverse("nope:echo")


@routing_urls
def test_http_and_ws_names_are_separate() -> None:
    """An HTTP route name is not reversible by ws_reverse(), nor a WebSocket one by reverse()."""
    with pytest.raises(NoReverseMatch):
        ws_reverse("http-page")
    with pytest.raises(NoReverseMatch):
        ws_reverse("nested:http-here")
    with pytest.raises(NoReverseMatch):
        reverse("echo")
    assert reverse("http-page") == "/http/page/"


def test_reverse_of_an_http_name_says_so_and_names_the_fix() -> None:
    """ws_reverse() of an HTTP route's name, namespaced too, says to use reverse()."""
    urlconf = "tests.support.urls_routing"  # given, not ROOT_URLCONF: both look there
    with pytest.raises(NoReverseMatch) as info:
        ws_reverse("http-page", urlconf=urlconf)
    assert str(info.value) == (
        "'http-page' is the name of a route in urlpatterns (HTTP); ws_reverse() and "
        "{% ws_url %} reverse the names of ws_urlpatterns. Use reverse() or "
        "{% url %} for an HTTP page, or name the WebSocket route in ws_urlpatterns."
    )
    with pytest.raises(NoReverseMatch, match=r"^'nested:http-here' is the name"):
        ws_reverse("nested:http-here", urlconf=urlconf)
    for name in ("no-such-route", "nested:no-such-route", "nope:http-page"):
        with pytest.raises(NoReverseMatch) as info:
            ws_reverse(name, urlconf=urlconf)
        assert "urlpatterns (HTTP)" not in str(info.value)


@routing_urls
def test_reverse_includes_script_prefix(script_prefix: None) -> None:
    """ws_reverse() prepends the script prefix, as reverse() does."""
    set_script_prefix("/prefix/")
    assert ws_reverse("echo") == "/prefix/r/echo/"
    assert ws_reverse("nested:here") == "/prefix/r/nested/here/"


# No ws_urlpatterns ------------------------------------------------------------


@override_settings(ROOT_URLCONF="tests.support.urls_no_ws")
def test_root_urlconf_without_ws_urlpatterns_resolves_nothing() -> None:
    """A ROOT_URLCONF without ws_urlpatterns has no WebSocket routes, even where HTTP has one."""
    assert resolve("/ws/echo/").url_name == "echo"
    with pytest.raises(Resolver404):
        ws_resolve("/ws/echo/")
    with pytest.raises(NoReverseMatch):
        ws_reverse("echo")
    assert get_ws_resolver().url_patterns == []


# Caches ---------------------------------------------------------------------


def test_override_root_urlconf_switches_routes() -> None:
    """override_settings(ROOT_URLCONF=...) takes effect for WebSocket routes, and is undone."""
    assert ws_resolve("/ws/echo/").url_name == "echo"
    with override_settings(ROOT_URLCONF="tests.support.urls_routing"):
        assert ws_resolve("/r/echo/").url_name == "echo"
        with pytest.raises(Resolver404):
            ws_resolve("/ws/echo/")
    assert ws_resolve("/ws/echo/").url_name == "echo"
    with pytest.raises(Resolver404):
        ws_resolve("/r/echo/")


def test_ws_urlconf_is_cached() -> None:
    """get_ws_urlconf() and get_ws_resolver() return the same object while settings hold."""
    assert get_ws_urlconf() is get_ws_urlconf()
    assert get_ws_urlconf("tests.support.urls_routing") is get_ws_urlconf(
        "tests.support.urls_routing"
    )
    assert get_ws_resolver() is get_ws_resolver()


def test_root_urlconf_change_clears_cache() -> None:
    """A ROOT_URLCONF setting change forgets the cached WebSocket URLconfs."""
    before = get_ws_urlconf("tests.support.urls_routing")
    with override_settings(ROOT_URLCONF="tests.support.urls_no_ws"):
        pass
    assert get_ws_urlconf("tests.support.urls_routing") is not before


def test_other_setting_change_keeps_cache() -> None:
    """A change of another setting does not forget the cached WebSocket URLconfs."""
    before = get_ws_urlconf("tests.support.urls_routing")
    with override_settings(USE_TZ=False):
        pass
    assert get_ws_urlconf("tests.support.urls_routing") is before


def test_root_urlconf_change_rereads_ws_urlpatterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After override_settings(ROOT_URLCONF=...), a module's replaced ws_urlpatterns are read anew."""
    with routing_urls:
        assert ws_resolve("/r/echo/").url_name == "echo"
    replacement = [path("r/replaced/", extra_views.Echo.as_view(), name="replaced")]
    monkeypatch.setattr(urls_routing, WS_URLPATTERNS_ATTRIBUTE, replacement)
    with routing_urls:
        assert ws_resolve("/r/replaced/").url_name == "replaced"
        with pytest.raises(Resolver404):
            ws_resolve("/r/echo/")
    monkeypatch.undo()
    with routing_urls:
        assert ws_resolve("/r/echo/").url_name == "echo"


def test_clear_ws_url_caches() -> None:
    """clear_ws_url_caches() makes get_ws_urlconf() build a new WebSocketURLConf."""
    before = get_ws_urlconf()
    clear_ws_url_caches()
    after = get_ws_urlconf()
    assert after is not before
    assert ws_resolve("/ws/echo/").url_name == "echo"


# WebSocketURLConf -------------------------------------------------------------


def test_websocketurlconf_reads_ws_urlpatterns_attribute() -> None:
    """A WebSocketURLConf's urlpatterns are its module's ws_urlpatterns, not urlpatterns."""
    assert WS_URLPATTERNS_ATTRIBUTE == "ws_urlpatterns"
    conf = WebSocketURLConf("tests.support.urls_routing")
    assert conf.module is urls_routing
    routes = [str(p.pattern) for p in conf.urlpatterns]
    assert routes == [str(p.pattern) for p in urls_routing.ws_urlpatterns]
    assert "http/page/" not in routes
    assert "tests.support.urls_routing" in repr(conf)  # names it in tracebacks


def test_websocketurlconf_adapts_includes() -> None:
    """Included resolvers are rebuilt around a WebSocketURLConf, keeping namespace and kwargs."""
    conf = WebSocketURLConf("tests.support.urls_routing")
    nested = next(p for p in conf.urlpatterns if str(p.pattern) == "r/nested/")
    assert isinstance(nested, URLResolver)
    assert isinstance(nested.urlconf_name, WebSocketURLConf)
    assert nested.namespace == "nested"
    assert nested.app_name == "nested"
    assert nested.default_kwargs == {"from_include": True}


def test_websocketurlconf_module_without_ws_urlpatterns_is_empty() -> None:
    """A module without ws_urlpatterns gives no patterns."""
    assert WebSocketURLConf("tests.support.urls_no_ws").urlpatterns == []
