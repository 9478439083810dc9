"""
The Django request built from a WebSocket handshake, filled in as it is read.

A handshake needs little of a request: its path (to route it), its host (to
check ``ALLOWED_HOSTS``) and perhaps a cookie or two. Django's
``ASGIRequest`` builds all of ``META`` up front, one header at a time;
:class:`WebSocketRequest` builds the path at once and everything else the
first time it is read, with the same results.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, BinaryIO

import django
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, QueryDict, parse_cookie
from django.utils.functional import cached_property

if TYPE_CHECKING:
    from asgiref.typing import WebSocketScope
    from django.urls import ResolverMatch

__all__ = ["SharedMatch", "WebSocketRequest", "get_script_prefix"]

# ws -> http so that is_secure(), SECURE_PROXY_SSL_HEADER and CSRF's origin
# logic behave as they do for the page that opened the socket.
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class SharedMatch:
    """
    A resolver match that requests share (routing's cache keeps them).

    A request given one (:meth:`WebSocketRequest.share_resolver_match`)
    copies it, with :meth:`copy`, the first time ``resolver_match`` is read.
    """

    __slots__ = ()

    def copy(self) -> ResolverMatch:
        """Return a copy of the match for one request to keep, and change."""
        raise NotImplementedError


def get_script_prefix(scope: Any) -> str:
    """Return the script prefix: ``FORCE_SCRIPT_NAME``, else the scope's ``root_path``."""
    if settings.FORCE_SCRIPT_NAME:
        return str(settings.FORCE_SCRIPT_NAME)
    return str(scope.get("root_path", "") or "")


# Hosts Django's get_host() accepted, with their ports, as the handshake
# sent them; cleared whenever a setting changes.
_allowed_hosts: set[str] = set()
_ALLOWED_HOSTS_MEMORY = 64


@receiver(setting_changed, dispatch_uid="django_wsviews.request.allowed_hosts")
def _forget_allowed_hosts(**kwargs: Any) -> None:
    _allowed_hosts.clear()


# Django 6.0 joins several Cookie headers with "; " itself, trims each of a
# trailing "; " and puts HTTP_COOKIE first among the headers in META.
_COOKIES_TRIMMED = django.VERSION >= (6, 0)
# Django 4.2's script name is the scope's root_path, FORCE_SCRIPT_NAME aside.
_FORCED_SCRIPT_NAME = django.VERSION >= (5, 0)


def _paths(scope: Any, script_name: str) -> tuple[str, str]:
    """Return ``path`` and ``path_info`` as the running Django's ``ASGIRequest`` makes them."""
    path: str = scope["path"]
    if not script_name:
        return path, path
    if django.VERSION >= (6, 1):
        # The prefix is removed only where it ends at a "/".
        prefix = script_name.rstrip("/")
        if path.startswith(prefix + "/") or path == prefix:
            return path, path[len(prefix) :]
        return path, path
    if django.VERSION >= (5, 0):
        return path, path.removeprefix(script_name)
    # Django 4.2 rebuilds path from the prefix and path_info.
    path_info = path[len(script_name) :] if path.startswith(script_name) else path
    return f"{script_name.rstrip('/')}/{path_info.replace('/', '', 1)}", path_info


# Header name (as the server sent it) -> its META key, or None for a name
# Django drops (one with "_", which could spoof its hyphenated twin). Every
# handshake of a site sends the same few names; a client inventing names
# cannot grow this past _META_KEYS_MEMORY.
_meta_keys: dict[bytes, str | None] = {}
_META_KEYS_MEMORY = 512


def _meta_key(name: bytes) -> str | None:
    """Return the META key of header ``name``, as ``ASGIRequest`` spells it."""
    text = name.decode("latin-1")
    if "_" in text:
        return None
    if text == "content-length":
        return "CONTENT_LENGTH"
    if text == "content-type":
        return "CONTENT_TYPE"
    return "HTTP_" + text.upper().replace("-", "_")


def _headers_to_meta(headers: Any) -> dict[str, str]:
    """
    Return the ``META`` entries of the handshake's ``headers``, as Django makes them.

    A repeated header is one entry, its values joined with ``","``, except
    ``Cookie``: several Cookie headers (HTTP/2 splits them) are one list of
    cookies separated by ``"; "`` (RFC 9113, 8.2.3), where Django before 6.0
    joins them with ``","`` and so merges two cookies into one. Names with an
    underscore are dropped, as Django drops them.
    """
    if type(headers) is list or type(headers) is tuple:
        try:
            # The usual handshake: known names, none repeated or dropped.
            known = {
                _meta_keys[name]: value.decode("latin-1") for name, value in headers
            }
        except Exception:
            pass
        else:
            if len(known) == len(headers) and None not in known:
                if _COOKIES_TRIMMED and "HTTP_COOKIE" in known:
                    # Django 6 puts the cookies first, each trimmed of "; ".
                    cookie = known.pop("HTTP_COOKIE").rstrip("; ")
                    return {"HTTP_COOKIE": cookie, **known}  # type: ignore[dict-item]
                return known  # type: ignore[return-value]
    values: dict[str, list[str]] = {}
    for name, value in headers:
        try:
            key = _meta_keys[name]
        except KeyError:
            key = _meta_key(name)
            if len(_meta_keys) < _META_KEYS_MEMORY:
                _meta_keys[name] = key
        if key is not None:
            values.setdefault(key, []).append(value.decode("latin-1"))
    if _COOKIES_TRIMMED:
        cookies = values.pop("HTTP_COOKIE", None)
        meta: dict[str, str] = {}
        if cookies is not None:
            meta["HTTP_COOKIE"] = "; ".join(cookie.rstrip("; ") for cookie in cookies)
        meta.update((key, ",".join(joined)) for key, joined in values.items())
        return meta
    meta = {key: ",".join(joined) for key, joined in values.items()}
    cookies = values.get("HTTP_COOKIE", [])
    if len(cookies) > 1:
        meta["HTTP_COOKIE"] = "; ".join(cookies)
    return meta


class WebSocketRequest(ASGIRequest):
    """
    An :class:`~django.http.HttpRequest` for a WebSocket handshake.

    Everything code written for views expects is there: ``META`` with the
    handshake's headers, ``COOKIES``, ``GET``, ``path``/``path_info`` (with the
    script prefix from ``root_path`` or ``FORCE_SCRIPT_NAME`` removed),
    ``get_host()``, ``build_absolute_uri()`` and ``is_secure()`` (true for
    ``wss``). The method is ``GET``, the body is empty. ``request.scope`` is the
    server's own scope, not a copy.

    Every attribute and method gives what Django's ``ASGIRequest`` gives for
    the same scope (with the scheme as ``http``/``https`` and several Cookie
    headers joined with ``"; "``), but only the path, the script name and the
    method are made at once: ``META``, ``content_type``, ``content_params``,
    ``encoding``, ``GET``, ``COOKIES`` and the body stream are made the first
    time they are read; ``COOKIES`` and ``get_host()`` read the headers
    without making the rest of ``META``. A query string that is not UTF-8
    raises ``UnicodeDecodeError`` from the constructor, as Django's does.
    """

    def __init__(self, scope: WebSocketScope | dict[str, Any]) -> None:
        self.scope = scope
        self._post_parse_error = False
        self._read_started = False
        self._resolver_match: ResolverMatch | SharedMatch | None = None
        if _FORCED_SCRIPT_NAME:
            self.script_name = get_script_prefix(scope)
        else:  # Django 4.2's ignores FORCE_SCRIPT_NAME
            self.script_name = scope.get("root_path", "")
        self.path, self.path_info = _paths(scope, self.script_name)
        self.method = "GET"
        query_string: Any = scope.get("query_string", "")
        if isinstance(query_string, bytes):
            query_string = query_string.decode()  # UnicodeDecodeError: a 400
        self._query_string: str = query_string

    # What ASGIRequest.__init__ makes at once, made on first use -----------------

    @property
    def resolver_match(self) -> ResolverMatch | None:
        """Return the route's match: a copy of the shared one, made on first read."""
        match = self._resolver_match
        if isinstance(match, SharedMatch):
            match = self._resolver_match = match.copy()
        return match

    @resolver_match.setter
    def resolver_match(self, match: ResolverMatch | None) -> None:
        self._resolver_match = match

    def share_resolver_match(self, shared: SharedMatch) -> None:
        """
        Hold ``shared``, a match other requests share, as this request's match.

        Reading ``resolver_match`` returns ``shared.copy()``, made on the
        first read: a connection whose code never reads it holds no copy.
        """
        self._resolver_match = shared

    def compact(self) -> None:
        """
        Forget what can be made again from the scope: the headers, decoded.

        Called once the connection is open and may idle for hours; the next
        read of a header decodes them again. (Once ``META`` is made, it holds
        them: code may have changed it, so it stays.)
        """
        self.__dict__.pop("_header_meta", None)

    @cached_property
    def _header_meta(self) -> dict[str, str]:
        return _headers_to_meta(self.scope.get("headers", ()))

    @cached_property
    def META(self) -> dict[str, Any]:  # type: ignore[override]
        """Return the WSGI-style environment of the handshake, made on first use."""
        scope = self.scope
        meta: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "QUERY_STRING": self._query_string,
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": self.path_info,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
        }
        client = scope.get("client")
        if client:
            meta["REMOTE_ADDR"] = meta["REMOTE_HOST"] = client[0]
            meta["REMOTE_PORT"] = client[1]
        server = scope.get("server")
        if server:
            meta["SERVER_NAME"] = server[0]
            meta["SERVER_PORT"] = str(server[1])
        else:
            meta["SERVER_NAME"] = "unknown"
            meta["SERVER_PORT"] = "0"
        meta.update(self._header_meta)
        # META is what the headers are read from from now on.
        self.__dict__.pop("_header_meta", None)
        # Stored before the content type is read: setting the encoding reads it.
        self.__dict__["META"] = meta
        self._set_content_type_params(meta)  # type: ignore[attr-defined]
        return meta

    def _header(self, key: str) -> str | None:
        """Return header ``key`` (a META key) without making the rest of META."""
        meta = self.__dict__.get("META")
        if meta is None:
            return self._header_meta.get(key)
        return meta.get(key)  # type: ignore[no-any-return]

    @cached_property
    def content_type(self) -> str:  # type: ignore[override]
        """Return the Content-Type's media type (empty without one)."""
        self.META  # noqa: B018  (sets it)
        return self.__dict__["content_type"]  # type: ignore[no-any-return]

    @cached_property
    def content_params(self) -> dict[str, str]:  # type: ignore[override]
        """Return the Content-Type's parameters."""
        self.META  # noqa: B018  (sets it)
        return self.__dict__["content_params"]  # type: ignore[no-any-return]

    @property
    def encoding(self) -> str | None:
        """Return the charset of the Content-Type, or what was set, else None."""
        if "META" not in self.__dict__:
            self.META  # noqa: B018  (a charset sets it)
        return self._encoding  # type: ignore[attr-defined,no-any-return]

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        if "META" not in self.__dict__:
            self.META  # noqa: B018  (what is set here overrides the charset)
        HttpRequest.encoding.fset(self, value)  # type: ignore[attr-defined]

    @cached_property
    def _stream(self) -> BinaryIO:  # type: ignore[override]
        return io.BytesIO()

    @cached_property
    def GET(self) -> QueryDict:  # type: ignore[override]
        """Return the query string's parameters."""
        meta = self.__dict__.get("META")
        return QueryDict(self._query_string if meta is None else meta["QUERY_STRING"])

    @cached_property
    def COOKIES(self) -> dict[str, str]:  # type: ignore[override]
        """Return the cookies of the ``Cookie`` header(s)."""
        return parse_cookie(self._header("HTTP_COOKIE") or "")

    def _get_raw_host(self) -> str:
        # As Django's, from the headers alone while META is not made.
        headers: dict[str, str] | None = self.__dict__.get("META")
        if headers is None:
            headers = self._header_meta
        if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in headers:
            return headers["HTTP_X_FORWARDED_HOST"]
        if "HTTP_HOST" in headers:
            return headers["HTTP_HOST"]
        return super()._get_raw_host()  # type: ignore[misc,no-any-return]

    # Django's, adjusted for WebSockets ---------------------------------------------

    def get_host(self) -> str:
        """
        Return the host, validated against ``ALLOWED_HOSTS`` (as Django's does).

        Django's own validation runs once per distinct host: the hosts it
        accepted are remembered (up to ``_ALLOWED_HOSTS_MEMORY``, until a
        setting changes), since every handshake of a site names the same few.
        Refused hosts are never remembered: each raises ``DisallowedHost``.
        """
        raw_host = self._get_raw_host()
        if raw_host in _allowed_hosts:
            return raw_host
        host = super().get_host()
        if len(_allowed_hosts) < _ALLOWED_HOSTS_MEMORY:
            _allowed_hosts.add(host)
        return host

    def _get_scheme(self) -> str:
        # Daphne leaves "scheme" out; HttpRequest's own default is "http".
        return _HTTP_SCHEME.get(self.scope.get("scheme") or "http", "http")

    @property
    def websocket_scheme(self) -> str:
        """Return ``"wss"`` for a secure handshake, else ``"ws"``."""
        return "wss" if self.is_secure() else "ws"
