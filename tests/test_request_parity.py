"""
WebSocketRequest against Django's own ASGIRequest, built from the same scopes.

WebSocketRequest fills itself in as it is read; every public attribute and
method must still give what Django's ASGIRequest gives, whichever is read
first. The reference is Django's ASGIRequest with the two differences
WebSocketRequest documents: the scheme is http/https (ws/wss mapped), and
several Cookie headers are joined with "; " (Django 6 does this itself).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import django
import pytest
from django.core.handlers.asgi import ASGIRequest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_wsviews.request import WebSocketRequest

from .support.scopes import HOST, websocket_scope

_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class DjangosRequest(ASGIRequest):
    """Django's ASGIRequest for a websocket scope, with WebSocketRequest's documented differences."""

    def __init__(self, scope: dict[str, Any]) -> None:
        super().__init__({**scope, "method": "GET"}, io.BytesIO())
        self.scope = scope
        if django.VERSION < (6, 0):
            cookies = [
                value.decode("latin-1")
                for name, value in scope.get("headers", ())
                if "_" not in name.decode("latin-1")
                and name.decode("latin-1").upper() == "COOKIE"
            ]
            if len(cookies) > 1:
                self.META["HTTP_COOKIE"] = "; ".join(cookies)

    def _get_scheme(self) -> str:
        return _SCHEMES.get(self.scope.get("scheme") or "http", "http")


def outcome(read: Callable[[], Any]) -> Any:
    """Return what ``read()`` gives, or the type and text of what it raises."""
    try:
        return ("value", read())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


def observations(request: Any) -> dict[str, Callable[[], Any]]:
    """Return every public attribute and method result of ``request``, as readers."""
    readers: dict[str, Callable[[], Any]] = {
        "path": lambda: request.path,
        "path_info": lambda: request.path_info,
        "script_name": lambda: request.script_name,
        "method": lambda: request.method,
        "META": lambda: dict(request.META),
        "META order": lambda: list(request.META),
        "GET": lambda: sorted(request.GET.lists()),
        "GET encoding": lambda: request.GET.encoding,
        "POST": lambda: sorted(request.POST.lists()),
        "FILES": lambda: sorted(request.FILES.lists()),
        "COOKIES": lambda: request.COOKIES,
        "content_type": lambda: request.content_type,
        "content_params": lambda: request.content_params,
        "encoding": lambda: request.encoding,
        "headers": lambda: dict(request.headers),
        "scheme": lambda: request.scheme,
        "is_secure": lambda: request.is_secure(),
        "get_host": lambda: request.get_host(),
        "get_port": lambda: request.get_port(),
        "get_full_path": lambda: request.get_full_path(),
        "get_full_path slash": lambda: request.get_full_path(force_append_slash=True),
        "get_full_path_info": lambda: request.get_full_path_info(),
        "build_absolute_uri": lambda: request.build_absolute_uri(),
        "build_absolute_uri relative": lambda: request.build_absolute_uri("a/b?c=d"),
        "build_absolute_uri absolute": lambda: request.build_absolute_uri("/x/"),
        "body": lambda: request.body,
        "read": lambda: request.read(),
        "readlines": lambda: request.readlines(),
        "accepts html": lambda: request.accepts("text/html"),
        "accepted_types": lambda: [str(t) for t in request.accepted_types],
        "get_signed_cookie": lambda: request.get_signed_cookie("s", default="none"),
        "resolver_match": lambda: request.resolver_match,
        "repr": lambda: repr(request).replace(type(request).__name__, "Request", 1),
        "upload_handlers": lambda: [type(h) for h in request.upload_handlers],
        "scope": lambda: request.scope,
        # Ours forgets its decoded headers once the connection is open: any
        # reading after it gives the same as before.
        "compact": lambda: getattr(request, "compact", lambda: None)(),
    }
    if hasattr(request, "get_preferred_type"):  # Django 5.2+
        readers["get_preferred_type"] = lambda: request.get_preferred_type(
            ["text/html", "application/json"]
        )
    return readers


def assert_same(scope: dict[str, Any], order: list[str] | None = None) -> None:
    """Build both requests from ``scope`` and compare every reading, in ``order``."""
    try:
        theirs = DjangosRequest(scope)
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            WebSocketRequest(scope)
        return
    ours = WebSocketRequest(scope)
    their_readers, our_readers = observations(theirs), observations(ours)
    for name in order or list(their_readers):
        assert outcome(our_readers[name]) == outcome(their_readers[name]), name


SCOPES = {
    "plain": websocket_scope(),
    "browser": websocket_scope(
        [
            HOST,
            (b"origin", b"http://testserver"),
            (b"user-agent", b"Mozilla/5.0"),
            (b"accept", b"text/html;q=0.9,application/json"),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"cookie", b"sessionid=abc; csrftoken=xyz"),
        ]
    ),
    "no headers key": {k: v for k, v in websocket_scope().items() if k != "headers"},
    "no headers": websocket_scope([]),
    "no server, no client": websocket_scope(server=None, client=None),
    "several cookie headers": websocket_scope(
        [HOST, (b"cookie", b"a=1"), (b"cookie", b"b=2; "), (b"cookie", b"c=3")]
    ),
    "one cookie header with a trailing separator": websocket_scope(
        [HOST, (b"cookie", b"a=1; b=2; ")]
    ),
    "cookie headers in two spellings": websocket_scope(
        [HOST, (b"Cookie", b"a=1"), (b"cookie", b"b=2")]
    ),
    "cookie with a comma": websocket_scope([HOST, (b"cookie", b"a=1,b=2")]),
    "repeated headers": websocket_scope(
        [HOST, (b"x-a", b"1"), (b"x-b", b"z"), (b"x-a", b"2"), (b"X-A", b"3")]
    ),
    "underscore names": websocket_scope(
        [HOST, (b"x_forwarded_proto", b"https"), (b"x_custom", b"spoof")]
    ),
    "upper-case names": websocket_scope(
        [(b"Host", b"testserver"), (b"Content-Type", b"text/plain; charset=latin-1")]
    ),
    "content type with charset": websocket_scope(
        [
            HOST,
            (b"content-type", b"text/plain; charset=latin-1"),
            (b"content-length", b"0"),
        ]
    ),
    "content type with an unknown charset": websocket_scope(
        [HOST, (b"content-type", b"text/plain; charset=nonsense")]
    ),
    "latin-1 bytes": websocket_scope(
        [HOST, (b"x-\xe9t\xe9", b"caf\xe9"), (b"user-agent", b"\xff\xfe")]
    ),
    "upper-case host": websocket_scope([(b"host", b"TestServer:80")]),
    "two host headers": websocket_scope([HOST, (b"host", b"localhost")]),
    "disallowed host": websocket_scope([(b"host", b"evil.example")]),
    "host with a bad port": websocket_scope([(b"host", b"testserver:99999999999")]),
    "IPv6 host": websocket_scope([(b"host", b"[::1]:8000")]),
    "IPv6 server, no host": websocket_scope([], server=("::1", 8000)),
    "no host, server on 80": websocket_scope([], server=("localhost", 80)),
    "no host, server on 8000": websocket_scope([], server=("localhost", 8000)),
    "wss": websocket_scope(scheme="wss", server=("testserver", 443)),
    "no scheme": {k: v for k, v in websocket_scope().items() if k != "scheme"},
    "unknown scheme": websocket_scope(scheme="gopher"),
    "root_path": websocket_scope(path="/prefix/ws/echo/", root_path="/prefix"),
    "root_path with a slash": websocket_scope(
        path="/prefix/ws/echo/", root_path="/prefix/"
    ),
    "root_path not a segment": websocket_scope(
        path="/prefixed/ws/", root_path="/prefix"
    ),
    "root_path not in path": websocket_scope(path="/ws/echo/", root_path="/other"),
    "path is root_path": websocket_scope(path="/prefix", root_path="/prefix"),
    "query string": websocket_scope(
        query_string=b"room=lobby&tag=a&tag=b&empty=&q=%C3%A9"
    ),
    "malformed query string": websocket_scope(query_string=b"a=%zz&&=x&b&c=%ff"),
    "query string not UTF-8": websocket_scope(query_string=b"q=\xff"),
    "query string as text": websocket_scope(query_string="a=1&b=\u00e9"),
    "non-ASCII path": websocket_scope(path="/ws/caf\u00e9/"),
    "forwarded headers": websocket_scope(
        [
            HOST,
            (b"x-forwarded-host", b"localhost:8443"),
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-port", b"8443"),
        ]
    ),
}


@pytest.mark.parametrize("name", list(SCOPES))
def test_same_as_djangos(name: str) -> None:
    """Every public attribute and method gives what Django's ASGIRequest gives for the scope."""
    assert_same(SCOPES[name])


@pytest.mark.parametrize("name", list(SCOPES))
def test_same_as_djangos_read_backwards(name: str) -> None:
    """The same, read in the opposite order (what is made on first use is made right whenever)."""
    order = list(observations(WebSocketRequest(websocket_scope())))
    assert_same(SCOPES[name], order[::-1])


@pytest.mark.parametrize(
    "name",
    ["root_path", "root_path with a slash", "root_path not in path", "plain"],
)
@override_settings(FORCE_SCRIPT_NAME="/forced")
def test_same_as_djangos_under_force_script_name(name: str) -> None:
    """Under FORCE_SCRIPT_NAME too (Django 4.2's ignores it, and so does ours there)."""
    assert_same(SCOPES[name])


@pytest.mark.parametrize("name", ["forwarded headers", "plain", "no headers"])
@override_settings(
    USE_X_FORWARDED_HOST=True,
    USE_X_FORWARDED_PORT=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_same_as_djangos_behind_a_proxy(name: str) -> None:
    """With the proxy settings on, the forwarded host, port and scheme are read alike."""
    assert_same(SCOPES[name])


@override_settings(ALLOWED_HOSTS=[], DEBUG=True)
def test_same_as_djangos_with_debug_and_no_allowed_hosts() -> None:
    """DEBUG with empty ALLOWED_HOSTS admits localhost alike and refuses others alike."""
    assert_same(websocket_scope([(b"host", b"localhost:8000")]))
    assert_same(websocket_scope([(b"host", b"example.com")]))


def test_writes_before_first_read_stick() -> None:
    """Setting encoding, META or GET before they are read gives what it gives Django's."""
    scope = SCOPES["content type with charset"]
    ours, theirs = WebSocketRequest(scope), DjangosRequest(scope)
    ours.encoding = theirs.encoding = "utf-16"
    assert ours.encoding == theirs.encoding == "utf-16"
    assert ours.content_type == theirs.content_type
    ours, theirs = WebSocketRequest(scope), DjangosRequest(scope)
    ours.META["HTTP_HOST"] = theirs.META["HTTP_HOST"] = "localhost"
    assert ours.get_host() == theirs.get_host() == "localhost"
    ours.META["QUERY_STRING"] = theirs.META["QUERY_STRING"] = "a=1"
    assert ours.GET == theirs.GET


def test_cookies_and_host_leave_meta_unmade() -> None:
    """COOKIES and get_host() read the headers alone: META is made only when read."""
    request = WebSocketRequest(SCOPES["browser"])
    assert request.COOKIES == {"sessionid": "abc", "csrftoken": "xyz"}
    assert request.get_host() == "testserver"
    assert request.GET == {}
    assert "META" not in request.__dict__
    assert request.META["HTTP_USER_AGENT"] == "Mozilla/5.0"


def test_headers_read_again_after_compact() -> None:
    """compact() forgets the decoded headers; the next readings decode them again, alike."""
    scope = SCOPES["browser"]
    ours = WebSocketRequest(scope)
    assert ours.get_host() == "testserver"
    ours.compact()
    assert "_header_meta" not in ours.__dict__
    assert ours.headers["User-Agent"] == "Mozilla/5.0"
    assert ours.COOKIES == {"sessionid": "abc", "csrftoken": "xyz"}
    ours.META["HTTP_X_SET"] = "kept"
    ours.compact()  # META, once made, is what the headers are read from: it stays
    assert ours.META["HTTP_X_SET"] == "kept"
    assert ours.META == {**DjangosRequest(scope).META, "HTTP_X_SET": "kept"}


_NAMES = st.sampled_from(
    [
        b"host",
        b"Host",
        b"cookie",
        b"Cookie",
        b"content-type",
        b"Content-Type",
        b"content-length",
        b"x-forwarded-host",
        b"x_forwarded_host",
        b"origin",
        b"user-agent",
        b"accept",
    ]
) | st.binary(max_size=12)
_VALUES = st.sampled_from(
    [
        b"testserver",
        b"localhost:8000",
        b"LocalHost",
        b"[::1]",
        b"a=1; b=2; ",
        b"text/plain; charset=latin-1",
        b"text/html;q=0.1, */*",
        b"",
    ]
) | st.binary(max_size=24)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    headers=st.lists(st.tuples(_NAMES, _VALUES), max_size=8),
    query_string=st.binary(max_size=16),
    root_path=st.sampled_from(["", "/p", "/p/", "/ws"]),
    path=st.sampled_from(["/ws/echo/", "/p/ws/", "/p", "/pq/", "/"]),
    scheme=st.sampled_from(["ws", "wss", None, "https"]),
    order=st.permutations(sorted(observations(object()))),
)
def test_same_as_djangos_for_any_headers(
    headers: list[tuple[bytes, bytes]],
    query_string: bytes,
    root_path: str,
    path: str,
    scheme: str | None,
    order: list[str],
) -> None:
    """Any headers, query string, prefix and scheme, read in any order: the same as Django's."""
    scope = websocket_scope(
        headers,
        query_string=query_string,
        root_path=root_path,
        path=path,
        scheme=scheme,
    )
    assert_same(scope, order)
