"""Unit tests of the django_wsviews package's public surface (__init__.py)."""

from __future__ import annotations

import importlib
import inspect

import pytest
from packaging.version import Version

import django_wsviews

EXPECTED_ALL = {
    "ActionError",
    "BroadcastError",
    "CloseCode",
    "ClosedBy",
    "ConnectionClosed",
    "GroupMessage",
    "HandshakeRejected",
    "HandshakeTimeout",
    "InvalidState",
    "JsonWebSocketView",
    "Limits",
    "LoginRequiredMixin",
    "PermissionRequiredMixin",
    "PresenceMember",
    "RejectReason",
    "State",
    "TokenAuthMixin",
    "TooManyGroups",
    "UserPassesTestMixin",
    "WebSocketError",
    "WebSocketView",
    "abroadcast",
    "aclose_user_sockets",
    "action",
    "alast_seq",
    "apresence",
    "asend_to_user",
    "broadcast",
    "call_hook",
    "close_user_sockets",
    "last_seq",
    "make_token",
    "presence",
    "send_to_user",
    "ws_resolve",
    "ws_reverse",
}

SUBMODULES = [
    "django_wsviews.action_calls",
    "django_wsviews.actions",
    "django_wsviews.asgi",
    "django_wsviews.checks",
    "django_wsviews.conf",
    "django_wsviews.contrib.prometheus",
    "django_wsviews.connection",
    "django_wsviews.db",
    "django_wsviews.exceptions",
    "django_wsviews.handshake",
    "django_wsviews.htmx",
    "django_wsviews.limits",
    "django_wsviews.metrics",
    "django_wsviews.mixins",
    "django_wsviews.origins",
    "django_wsviews.payload_checks",
    "django_wsviews.payloads",
    "django_wsviews.presence",
    "django_wsviews.request",
    "django_wsviews.responses",
    "django_wsviews.routing",
    "django_wsviews.sessions",
    "django_wsviews.signals",
    "django_wsviews.status",
    "django_wsviews.testing",
    "django_wsviews.testing.broadcasts",
    "django_wsviews.testing.client",
    "django_wsviews.testing.connection",
    "django_wsviews.testing.live",
    "django_wsviews.testing.live_databases",
    "django_wsviews.testing.live_server",
    "django_wsviews.testing.pytest_plugin",
    "django_wsviews.tokens",
    "django_wsviews.views",
]


def own_docstring(obj: object) -> str | None:
    """Return the docstring ``obj`` defines itself (a class's is not inherited)."""
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")
    return getattr(obj, "__doc__", None)


# WebSocketView's public surface: attributes, get_*() resolvers, hooks and
# actions. A name added here is an API decision (docs, changelog).
VIEW_PUBLIC_NAMES = {
    # Django's View protocol
    "as_view", "setup", "dispatch",
    # attributes and their resolvers
    "subprotocols", "check_origin", "allowed_origins", "get_allowed_origins",
    "limits", "get_limits", "group_names",
    "get_group_names", "user_group", "receive_group_concurrently",
    "presence_groups", "get_presence_groups", "get_presence_meta",
    "history_group", "get_history_group",
    # hooks
    "connect", "receive", "disconnect", "receive_group", "select_subprotocol",
    "handle_exception", "handle_rate_limit_exceeded", "handle_session_expired",
    # actions and state
    "accept", "reject", "send", "close", "close_soon", "join", "leave",
    "state", "connection_id", "joined_groups",
}  # fmt: skip


def test_websocket_view_public_names() -> None:
    """WebSocketView exposes exactly its documented public names."""
    public = {name for name in dir(django_wsviews.WebSocketView) if name[0] != "_"}
    assert public == VIEW_PUBLIC_NAMES


def test_all_is_exactly_the_public_api() -> None:
    """django_wsviews.__all__ lists exactly the intended public names, once each."""
    assert set(django_wsviews.__all__) == EXPECTED_ALL
    assert len(django_wsviews.__all__) == len(EXPECTED_ALL)


@pytest.mark.parametrize("name", sorted(EXPECTED_ALL))
def test_public_name_importable(name: str) -> None:
    """Every public name is importable from the package (from ... import name)."""
    namespace: dict[str, object] = {}
    exec(f"from django_wsviews import {name}", namespace)
    assert namespace[name] is getattr(django_wsviews, name)


@pytest.mark.parametrize("name", sorted(EXPECTED_ALL))
def test_public_name_documented(name: str) -> None:
    """Every public name carries a docstring of its own."""
    doc = own_docstring(getattr(django_wsviews, name))
    assert doc
    assert doc.strip()


def test_star_import_gives_all() -> None:
    """from django_wsviews import * binds exactly __all__."""
    namespace: dict[str, object] = {}
    exec("from django_wsviews import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == EXPECTED_ALL


def test_public_names_are_the_submodules_objects() -> None:
    """The re-exported names are the very objects of their defining modules."""
    from django_wsviews import exceptions, json_views, routing, signals, status, views

    assert django_wsviews.WebSocketView is views.WebSocketView
    assert django_wsviews.JsonWebSocketView is json_views.JsonWebSocketView
    assert django_wsviews.State is views.State
    assert django_wsviews.CloseCode is status.CloseCode
    assert django_wsviews.ConnectionClosed is exceptions.ConnectionClosed
    assert django_wsviews.HandshakeTimeout is exceptions.HandshakeTimeout
    assert django_wsviews.InvalidState is exceptions.InvalidState
    assert django_wsviews.WebSocketError is exceptions.WebSocketError
    assert django_wsviews.ws_resolve is routing.ws_resolve
    assert django_wsviews.ws_reverse is routing.ws_reverse
    assert django_wsviews.ClosedBy is signals.ClosedBy
    assert django_wsviews.RejectReason is signals.RejectReason
    from django_wsviews import actions

    assert django_wsviews.action is actions.action
    assert django_wsviews.ActionError is actions.ActionError


def test_version_is_pep440() -> None:
    """__version__ is a valid PEP 440 version string (setup.cfg reads it)."""
    assert isinstance(django_wsviews.__version__, str)
    assert str(Version(django_wsviews.__version__))


def test_package_docstring() -> None:
    """The package itself is documented."""
    assert django_wsviews.__doc__
    assert django_wsviews.__doc__.strip()


@pytest.mark.parametrize("module_name", SUBMODULES)
def test_submodule_all_names_exist(module_name: str) -> None:
    """Every name a submodule lists in __all__ exists in it."""
    module = importlib.import_module(module_name)
    assert module.__all__, f"{module_name} has an empty __all__"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
