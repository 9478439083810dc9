"""Unit tests of the template tags (django_wsviews.templatetags.wsviews)."""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, RequestContext, Template, engines
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, get_script_prefix, set_script_prefix

import django_wsviews
from django_wsviews.request import WebSocketRequest
from django_wsviews.templatetags.wsviews import ws_absolute_url

factory = RequestFactory()


def render(source: str, request: object, **context: object) -> str:
    """Render ``source`` after {% load wsviews %} with ``request`` in a RequestContext."""
    template = Template("{% load wsviews %}" + source)
    return template.render(RequestContext(request, context))  # type: ignore[arg-type]


@pytest.fixture
def script_prefix() -> Iterator[None]:
    """Restore the script prefix after a test sets it."""
    saved = get_script_prefix()
    yield
    set_script_prefix(saved)


def test_ws_url_plain_request() -> None:
    """An HTTP page gets a ws:// URL on its own host."""
    assert render('{% ws_url "echo" %}', factory.get("/")) == "ws://testserver/ws/echo/"


def test_ws_url_secure_request() -> None:
    """An HTTPS page gets a wss:// URL."""
    request = factory.get("/", secure=True)
    assert render('{% ws_url "echo" %}', request) == "wss://testserver/ws/echo/"


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_ws_url_behind_tls_proxy() -> None:
    """Behind a TLS-terminating proxy (SECURE_PROXY_SSL_HEADER), the URL is wss://."""
    request = factory.get(
        "/", headers={"Host": "localhost", "X-Forwarded-Proto": "https"}
    )
    assert render('{% ws_url "echo" %}', request) == "wss://localhost/ws/echo/"


def test_ws_url_host_with_port() -> None:
    """The request's host, port included, is the URL's authority."""
    request = factory.get("/", headers={"Host": "localhost:8000"})
    assert render('{% ws_url "echo" %}', request) == "ws://localhost:8000/ws/echo/"


def test_ws_url_kwargs() -> None:
    """Keyword arguments fill the route's converters."""
    result = render('{% ws_url "info" room="lobby" n=3 %}', factory.get("/"))
    assert result == "ws://testserver/ws/info/lobby/3/"


def test_ws_url_args_from_context_variables() -> None:
    """Positional arguments, including context variables, fill the route's groups."""
    result = render('{% ws_url "re-unnamed" word %}', factory.get("/"), word="abc")
    assert result == "ws://testserver/ws/unnamed/abc/"


def test_ws_url_namespaced_name_from_variable() -> None:
    """The route name may be a namespaced name held in a variable."""
    result = render("{% ws_url name %}", factory.get("/"), name="app:echo")
    assert result == "ws://testserver/ws/app/echo/"


def test_ws_url_as_variable() -> None:
    """{% ws_url ... as var %} outputs nothing and stores the URL in var."""
    result = render(
        '[{% ws_url "info" room="r" n=1 as url %}]({{ url }})', factory.get("/")
    )
    assert result == "[](ws://testserver/ws/info/r/1/)"


def test_ws_url_percent_encodes() -> None:
    """Non-ASCII route arguments are percent-encoded in the URL."""
    result = render('{% ws_url "unicode" "é" %}', factory.get("/"))
    assert result == "ws://testserver/ws/%C3%BCn%C3%AF/%C3%A9/"


def test_ws_url_includes_script_prefix(script_prefix: None) -> None:
    """The script prefix is part of the URL, as for {% url %}."""
    set_script_prefix("/prefix/")
    assert (
        render('{% ws_url "echo" %}', factory.get("/"))
        == "ws://testserver/prefix/ws/echo/"
    )


def test_ws_url_unknown_route_raises() -> None:
    """An unknown route name raises NoReverseMatch, as {% url %} does."""
    with pytest.raises(NoReverseMatch):
        render('{% ws_url "no-such-route" %}', factory.get("/"))


def test_ws_url_http_route_name_raises() -> None:
    """An HTTP route name is refused with a message that says ws_url reverses ws_urlpatterns."""
    with pytest.raises(NoReverseMatch, match="ws_urlpatterns") as refused:
        render('{% ws_url "page" %}', factory.get("/"))
    assert "{% url %}" in str(refused.value)


def test_ws_url_unknown_route_message_is_djangos() -> None:
    """A name that is no route at all keeps Django's own NoReverseMatch message."""
    with pytest.raises(NoReverseMatch) as refused:
        render('{% ws_url "no-such-route" %}', factory.get("/"))
    assert "urlpatterns (HTTP)" not in str(refused.value)


@override_settings(ROOT_URLCONF="tests.support.urls_routing")
def test_ws_url_follows_root_urlconf() -> None:
    """The tag reverses against the current ROOT_URLCONF's ws_urlpatterns."""
    assert (
        render('{% ws_url "year" year=5 %}', factory.get("/"))
        == "ws://testserver/r/year/0005/"
    )


def test_ws_url_missing_request_improperly_configured() -> None:
    """Rendering without request in the context raises ImproperlyConfigured."""
    template = Template('{% load wsviews %}{% ws_url "echo" %}')
    with pytest.raises(ImproperlyConfigured):
        template.render(Context({}))


def test_ws_url_plain_context_with_request() -> None:
    """A plain Context holding "request" is enough."""
    template = Template('{% load wsviews %}{% ws_url "echo" %}')
    assert (
        template.render(Context({"request": factory.get("/")}))
        == "ws://testserver/ws/echo/"
    )


def test_ws_url_through_template_backend() -> None:
    """Through the engine, the request context processor provides the request."""
    template = engines["django"].from_string('{% load wsviews %}{% ws_url "echo" %}')
    request = factory.get("/", secure=True)
    assert template.render({}, request) == "wss://testserver/ws/echo/"


def test_ws_absolute_url_with_websocket_request() -> None:
    """ws_absolute_url() builds from a WebSocketRequest too: wss for a wss handshake."""
    request = WebSocketRequest(
        {
            "type": "websocket",
            "scheme": "wss",
            "path": "/ws/echo/",
            "query_string": b"",
            "headers": [(b"host", b"localhost:8443")],
        }
    )
    assert ws_absolute_url(request, "/ws/x/") == "wss://localhost:8443/ws/x/"


# The JavaScript client: {% wsviews_js %} and {% ws_route %} ------------------

CLIENT_FILES = ("django_wsviews/wsviews.js", "django_wsviews/wsviews.d.ts")


@override_settings(STATIC_URL="/static/")
def test_wsviews_js_writes_the_import_map() -> None:
    """{% wsviews_js %} maps "wsviews" to the client's {% static %} URL."""
    assert render("{% wsviews_js %}", factory.get("/")) == (
        '<script type="importmap">'
        '{"imports": {"wsviews": "/static/django_wsviews/wsviews.js"}}'
        "</script>"
    )


@override_settings(STATIC_URL="https://cdn.example.com/assets/")
def test_wsviews_js_follows_static_url() -> None:
    """The URL is static()'s, so a CDN's STATIC_URL (or a hashed name) is used."""
    result = render("{% wsviews_js %}", factory.get("/"))
    assert (
        '"wsviews": "https://cdn.example.com/assets/django_wsviews/wsviews.js"'
        in result
    )


@override_settings(STATIC_URL="/static/")
def test_wsviews_js_carries_the_csp_nonce() -> None:
    """With csp_nonce in the context, the import map carries it, escaped."""
    result = render("{% wsviews_js %}", factory.get("/"), csp_nonce='n0"nce')
    assert result.startswith('<script type="importmap" nonce="n0&quot;nce">')


def test_ws_route_writes_the_url_as_json_data() -> None:
    """{% ws_route %} writes a data element keyed by the route name, holding ws_url's URL."""
    result = render('{% ws_route "info" room="lobby" n=3 %}', factory.get("/"))
    assert result == (
        '<script type="application/json" data-wsviews-route="info">'
        '{"url": "ws://testserver/ws/info/lobby/3/"}'
        "</script>"
    )


def test_ws_route_escapes_json_for_a_script_element() -> None:
    """An "&" that reverse() leaves in the path is escaped as in json_script()."""
    result = render('{% ws_route "unicode" "a&b" %}', factory.get("/", secure=True))
    data = result.removeprefix(
        '<script type="application/json" data-wsviews-route="unicode">'
    ).removesuffix("</script>")
    assert "&" not in data
    assert json.loads(data) == {"url": "wss://testserver/ws/%C3%BCn%C3%AF/a&b/"}


def test_ws_route_name_from_a_variable() -> None:
    """The route name may come from a variable; it is the key forRoute() looks up."""
    result = render("{% ws_route name %}", factory.get("/"), name="app:echo")
    assert 'data-wsviews-route="app:echo"' in result
    assert '"ws://testserver/ws/app/echo/"' in result


def test_ws_route_unknown_route_raises() -> None:
    """An unknown route name raises NoReverseMatch, as {% ws_url %} does."""
    with pytest.raises(NoReverseMatch):
        render('{% ws_route "no-such-route" %}', factory.get("/"))


def test_ws_route_missing_request_improperly_configured() -> None:
    """Without the request in the context, ImproperlyConfigured names the fix."""
    template = Template('{% load wsviews %}{% ws_route "echo" %}')
    with pytest.raises(
        ImproperlyConfigured, match=r"^\{% ws_route %\} needs the request"
    ):
        template.render(Context({}))


def test_client_files_are_found_by_the_staticfiles_finders() -> None:
    """{% static "django_wsviews/wsviews.js" %} and the .d.ts are found in the app's static folder."""
    app_static = Path(django_wsviews.__file__).resolve().parent / "static"
    for name in CLIENT_FILES:
        found = finders.find(name)
        assert found is not None, name
        assert Path(found) == app_static / name


def test_package_data_ships_the_client_files() -> None:
    """setup.cfg's package_data globs match both client files, so the wheel carries them."""
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    patterns = config["options.package_data"]["django_wsviews"].split()
    package = Path(django_wsviews.__file__).resolve().parent
    shipped = {
        path.relative_to(package).as_posix()
        for pattern in patterns
        for path in package.glob(pattern)
    }
    assert {f"static/{name}" for name in CLIENT_FILES} <= shipped
