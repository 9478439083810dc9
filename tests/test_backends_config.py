"""
A backend's options checked when it is made: each mistake refused word for word with its fix.

The messages are what a developer reads at startup; each names the setting,
what was given, and what to write instead. None of these needs a server.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_wsviews.backends.base import number_option
from django_wsviews.backends.history_base import header_rest


def refusal(make: Callable[[], Any]) -> str:
    """Return the message of the ImproperlyConfigured that ``make()`` raises."""
    with pytest.raises(ImproperlyConfigured) as error:
        make()
    return str(error.value)


def ignore(payload: bytes) -> None:
    """A backend's message callback that drops what it is given."""


# NATS ------------------------------------------------------------------------------

SERVERS_FIX = (
    "WSVIEWS_BACKEND['OPTIONS']['SERVERS'] must be a nats:// URL or a non-empty "
    "list of them, e.g. 'nats://127.0.0.1:4222'."
)


@pytest.mark.parametrize(
    "servers", [[], ["nats://127.0.0.1:4222", ""], [4222], {"url": "nats://x"}, None]
)
def test_nats_servers(servers: Any) -> None:
    """SERVERS must be a URL or a non-empty list of non-empty URLs."""
    pytest.importorskip("nats")
    from django_wsviews.backends.nats import NatsBackend

    assert refusal(lambda: NatsBackend({"SERVERS": servers}, ignore)) == SERVERS_FIX


def test_nats_prefix_and_default() -> None:
    """PREFIX is one subject token; the default prefix is "wsviews"."""
    pytest.importorskip("nats")
    from django_wsviews.backends.nats import NatsBackend, group_subject

    assert refusal(lambda: NatsBackend({"PREFIX": "a.b"}, ignore)) == (
        "WSVIEWS_BACKEND['OPTIONS']['PREFIX'] must be 1 to 64 letters, digits, "
        "'-' or '_' (one NATS subject token), not 'a.b'."
    )
    assert NatsBackend({}, ignore)._channel("chat room") == "wsviews.chat_20room"
    assert NatsBackend({"PREFIX": "app-1"}, ignore)._channel("g") == group_subject(
        "app-1", "g"
    )


def test_nats_connection_kwargs() -> None:
    """CONNECTION_KWARGS is a dict, and leaves what the backend sets to the backend."""
    pytest.importorskip("nats")
    from django_wsviews.backends.nats import NatsBackend

    assert refusal(
        lambda: NatsBackend({"CONNECTION_KWARGS": [("name", "x")]}, ignore)
    ) == (
        "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] must be a dict of "
        "nats.connect() arguments, not list."
    )
    own = {"servers": ["nats://x"], "ping_interval": 5, "name": "fine"}
    assert refusal(lambda: NatsBackend({"CONNECTION_KWARGS": own}, ignore)) == (
        "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] sets ['ping_interval', "
        "'servers'], which the NATS backend sets itself: use SERVERS for the servers "
        "and HEALTH_CHECK_INTERVAL for pings; reconnection is the backend's own."
    )


@pytest.mark.parametrize(
    "tls", ["ca.pem", {"CA": "ca.pem"}, {"CA_FILE": "a", "PEM": "b"}]
)
def test_nats_tls(tls: Any) -> None:
    """TLS is a dict of CA_FILE, CERT_FILE and KEY_FILE, and nothing else."""
    pytest.importorskip("nats")
    from django_wsviews.backends.nats import NatsBackend

    assert refusal(lambda: NatsBackend({"TLS": tls}, ignore)) == (
        "WSVIEWS_BACKEND['OPTIONS']['TLS'] must be a dict with CA_FILE, and "
        "CERT_FILE and KEY_FILE for a client certificate; or pass an "
        "ssl.SSLContext as CONNECTION_KWARGS['tls']."
    )


def test_nats_tls_context_given_is_kept() -> None:
    """An SSLContext in CONNECTION_KWARGS['tls'] wins over the TLS option, unread."""
    pytest.importorskip("nats")
    import ssl

    from django_wsviews.backends.nats import NatsBackend

    context = ssl.create_default_context()
    backend = NatsBackend(
        {"CONNECTION_KWARGS": {"tls": context}, "TLS": "not read"}, ignore
    )
    assert backend._kwargs["tls"] is context


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"user_credentials": "app.creds"}, "['user_credentials']"),
        ({"nkeys_seed": "app.nk", "name": "x"}, "['nkeys_seed']"),
        (
            {"nkeys_seed_str": "SU...", "user_credentials": "app.creds"},
            "['nkeys_seed_str', 'user_credentials']",
        ),
    ],
)
def test_nats_nkeys_credentials_without_nkeys(
    monkeypatch: pytest.MonkeyPatch, settings: Any, kwargs: Any, named: str
) -> None:
    """NKey credentials without the nkeys package are refused when the backend is made, and by check E032."""
    pytest.importorskip("nats")
    from django_wsviews.backends.nats import NatsBackend
    from django_wsviews.checks import check_backend

    for name in [m for m in sys.modules if m == "nkeys" or m.startswith("nkeys.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "nkeys", None)  # import fails
    message = (
        f"WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] sets {named}, which "
        "nats-py reads with the nkeys package, and it is not installed: "
        "pip install 'django-wsviews[nats]' (or 'nats-py[nkeys]')."
    )
    assert refusal(lambda: NatsBackend({"CONNECTION_KWARGS": kwargs}, ignore)) == (
        message
    )
    settings.WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.nats.NatsBackend",
        "OPTIONS": {"CONNECTION_KWARGS": kwargs},
    }
    [error] = check_backend()
    assert (error.id, error.msg) == ("django_wsviews.E032", message)
    # The same options with nkeys installed, or no NKey credentials: accepted.
    NatsBackend({"CONNECTION_KWARGS": {"user": "app", "nkeys_seed": None}}, ignore)
    monkeypatch.undo()
    pytest.importorskip("nkeys")
    NatsBackend({"CONNECTION_KWARGS": kwargs}, ignore)


# PostgreSQL ------------------------------------------------------------------------


def test_postgres_database() -> None:
    """DATABASE names an alias of DATABASES, and a PostgreSQL one."""
    pytest.importorskip("psycopg")
    from django_wsviews.backends.postgres import PostgresBackend

    assert refusal(lambda: PostgresBackend({"DATABASE": "missing"}, ignore)) == (
        "WSVIEWS_BACKEND['OPTIONS']['DATABASE'] is 'missing', which is not in "
        "DATABASES: name a PostgreSQL database alias."
    )
    assert refusal(lambda: PostgresBackend({"DATABASE": "default"}, ignore)) == (
        "The PostgreSQL group backend needs a PostgreSQL database, and "
        "DATABASES['default'] is sqlite: set "
        "WSVIEWS_BACKEND['OPTIONS']['DATABASE'] to a PostgreSQL alias."
    )


def test_postgres_connection_kwargs_and_prefix() -> None:
    """CONNECTION_KWARGS is a dict of libpq parameters; PREFIX a lower-case identifier."""
    pytest.importorskip("psycopg")
    from django_wsviews.backends.postgres import PostgresBackend
    from django_wsviews.backends.presence_postgres import PostgresPresenceStore

    options = {"DATABASE": "wsviews_postgres"}
    assert refusal(
        lambda: PostgresBackend(
            {**options, "CONNECTION_KWARGS": "sslmode=require"}, ignore
        )
    ) == (
        "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] must be a dict of libpq "
        "parameters, not str."
    )
    prefix_fix = (
        "WSVIEWS_BACKEND['OPTIONS']['PREFIX'] is 'Chat': use 1 to 30 lower-case "
        "letters, digits and underscores, starting with a letter."
    )
    assert refusal(lambda: PostgresBackend({**options, "PREFIX": "Chat"}, ignore)) == (
        prefix_fix
    )
    assert (
        refusal(
            lambda: PostgresPresenceStore({**options, "PREFIX": "Chat"}, "process", 30)
        )
        == prefix_fix
    )


# Redis -----------------------------------------------------------------------------


def test_redis_options() -> None:
    """A cluster URL names the cluster backend; SENTINELS need SERVICE_NAME; CONNECTION_KWARGS a dict."""
    pytest.importorskip("redis")
    from django_wsviews.backends.redis import RedisBackend

    assert refusal(
        lambda: RedisBackend({"URL": "redis+cluster://10.0.0.1:7000"}, ignore)
    ) == (
        "WSVIEWS_BACKEND['OPTIONS']['URL'] is a Redis Cluster URL: set "
        "WSVIEWS_BACKEND['BACKEND'] to "
        "'django_wsviews.backends.redis_cluster.RedisClusterBackend'."
    )
    assert refusal(
        lambda: RedisBackend({"SENTINELS": [("127.0.0.1", 26379)]}, ignore)
    ) == (
        "WSVIEWS_BACKEND['OPTIONS'] has SENTINELS but no SERVICE_NAME: add the "
        "name of the master the sentinels monitor."
    )
    assert refusal(lambda: RedisBackend({"CONNECTION_KWARGS": 5}, ignore)) == (
        "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] must be a dict of redis-py "
        "connection arguments, not int."
    )


CLUSTER_URL = "WSVIEWS_BACKEND['OPTIONS']['URL']"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "redis+cluster://10.0.0.1:7000/3",
            f"{CLUSTER_URL} ends in '/3', but a Redis Cluster has only database 0, "
            "and its URL names none: remove '/3'.",
        ),
        (
            "rediss://:pw@10.0.0.1:7000,10.0.0.2:7000/1",
            f"{CLUSTER_URL} ends in '/1', but a Redis Cluster has only database 0, "
            "and its URL names none: remove '/1'.",
        ),
        (
            "rediss+cluster://:pw@10.0.0.1:7000?ssl_cert_reqs=none&socket_timeout=2",
            f"{CLUSTER_URL} has query parameters ['socket_timeout', "
            "'ssl_cert_reqs'], which the Redis Cluster backend does not read from a "
            "URL: pass them as Python values in "
            "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] instead, e.g. "
            "{'ssl_ca_certs': 'ca.pem', 'socket_timeout': 5}.",
        ),
        (
            "http://:pw@10.0.0.1:7000",
            f"{CLUSTER_URL} is not a Redis Cluster URL (its scheme is 'http'): use "
            "'redis+cluster://host:port,host:port', or "
            "'rediss+cluster://host:port,host:port' for TLS.",
        ),
    ],
)
def test_redis_cluster_url_refused(url: str, message: str) -> None:
    """A cluster URL naming a database other than 0, with query parameters, or of another scheme is refused, saying why."""
    pytest.importorskip("redis")
    from django_wsviews.backends.redis_cluster import RedisClusterBackend

    assert refusal(lambda: RedisClusterBackend({"URL": url}, ignore)) == message
    assert "pw" not in message


def test_redis_cluster_startup_node_url_refused() -> None:
    """A URL among STARTUP_NODES is refused, naming the URL that gives TLS: not taken for a host name."""
    pytest.importorskip("redis")
    from django_wsviews.backends.redis_cluster import RedisClusterBackend

    options = {"STARTUP_NODES": ["rediss://:pw@10.0.0.1:7000"]}
    assert refusal(lambda: RedisClusterBackend(options, ignore)) == (
        "A Redis Cluster startup node is a rediss:// URL, and STARTUP_NODES takes "
        "'host:port'. For TLS, use URL 'rediss+cluster://host:port,host:port', "
        "or CONNECTION_KWARGS {'ssl': True}."
    )


@pytest.mark.parametrize(
    "url",
    [
        "rediss+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000",
        "rediss://:pw@10.0.0.1:7000,10.0.0.2:7000/0",
    ],
)
def test_redis_cluster_rediss_is_tls(url: str) -> None:
    """A rediss URL makes every connection TLS, the cluster client's and each master's pub/sub, whatever CONNECTION_KWARGS says of ssl."""
    redis = pytest.importorskip("redis")
    from django_wsviews.backends.redis_cluster import RedisClusterBackend

    backend = RedisClusterBackend(
        {"URL": url, "CONNECTION_KWARGS": {"ssl": False, "ssl_ca_certs": "ca.pem"}},
        ignore,
    )
    tls = redis.asyncio.connection.SSLConnection
    cluster = backend._cluster.nodes_manager
    assert cluster.connection_kwargs["connection_class"] is tls
    assert cluster.connection_kwargs["ssl_ca_certs"] == "ca.pem"
    assert [n.connection_class for n in cluster.startup_nodes.values()] == [tls] * 2
    pubsub = redis.asyncio.Redis(host="10.0.0.1", port=7000, **backend._kwargs)
    assert pubsub.connection_pool.connection_class is tls
    plain = RedisClusterBackend({"URL": url.replace("rediss", "redis", 1)}, ignore)
    assert plain._cluster.nodes_manager.connection_kwargs["connection_class"] is (
        redis.asyncio.connection.Connection
    )


# Every backend ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, "5", None])
def test_number_options(value: Any) -> None:
    """Intervals and timeouts are positive numbers of seconds; True is not one."""
    assert refusal(
        lambda: number_option(
            {"HEALTH_CHECK_INTERVAL": value}, "HEALTH_CHECK_INTERVAL", 15
        )
    ) == (
        "WSVIEWS_BACKEND['OPTIONS']['HEALTH_CHECK_INTERVAL'] must be a positive "
        f"number of seconds, not {value!r}."
    )
    assert number_option({}, "HEALTH_CHECK_INTERVAL", 15) == 15.0
    assert number_option({"X": 0.25}, "X", 15) == 0.25


@pytest.mark.parametrize(
    ("module", "backend", "message"),
    [
        (
            "nats",
            "django_wsviews.backends.nats.NatsBackend",
            "The NATS group backend needs the nats-py package: "
            "pip install 'django-wsviews[nats]'.",
        ),
        (
            "psycopg",
            "django_wsviews.backends.postgres.PostgresBackend",
            "The PostgreSQL group backend needs psycopg 3: "
            "pip install 'django-wsviews[postgres]'.",
        ),
        (
            "redis",
            "django_wsviews.backends.redis.RedisBackend",
            "The Redis group backend needs the redis package: "
            "pip install 'django-wsviews[redis]'.",
        ),
    ],
)
def test_missing_client_package(
    monkeypatch: pytest.MonkeyPatch, module: str, backend: str, message: str
) -> None:
    """Without its client package, a backend says which extra to install."""
    from django.utils.module_loading import import_string

    backend_class = import_string(backend)
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import fails
    with pytest.raises(ImportError) as error:
        backend_class(
            {"DATABASE": "wsviews_postgres"} if module == "psycopg" else {}, ignore
        )
    assert str(error.value) == message


def test_history_header_refused() -> None:
    """A payload without the group message header is refused, saying so."""
    with pytest.raises(
        ValueError, match=r"^Not a django-wsviews group message: no header\.$"
    ):
        header_rest(b"plain text")
    assert header_rest(b'{"seq": 1}rest') == b'"seq": 1}rest'
