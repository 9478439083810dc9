"""Unit tests of django_wsviews.conf: the settings, their rules and their accessors."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_wsviews import conf
from django_wsviews.backends import get_backend_config
from django_wsviews.backends.memory import MemoryBackend
from django_wsviews.checks import check_settings

#: A value that breaks each setting's rule.
BAD_VALUES = {
    "WSVIEWS_SHUTDOWN_TIMEOUT": -1,
    "WSVIEWS_MIDDLEWARE": "django.middleware.common.CommonMiddleware",
    "WSVIEWS_INLINE_MIDDLEWARE": [42],
    "WSVIEWS_CHECK_ORIGIN": "False",
    "WSVIEWS_ALLOWED_ORIGINS": ["app.example.com"],
    "WSVIEWS_ALLOW_MISSING_ORIGIN": 1,
    "WSVIEWS_MAX_MESSAGE_SIZE": 0,
    "WSVIEWS_RATE_LIMIT": "20 per second",
    "WSVIEWS_MAX_CONNECTIONS_PER_USER": 2.5,
    "WSVIEWS_IDLE_TIMEOUT": "300",
    "WSVIEWS_SEND_QUEUE_SIZE": True,
    "WSVIEWS_SEND_QUEUE_OVERFLOW": "explode",
    "WSVIEWS_MAX_GROUPS_PER_CONNECTION": -1,
    "WSVIEWS_SESSION_RECHECK_INTERVAL": -1,
    "WSVIEWS_HISTORY": {"chat.*": {"MAX_MESSAGES": 0}},
    "WSVIEWS_PRESENCE_TIMEOUT": 0,
    "WSVIEWS_BACKEND": ["django_wsviews.backends.memory.MemoryBackend"],
}


def test_every_setting_has_an_accessor_and_a_bad_value_here() -> None:
    """conf.SETTINGS, the Settings accessors and this module's table name the same settings."""
    accessors = {name for name in dir(conf.Settings) if name.startswith("WSVIEWS_")}
    assert set(conf.SETTINGS) == accessors == set(BAD_VALUES)


def test_check_ids_are_unique() -> None:
    """Each setting has a check id of its own."""
    ids = [setting.check_id for setting in conf.SETTINGS.values()]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("django_wsviews.E0") for i in ids)


def test_check_ids_are_documented() -> None:
    """Every check id, of settings and of the backend, is listed in the API docs."""
    docs = (pathlib.Path(__file__).parent.parent / "docs" / "api.rst").read_text()
    ids = [s.check_id for s in conf.SETTINGS.values()]
    ids += [
        f"django_wsviews.{n}" for n in ("E001", "E002", "E003", "E031", "E032", "E033")
    ]
    ids.append("django_wsviews.W001")
    assert [i for i in ids if f"``{i}``" not in docs] == []


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_accessor_error_is_the_check_message(settings: Any, name: str) -> None:
    """A bad value raises on access with the words of its check: problem, then fix."""
    setattr(settings, name, BAD_VALUES[name])
    with pytest.raises(ImproperlyConfigured) as raised:
        getattr(conf.settings, name)
    [error] = [m for m in check_settings() if m.id == conf.SETTINGS[name].check_id]
    assert str(raised.value) == f"{error.msg} {error.hint}"


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("20/s", (20.0, 1.0)), ("600/min", (600.0, 60.0)), ((5, 10), (5.0, 10.0))],
)
def test_rate_limit_is_parsed_on_access(
    settings: Any, rate: Any, expected: tuple[float, float]
) -> None:
    """WSVIEWS_RATE_LIMIT reads as (messages, seconds), parsed once, not per connection."""
    settings.WSVIEWS_RATE_LIMIT = rate
    parsed = conf.settings.WSVIEWS_RATE_LIMIT
    assert parsed == expected


def test_backend_as_a_dotted_path(settings: Any) -> None:
    """WSVIEWS_BACKEND = "dotted.path" means {"BACKEND": "dotted.path"}, as for EMAIL_BACKEND."""
    settings.WSVIEWS_BACKEND = "django_wsviews.backends.memory.MemoryBackend"
    assert conf.settings.WSVIEWS_BACKEND == {
        "BACKEND": "django_wsviews.backends.memory.MemoryBackend",
        "OPTIONS": {},
    }
    assert get_backend_config().backend_class is MemoryBackend
    assert check_settings() == []


@pytest.mark.parametrize(
    "origins", [["https://app.example.com/"], ["https://"], "https://app.example.com"]
)
def test_allowed_origins_must_be_origins(settings: Any, origins: Any) -> None:
    """A path, a missing host or a bare string (not a list) can never match an Origin header."""
    settings.WSVIEWS_ALLOWED_ORIGINS = origins
    with pytest.raises(ImproperlyConfigured, match="scheme://host"):
        conf.settings.WSVIEWS_ALLOWED_ORIGINS  # noqa: B018


def test_a_bad_value_is_not_remembered(settings: Any) -> None:
    """Once the setting is fixed, the accessor reads the new value."""
    settings.WSVIEWS_IDLE_TIMEOUT = -5
    with pytest.raises(ImproperlyConfigured):
        conf.settings.WSVIEWS_IDLE_TIMEOUT  # noqa: B018
    settings.WSVIEWS_IDLE_TIMEOUT = 30
    assert conf.settings.WSVIEWS_IDLE_TIMEOUT == 30.0


#: Each setting's default, as the page named beside it documents it.
DOCUMENTED_DEFAULTS = {
    "WSVIEWS_SHUTDOWN_TIMEOUT": 10.0,  # servers.rst: "(default 10)"
    "WSVIEWS_CHECK_ORIGIN": True,  # security.rst: "on by default"
    "WSVIEWS_ALLOWED_ORIGINS": [],
    "WSVIEWS_ALLOW_MISSING_ORIGIN": True,  # security.rst
    "WSVIEWS_MAX_MESSAGE_SIZE": 1024 * 1024,  # security.rst: "(1 MiB)"
    "WSVIEWS_RATE_LIMIT": None,  # security.rst: "(none)"
    "WSVIEWS_MAX_CONNECTIONS_PER_USER": None,  # security.rst: "(none)"
    "WSVIEWS_IDLE_TIMEOUT": None,  # security.rst: "(none)"
    "WSVIEWS_SEND_QUEUE_SIZE": 100,  # groups.rst: "(100)"
    "WSVIEWS_SEND_QUEUE_OVERFLOW": "close",  # groups.rst: "(the default)"
    "WSVIEWS_MAX_GROUPS_PER_CONNECTION": 100,  # groups.rst: "at most 100 groups"
    "WSVIEWS_SESSION_RECHECK_INTERVAL": None,  # security.rst: "(never)"
    "WSVIEWS_PRESENCE_TIMEOUT": 30.0,  # presence.rst: "30 s by default"
    "WSVIEWS_HISTORY": {},  # history.rst: only the groups it names keep history
    "WSVIEWS_BACKEND": {  # groups.rst: "the in-memory backend by default"
        "BACKEND": "django_wsviews.backends.memory.MemoryBackend",
        "OPTIONS": {},
    },
}


@pytest.mark.parametrize("name", sorted(DOCUMENTED_DEFAULTS))
def test_defaults_are_the_documented_ones(settings: Any, name: str) -> None:
    """A project that does not set a WSVIEWS_* setting reads the default its page documents."""
    if hasattr(settings, name):
        delattr(settings, name)
    assert getattr(conf.settings, name) == DOCUMENTED_DEFAULTS[name]


def test_middleware_defaults_are_the_documented_ones(settings: Any) -> None:
    """Unset, a handshake runs MIDDLEWARE, and only Django's own middleware run inline."""
    for name in ("WSVIEWS_MIDDLEWARE", "WSVIEWS_INLINE_MIDDLEWARE"):
        if hasattr(settings, name):
            delattr(settings, name)
    settings.MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
    assert conf.settings.WSVIEWS_MIDDLEWARE == settings.MIDDLEWARE
    inline = conf.settings.WSVIEWS_INLINE_MIDDLEWARE
    assert "django.contrib.sessions.middleware.SessionMiddleware" in inline
    assert all(path.startswith("django.") for path in inline)
