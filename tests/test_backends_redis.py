"""
The Redis backend's own behaviour, against real servers.

What every backend promises is pinned in ``test_backend_contract.py``; here
are Redis' options, TLS, Sentinel, command counts and restarts through views.

The shared server is ``WSVIEWS_TEST_REDIS_URL`` (``redis://127.0.0.1:6379/0``
by default); tests that kill a server or count its commands start a
``redis-server`` of their own on a spare port. Without a server the tests
skip, or fail under ``WSVIEWS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured

from django_wsviews import BroadcastError, abroadcast, broadcast
from django_wsviews.backends.redis import RedisBackend, connection_kwargs
from django_wsviews.hub import get_hub
from django_wsviews.testing import WebSocketClient

from .support.groups_support import (
    LogEvent,
    RedisServer,
    eventually,
    spare_port,
    unavailable,
)
from .support.services import redis_url

pytestmark = pytest.mark.urls("tests.support.groups_urls")

T = 5.0
REDIS = "django_wsviews.backends.redis.RedisBackend"


@pytest.fixture
def shared_redis() -> str:
    """Return the URL of the shared Redis server, or skip (fail) if it is unreachable."""
    import redis

    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"No Redis server at {url} ({exc}); set WSVIEWS_TEST_REDIS_URL")
    return url


@pytest.fixture
def prefix() -> str:
    """Return a channel prefix of this test's own, so parallel runs do not mix."""
    return f"wsviews-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def private_redis(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """Start a redis-server of the test's own on a spare port; kill it afterwards."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def client(settings: Any) -> WebSocketClient:
    """Return a test client; handshakes skip the middleware (no thread per connection)."""
    settings.WSVIEWS_MIDDLEWARE = []
    return WebSocketClient(timeout=T)


def use_redis(settings: Any, url: str, prefix: str, **options: Any) -> None:
    """Point WSVIEWS_BACKEND at the Redis server ``url``."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": REDIS,
        "OPTIONS": {"URL": url, "PREFIX": prefix, **options},
    }


# The backend on its own ------------------------------------------------------------


def test_missing_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the redis package, making the backend says what to install."""
    for name in [n for n in sys.modules if n == "redis" or n.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'django-wsviews\[redis\]'"):
        RedisBackend({}, lambda payload: None)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"SENTINELS": [("127.0.0.1", 26379)]}, "no SERVICE_NAME"),
        ({"CONNECTION_KWARGS": "ssl=true"}, "must be a dict"),
        ({"HEALTH_CHECK_INTERVAL": 0}, "positive number"),
    ],
)
def test_options_checked(options: dict[str, Any], match: str) -> None:
    """Malformed options are ImproperlyConfigured when the backend is made."""
    with pytest.raises(ImproperlyConfigured, match=match):
        RedisBackend(options, lambda payload: None)


async def test_unreachable_server_error_hides_password() -> None:
    """A broadcast to an unreachable server raises BroadcastError naming it, without the password."""
    backend = RedisBackend(
        {"URL": f"redis://:s3cret@127.0.0.1:{spare_port()}/0"}, lambda payload: None
    )
    with pytest.raises(BroadcastError) as error:
        await backend.publish("g", b"x")
    await backend.close()
    assert "redis://127.0.0.1:" in str(error.value)
    assert "s3cret" not in str(error.value)


# Through views and the façade ---------------------------------------------------------


async def test_views_through_redis(
    client: WebSocketClient, settings: Any, shared_redis: str, prefix: str
) -> None:
    """Members joined through views get broadcasts published through Redis."""
    use_redis(settings, shared_redis, prefix)
    async with (
        client.connect("/ws/room/r/") as one,
        client.connect("/ws/room/r/") as two,
    ):
        await abroadcast("room.r", "through redis")
        await abroadcast("room.r", b"\x01bytes")
        await one.send("say from one")
        for ws in (one, two):
            assert await ws.receive(T) == "through redis"
            assert await ws.receive(T) == b"\x01bytes"
            assert await ws.receive(T) == "from one"


async def test_commands_per_broadcast_to_1000_members(
    client: WebSocketClient,
    settings: Any,
    private_redis: RedisServer,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A broadcast to 1,000 local members is one PUBLISH; the group is one subscription."""
    use_redis(settings, private_redis.url, prefix)
    members = list(
        await asyncio.gather(*(client.connect("/ws/room/big/") for _ in range(1000)))
    )
    watcher = private_redis.client()
    channel = f"{prefix}:room.big"
    assert watcher.pubsub_numsub(channel) == [(channel.encode(), 1)]

    await abroadcast("room.big", "warm-up")  # opens the publishing connection
    await asyncio.gather(*(ws.receive(T) for ws in members))

    def counts() -> dict[str, int]:
        stats = watcher.info("commandstats")
        return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}

    before = counts()
    await abroadcast("room.big", "measured")
    assert (
        await asyncio.gather(*(ws.receive(T) for ws in members)) == ["measured"] * 1000
    )
    after = counts()
    delta = {
        k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)
    }
    delta.pop("info", None)  # the measurement's own INFO
    assert delta == {"publish": 1}
    # The process holds two connections, one listening and one publishing,
    # whatever the number of members (the watcher is the third client) ...
    assert len(watcher.client_list()) == 3
    # ... and broadcasts in flight at once take one publishing connection each.
    await asyncio.gather(*(abroadcast("room.big", f"burst {n}") for n in range(20)))
    assert 3 < len(watcher.client_list()) <= 2 + 20
    with capsys.disabled():
        print(f"\nRedis commands for one broadcast to 1,000 members: {delta}")
    watcher.close()
    await asyncio.gather(*(ws.close() for ws in members))


async def test_redis_killed_and_restarted(
    client: WebSocketClient,
    settings: Any,
    private_redis: RedisServer,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis dies mid-run: sockets stay up, broadcasts raise; it comes back: delivery resumes."""
    use_redis(settings, private_redis.url, prefix, RECONNECT_MAX_DELAY=0.5)
    members = [await client.connect("/ws/room/k/") for _ in range(3)]
    await abroadcast("room.k", "before")
    for ws in members:
        assert await ws.receive(T) == "before"

    with LogEvent("django_wsviews.backends.redis", "No pub/sub connection") as lost:
        private_redis.kill()
        await lost.wait()

    with caplog.at_level(logging.ERROR, "django_wsviews.groups"):
        with pytest.raises(
            BroadcastError, match=r"Redis at redis://127\.0\.0\.1:\d+/0 is unreachable"
        ):
            await abroadcast("room.k", "during (async)")
        with pytest.raises(BroadcastError, match="is unreachable"):
            await sync_to_async(broadcast)("room.k", "during (sync)")
    assert caplog.text.count("Broadcast to group 'room.k' failed") == 2

    for ws in members:  # the sockets are still up and served
        await ws.send("groups")
        assert await ws.receive(T) == "room.k"

    with LogEvent("django_wsviews.backends.redis", "re-subscribed 1 groups") as back:
        private_redis.start()
        await back.wait()
    await abroadcast("room.k", "after")
    for ws in members:
        assert await ws.receive(T) == "after"
        await ws.close()


async def test_hung_redis_detected_by_health_check(
    client: WebSocketClient, settings: Any, private_redis: RedisServer, prefix: str
) -> None:
    """A server that stops answering (SIGSTOP) fails broadcasts in time and is reconnected to."""
    use_redis(
        settings,
        private_redis.url,
        prefix,
        HEALTH_CHECK_INTERVAL=0.2,
        RECONNECT_MAX_DELAY=0.5,
        CONNECTION_KWARGS={"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    )
    ws = await client.connect("/ws/room/h/")
    assert private_redis.process is not None
    with LogEvent("django_wsviews.backends.redis", "no answer to PING") as hung:
        private_redis.process.send_signal(signal.SIGSTOP)
        try:
            await hung.wait()
            with pytest.raises(BroadcastError, match="unreachable"):
                await abroadcast("room.h", "while hung")
        finally:
            private_redis.process.send_signal(signal.SIGCONT)
    with LogEvent("django_wsviews.backends.redis", "re-subscribed 1 groups") as back:
        await back.wait()
    await abroadcast("room.h", "answering again")
    assert await ws.receive(T) == "answering again"
    await ws.close()


async def test_join_while_redis_is_down(
    client: WebSocketClient, settings: Any, private_redis: RedisServer, prefix: str
) -> None:
    """A group joined during an outage is subscribed when Redis comes back."""
    use_redis(settings, private_redis.url, prefix, RECONNECT_MAX_DELAY=0.5)
    first = await client.connect("/ws/room/a/")
    with LogEvent("django_wsviews.backends.redis", "No pub/sub connection") as lost:
        private_redis.kill()
        await lost.wait()
    second = await client.connect("/ws/room/b/")  # joins room.b while down
    with LogEvent("django_wsviews.backends.redis", "re-subscribed 2 groups") as back:
        private_redis.start()
        await back.wait()
    await abroadcast("room.b", "b is back")
    assert await second.receive(T) == "b is back"
    await first.close()
    await second.close()


async def test_hub_subscribes_once_per_process(
    client: WebSocketClient, settings: Any, shared_redis: str, prefix: str
) -> None:
    """The hub subscribes a group once, and unsubscribes it when the last member leaves."""
    import redis

    use_redis(settings, shared_redis, prefix)
    members = [await client.connect("/ws/room/once/") for _ in range(5)]
    watcher = redis.Redis.from_url(shared_redis)
    channel = f"{prefix}:room.once"
    assert watcher.pubsub_numsub(channel) == [(channel.encode(), 1)]
    for ws in members:
        await ws.close()

    def unsubscribed() -> bool:
        return bool(watcher.pubsub_numsub(channel) == [(channel.encode(), 0)])

    await eventually(unsubscribed)
    assert get_hub().members("room.once") == frozenset()
    watcher.close()


# TLS and Sentinel, with servers of the test's own --------------------------------------


def make_certificates(directory: pathlib.Path) -> dict[str, str]:
    """Make a CA and a server certificate for 127.0.0.1 with openssl; return their paths."""
    files = {
        name: str(directory / f"{name}.pem") for name in ("ca", "ca-key", "cert", "key")
    }
    csr = str(directory / "server.csr")
    ext = directory / "ext.cnf"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    commands = [
        # Key usage and basic constraints: Python 3.13 verifies strictly.
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=wsviews test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", files["ca-key"], "-out", files["ca"]],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", files["key"], "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", files["ca"], "-CAkey", files["ca-key"],
         "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", files["cert"]],
    ]  # fmt: skip
    for command in commands:
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.CalledProcessError) as exc:
            unavailable(f"openssl could not make test certificates ({exc})")
    return files


async def test_tls(
    client: WebSocketClient, settings: Any, tmp_path: pathlib.Path, prefix: str
) -> None:
    """A rediss:// URL with a CA in CONNECTION_KWARGS publishes and subscribes over TLS."""
    files = make_certificates(tmp_path)
    server = RedisServer(
        tmp_path,
        "--tls-cert-file", files["cert"],
        "--tls-key-file", files["key"],
        "--tls-ca-cert-file", files["ca"],
        "--tls-auth-clients", "no",
    )  # fmt: skip
    server.start(port_args=("--port", "0", "--tls-port", str(server.port)))
    try:
        use_redis(
            settings,
            f"rediss://127.0.0.1:{server.port}/0",
            prefix,
            CONNECTION_KWARGS={"ssl_ca_certs": files["ca"]},
        )
        async with client.connect("/ws/room/tls/") as ws:
            await abroadcast("room.tls", "over tls")
            assert await ws.receive(T) == "over tls"
        await get_hub().close()
    finally:
        server.kill()


async def test_sentinel(
    client: WebSocketClient, settings: Any, tmp_path: pathlib.Path, prefix: str
) -> None:
    """With SENTINELS and SERVICE_NAME, the backend finds the master through Sentinel."""
    master = RedisServer(tmp_path)
    master.start()
    sentinel_dir = tmp_path / "sentinel"
    sentinel_dir.mkdir()
    sentinel = RedisServer(sentinel_dir)
    config = sentinel_dir / "sentinel.conf"
    config.write_text(
        f"port {sentinel.port}\nbind 127.0.0.1\n"
        f"sentinel monitor wsviews-test 127.0.0.1 {master.port} 1\n"
    )
    try:
        sentinel.start(config=config, ready="+monitor master wsviews-test")
        settings.WSVIEWS_BACKEND = {
            "BACKEND": REDIS,
            "OPTIONS": {
                "SENTINELS": [("127.0.0.1", sentinel.port)],
                "SERVICE_NAME": "wsviews-test",
                "PREFIX": prefix,
            },
        }
        async with client.connect("/ws/room/sentinel/") as ws:
            await abroadcast("room.sentinel", "via sentinel")
            assert await ws.receive(T) == "via sentinel"
        watcher = master.client()
        assert watcher.info("commandstats")["cmdstat_publish"]["calls"] == 1
        watcher.close()
        await get_hub().close()
    finally:
        sentinel.kill()
        master.kill()


async def test_options_default_as_documented(shared_redis: str, settings: Any) -> None:
    """Without options: redis://127.0.0.1:6379/0, channels "wsviews:<group>", timeouts 5 s to connect and 10 s to answer."""
    if shared_redis != "redis://127.0.0.1:6379/0":
        pytest.skip("the shared server is not at the default URL")
    import redis

    assert {
        key: value
        for key, value in connection_kwargs(redis, {}).items()
        if key.startswith("socket")
    } == {"socket_connect_timeout": 5, "socket_timeout": 10}
    group = f"defaults.{uuid.uuid4().hex[:12]}"
    backend = RedisBackend({}, lambda payload: None)
    try:
        await backend.subscribe([group])
        watcher = redis.Redis.from_url(shared_redis)
        assert watcher.pubsub_numsub(f"wsviews:{group}") == [
            (f"wsviews:{group}".encode(), 1)
        ]
        watcher.close()
    finally:
        await backend.close()
