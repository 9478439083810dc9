"""
The NATS backend's own behaviour, against real nats-server processes.

What every backend promises is pinned in ``test_backend_contract.py``; here
are the subject mapping, the options, credentials, TLS, the message count
per broadcast, and a server killed and restarted under live views. These
tests start a ``nats-server`` of their own on spare ports (with its
monitoring port, for the message counts). Without one they skip, or fail
under ``WSVIEWS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import re
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given
from hypothesis import strategies as st

from django_wsviews import BroadcastError, abroadcast
from django_wsviews.backends.nats import NatsBackend, group_subject
from django_wsviews.hub import current_hub
from django_wsviews.testing import WebSocketClient

from .support.groups_support import Inbox, LogEvent, eventually, spare_port
from .support.nats_support import NatsServer, self_signed_certificate

pytestmark = pytest.mark.urls("tests.support.groups_urls")

T = 5.0
NATS = "django_wsviews.backends.nats.NatsBackend"
LOGGER = "django_wsviews.backends.nats"
# A token of a subject as NATS' own validation accepts it, and no wildcard.
TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")


@pytest.fixture
def prefix() -> str:
    """Return a subject prefix of this test's own."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """Start a nats-server of the test's own on a spare port; kill it afterwards."""
    server = NatsServer()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def client(settings: Any) -> AsyncIterator[WebSocketClient]:
    """
    Return a test client; handshakes skip the middleware (no thread per connection).

    The loop's group hub, and so its NATS connections, is closed at the end
    of the test, before the loop is: not left to the loop's shutdown.
    """
    settings.WSVIEWS_MIDDLEWARE = []
    yield WebSocketClient(timeout=T)
    hub = current_hub()
    if hub is not None:
        await hub.close()


@pytest.fixture
async def made() -> Any:
    """Return a list to put backends in; close them after the test."""
    backends: list[NatsBackend] = []
    yield backends
    for backend in backends:
        await backend.close()


def make(made: list[NatsBackend], inbox: Inbox | None = None, **options: Any) -> Any:
    """Return a NatsBackend closed after the test."""
    backend = NatsBackend({"RECONNECT_MAX_DELAY": 0.2, **options}, inbox or Inbox())
    made.append(backend)
    return backend


# Subjects ----------------------------------------------------------------------------


@given(st.text(max_size=120))
def test_every_group_is_one_valid_token(group: str) -> None:
    """Any group name, '.', '*', '>', spaces and non-ASCII included, is one wildcard-free token."""
    prefix, _, token = group_subject("wsviews", group).partition(".")
    assert prefix == "wsviews"
    assert TOKEN.match(token)


@given(st.text(max_size=40), st.text(max_size=40))
def test_distinct_groups_distinct_subjects(one: str, two: str) -> None:
    """Two different group names never share a subject."""
    if one != two:
        assert group_subject("p", one) != group_subject("p", two)


def test_readable_subjects() -> None:
    """Letters, digits and '-' stay as they are; the rest is '_' and hex."""
    assert group_subject("wsviews", "room-1") == "wsviews.room-1"
    assert group_subject("wsviews", "room.1") == "wsviews.room_2E1"
    assert group_subject("wsviews", "a_b") == "wsviews.a_5Fb"
    assert group_subject("wsviews", "") == "wsviews._"


async def test_wildcard_and_separator_names_stay_apart(
    nats_server: NatsServer, made: list[NatsBackend], prefix: str
) -> None:
    """Groups named like NATS wildcards or with separators get their own messages only."""
    groups = ["room.*", "room.>", "room.1", "room", "*", ">", "a b", "é"]
    inboxes = {group: Inbox() for group in groups}
    for group in groups:
        await make(
            made, inboxes[group], SERVERS=nats_server.url, PREFIX=prefix
        ).subscribe([group])
    sender = make(made, SERVERS=nats_server.url, PREFIX=prefix)
    for group in groups:
        await sender.publish(group, group.encode())
    for group in groups:
        assert await inboxes[group].wait_for(1) == [group.encode()]
    await sender.publish("room.1", b"again")  # every other message arrived before it
    assert await inboxes["room.1"].wait_for(2) == [b"room.1", b"again"]
    assert all(
        len(inboxes[group].payloads) == 1 for group in groups if group != "room.1"
    )


# Options -------------------------------------------------------------------------------


def test_missing_nats_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without nats-py, making the backend says what to install."""
    for name in [n for n in sys.modules if n == "nats" or n.startswith("nats.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "nats", None)
    with pytest.raises(ImportError, match=r"pip install 'django-wsviews\[nats\]'"):
        NatsBackend({}, lambda payload: None)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"SERVERS": []}, "SERVERS"),
        ({"SERVERS": 4222}, "SERVERS"),
        ({"PREFIX": "a.b"}, "PREFIX"),
        ({"PREFIX": "*"}, "PREFIX"),
        ({"CONNECTION_KWARGS": "user=x"}, "must be a dict"),
        ({"CONNECTION_KWARGS": {"allow_reconnect": True}}, "sets itself"),
        ({"CONNECTION_KWARGS": {"servers": ["nats://x"]}}, "use SERVERS"),
        ({"TLS": {"CA": "x"}}, "CA_FILE"),
        ({"PUBLISH_TIMEOUT": 0}, "positive number"),
    ],
)
def test_options_checked(options: dict[str, Any], match: str) -> None:
    """Malformed options are ImproperlyConfigured when the backend is made."""
    with pytest.raises(ImproperlyConfigured, match=match):
        NatsBackend(options, lambda payload: None)


async def test_unreachable_error_hides_credentials(made: list[NatsBackend]) -> None:
    """A broadcast to no server fails fast with BroadcastError naming it, without the password."""
    url = f"nats://user:s3cret@127.0.0.1:{spare_port()}"
    backend = make(made, SERVERS=[url])
    started = time.monotonic()
    with pytest.raises(BroadcastError) as error:
        await backend.publish("g", b"x")
    assert time.monotonic() - started < 2.0  # refused: no waiting for a timeout
    assert "nats://127.0.0.1:" in str(error.value)
    assert "s3cret" not in str(error.value)


async def test_message_over_max_payload(
    nats_server: NatsServer, made: list[NatsBackend], prefix: str
) -> None:
    """A message over the server's max_payload is refused with a BroadcastError saying so."""
    inbox = Inbox()
    await make(made, inbox, SERVERS=nats_server.url, PREFIX=prefix).subscribe(["g"])
    sender = make(made, SERVERS=nats_server.url, PREFIX=prefix)
    with pytest.raises(BroadcastError) as refused:
        await sender.publish("g", b"x" * (1024 * 1024 + 1))
    assert str(refused.value) == (
        "Could not broadcast to group 'g': the message is 1048577 bytes, over "
        f"NATS at {nats_server.url}'s max_payload of 1048576 bytes. Send less, or "
        "raise max_payload in the server's configuration."
    )
    await sender.publish("g", b"small")  # the connection is still good
    assert await inbox.wait_for(1) == [b"small"]


# Credentials and TLS --------------------------------------------------------------------


async def test_user_and_password(made: list[NatsBackend], prefix: str) -> None:
    """A server that wants a password: the wrong one fails broadcasts, the right one works."""
    server = NatsServer("--user", "app", "--pass", "right")
    server.start()
    try:
        wrong = make(
            made,
            SERVERS=server.url,
            CONNECTION_KWARGS={"user": "app", "password": "wrong"},
        )
        with pytest.raises(BroadcastError, match="unreachable"):
            await wrong.publish("g", b"x")
        inbox = Inbox()
        right = {"user": "app", "password": "right"}
        receiver = make(
            made, inbox, SERVERS=server.url, PREFIX=prefix, CONNECTION_KWARGS=right
        )
        await receiver.subscribe(["g"])
        in_url = f"nats://app:right@127.0.0.1:{server.port}"
        await make(made, SERVERS=in_url, PREFIX=prefix).publish("g", b"hello")
        assert await inbox.wait_for(1) == [b"hello"]
    finally:
        server.kill()


def new_key(role: str) -> Any:
    """Return a new NKey pair of ``role`` ("USER", "ACCOUNT", "OPERATOR"), its seed 32 random bytes."""
    import nkeys

    prefix = getattr(nkeys, f"PREFIX_BYTE_{role}")
    return nkeys.from_seed(nkeys.encode_seed(os.urandom(32), prefix))


def signed_jwt(subject: Any, issuer: Any, claims: dict[str, Any]) -> str:
    """Return a NATS JWT (version 2) of ``subject``'s public key, signed by ``issuer``."""

    def encoded(value: Any) -> str:
        text = json.dumps(value).encode()
        return base64.urlsafe_b64encode(text).rstrip(b"=").decode()

    body = {
        "jti": uuid.uuid4().hex,
        "iat": int(time.time()),
        "iss": issuer.public_key.decode(),
        "sub": subject.public_key.decode(),
        "name": "test",
        "nats": {**claims, "version": 2},
    }
    unsigned = encoded({"typ": "JWT", "alg": "ed25519-nkey"}) + "." + encoded(body)
    signature = base64.urlsafe_b64encode(issuer.sign(unsigned.encode()))
    return unsigned + "." + signature.rstrip(b"=").decode()


def creds_file(path: pathlib.Path, user_jwt: str, key: Any) -> str:
    """Write a .creds file of ``user_jwt`` and ``key``'s seed at ``path``; return the path."""
    path.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{key.seed.decode()}\n"
        "------END USER NKEY SEED------\n"
    )
    return str(path)


async def accepted_and_refused(
    made: list[NatsBackend],
    server: NatsServer,
    prefix: str,
    accepted: dict[str, Any],
    refused: list[dict[str, Any]],
) -> None:
    """Broadcast with the ``accepted`` CONNECTION_KWARGS to a subscriber that has them too; each of ``refused`` fails to broadcast."""
    inbox = Inbox()
    receiver = make(
        made, inbox, SERVERS=server.url, PREFIX=prefix, CONNECTION_KWARGS=accepted
    )
    await receiver.subscribe(["g"])
    sender = make(made, SERVERS=server.url, PREFIX=prefix, CONNECTION_KWARGS=accepted)
    await sender.publish("g", b"authenticated")
    assert await inbox.wait_for(1) == [b"authenticated"]
    for kwargs in refused:
        stranger = make(made, SERVERS=server.url, CONNECTION_KWARGS=kwargs)
        with pytest.raises(
            BroadcastError,
            match=r"is unreachable \(nats: 'Authorization Violation'\)",
        ):
            await stranger.publish("g", b"x")


async def test_nkeys_seed(
    tmp_path: pathlib.Path, made: list[NatsBackend], prefix: str
) -> None:
    """A server that knows its user by NKey: the user's seed file connects; another key's seed, or none, is refused."""
    user, stranger = new_key("USER"), new_key("USER")
    config = tmp_path / "nkey.conf"
    config.write_text(
        f"authorization {{ users = [ {{ nkey: {user.public_key.decode()} }} ] }}\n"
    )
    (tmp_path / "user.nk").write_bytes(user.seed)
    (tmp_path / "stranger.nk").write_bytes(stranger.seed)
    server = NatsServer("-c", str(config))
    server.start()
    try:
        await accepted_and_refused(
            made,
            server,
            prefix,
            {"nkeys_seed": str(tmp_path / "user.nk")},
            [{"nkeys_seed": str(tmp_path / "stranger.nk")}, {}],
        )
    finally:
        server.kill()


async def test_user_credentials(
    tmp_path: pathlib.Path, made: list[NatsBackend], prefix: str
) -> None:
    """A server in operator (JWT) mode: the user's .creds file connects; its JWT with another key's seed is refused."""
    operator, account = new_key("OPERATOR"), new_key("ACCOUNT")
    user, stranger = new_key("USER"), new_key("USER")
    unlimited = {"subs": -1, "data": -1, "payload": -1}
    account_jwt = signed_jwt(
        account,
        operator,
        {
            "type": "account",
            "limits": {**unlimited, "conn": -1, "leaf": -1, "imports": -1,
                       "exports": -1, "wildcards": True},
        },
    )  # fmt: skip
    (tmp_path / "operator.jwt").write_text(
        signed_jwt(operator, operator, {"type": "operator"})
    )
    config = tmp_path / "operator.conf"
    config.write_text(
        f'operator: "{tmp_path / "operator.jwt"}"\nresolver: MEMORY\n'
        f'resolver_preload: {{ {account.public_key.decode()}: "{account_jwt}" }}\n'
    )
    user_jwt = signed_jwt(user, account, {"type": "user", **unlimited})
    creds = {"user_credentials": creds_file(tmp_path / "app.creds", user_jwt, user)}
    forged = creds_file(tmp_path / "forged.creds", user_jwt, stranger)
    server = NatsServer("-c", str(config))
    server.start()
    try:
        await accepted_and_refused(
            made, server, prefix, creds, [{"user_credentials": forged}]
        )
    finally:
        server.kill()


async def test_a_driver_error_is_a_broadcast_error(
    tmp_path: pathlib.Path, made: list[NatsBackend]
) -> None:
    """An error of nats-py's own (a seed file that holds no seed) fails the broadcast with BroadcastError naming the server; nothing is sent."""
    (tmp_path / "bad.nk").write_text("not a seed\n")
    async with ScriptedNats() as server:
        backend = make(
            made,
            SERVERS=server.url,
            CONNECTION_KWARGS={"nkeys_seed": str(tmp_path / "bad.nk")},
        )
        with pytest.raises(BroadcastError) as error:
            await asyncio.wait_for(backend.publish("g", b"x"), T)
        assert str(error.value) == (
            f"Could not broadcast to group 'g': NATS at {server.url} is unreachable "
            "(nkeys: invalid seed). Open connections stay up; the backend "
            "reconnects on its own."
        )
        assert server.published == []


async def test_tls(
    tmp_path: pathlib.Path, made: list[NatsBackend], prefix: str
) -> None:
    """A TLS server: the TLS option with its CA connects; without the CA, broadcasts fail."""
    cert, key = self_signed_certificate(tmp_path)
    server = NatsServer("--tls", "--tlscert", str(cert), "--tlskey", str(key))
    server.start()
    try:
        url = f"tls://127.0.0.1:{server.port}"
        inbox = Inbox()
        tls = {"CA_FILE": str(cert)}
        await make(made, inbox, SERVERS=url, PREFIX=prefix, TLS=tls).subscribe(["g"])
        await make(made, SERVERS=url, PREFIX=prefix, TLS=tls).publish("g", b"secret")
        assert await inbox.wait_for(1) == [b"secret"]
        untrusting = make(made, SERVERS=url, PREFIX=prefix)
        with pytest.raises(BroadcastError, match="unreachable"):
            await untrusting.publish("g", b"x")
    finally:
        server.kill()


async def test_tls_client_certificate(
    tmp_path: pathlib.Path, made: list[NatsBackend], prefix: str
) -> None:
    """A server that verifies clients: CERT_FILE and KEY_FILE connect; the CA alone does not."""
    cert, key = self_signed_certificate(tmp_path)
    server = NatsServer(
        "--tls", "--tlscert", str(cert), "--tlskey", str(key),
        "--tlsverify", "--tlscacert", str(cert),
    )  # fmt: skip
    server.start()
    try:
        url = f"tls://127.0.0.1:{server.port}"
        inbox = Inbox()
        tls = {"CA_FILE": str(cert), "CERT_FILE": str(cert), "KEY_FILE": str(key)}
        await make(made, inbox, SERVERS=url, PREFIX=prefix, TLS=tls).subscribe(["g"])
        await make(made, SERVERS=url, PREFIX=prefix, TLS=tls).publish("g", b"signed")
        assert await inbox.wait_for(1) == [b"signed"]
        anonymous = make(made, SERVERS=url, PREFIX=prefix, TLS={"CA_FILE": str(cert)})
        with pytest.raises(BroadcastError, match="unreachable"):
            await anonymous.publish("g", b"x")
    finally:
        server.kill()


# nats-py 2.16 passes aiohttp a float timeout, which aiohttp 3.14 deprecates.
@pytest.mark.filterwarnings(
    "ignore:parameter 'timeout' of type 'float':DeprecationWarning"
)
async def test_websocket_servers(
    tmp_path: pathlib.Path, made: list[NatsBackend], prefix: str
) -> None:
    """ws:// URLs reach the server's WebSocket port, for subscribing and for broadcasting."""
    pytest.importorskip("aiohttp", reason="nats-py needs aiohttp for ws:// URLs")
    port = spare_port()
    config = tmp_path / "websocket.conf"
    config.write_text(f"websocket {{\n  port: {port}\n  no_tls: true\n}}\n")
    server = NatsServer("-c", str(config))
    server.start()
    try:
        url = f"ws://127.0.0.1:{port}"
        inbox = Inbox()
        await make(made, inbox, SERVERS=url, PREFIX=prefix).subscribe(["g"])
        await make(made, SERVERS=url, PREFIX=prefix).publish("g", b"over websocket")
        assert await inbox.wait_for(1) == [b"over websocket"]
    finally:
        server.kill()


# Message counts ------------------------------------------------------------------------


async def test_one_message_per_broadcast_to_1000_members(
    client: WebSocketClient,
    settings: Any,
    nats_server: NatsServer,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A broadcast to 1,000 local members is one message in, one out: the group is one SUB."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": NATS,
        "OPTIONS": {"SERVERS": nats_server.url, "PREFIX": prefix},
    }
    idle = nats_server.varz()["subscriptions"]  # the server's own
    members = list(
        await asyncio.gather(*(client.connect("/ws/room/big/") for _ in range(1000)))
    )
    await abroadcast("room.big", "warm-up")  # opens the publishing connection
    await asyncio.gather(*(ws.receive(T) for ws in members))
    before = nats_server.varz()
    await abroadcast("room.big", "measured")
    assert (
        await asyncio.gather(*(ws.receive(T) for ws in members)) == ["measured"] * 1000
    )
    after = nats_server.varz()
    assert after["subscriptions"] - idle == 1
    delta = {k: after[k] - before[k] for k in ("in_msgs", "out_msgs")}
    assert delta == {"in_msgs": 1, "out_msgs": 1}
    with capsys.disabled():
        print(f"\nNATS messages for one broadcast to 1,000 members: {delta}")
    await asyncio.gather(*(ws.close() for ws in members))


# Outages -------------------------------------------------------------------------------


async def test_nats_killed_and_restarted(
    client: WebSocketClient,
    settings: Any,
    nats_server: NatsServer,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """NATS dies: sockets stay up, broadcasts raise; it comes back: delivery resumes within 2 s."""
    settings.WSVIEWS_BACKEND = {
        "BACKEND": NATS,
        "OPTIONS": {
            "SERVERS": nats_server.url,
            "PREFIX": prefix,
            "RECONNECT_MAX_DELAY": 0.5,
        },
    }
    members = [await client.connect("/ws/room/k/") for _ in range(3)]
    await abroadcast("room.k", "before")
    for ws in members:
        assert await ws.receive(T) == "before"

    with LogEvent(LOGGER, "No subscribing connection") as lost:
        nats_server.kill()
        await lost.wait()
    with pytest.raises(
        BroadcastError, match=r"NATS at nats://127\.0\.0\.1:\d+ is unreachable"
    ):
        await abroadcast("room.k", "during")
    for ws in members:  # the sockets are still up and served
        await ws.send("groups")
        assert await ws.receive(T) == "room.k"

    with LogEvent(LOGGER, "subscribed 1 groups again") as back:
        nats_server.start()
        started = time.monotonic()
        await back.wait()
    await abroadcast("room.k", "after")
    for ws in members:
        assert await ws.receive(T) == "after"
    resumed = time.monotonic() - started
    assert resumed < 2.0
    with capsys.disabled():
        print(
            f"\nNATS restarted: delivery resumed {resumed:.2f} s after the server was up"
        )
    for ws in members:
        await ws.close()


async def test_silent_server_detected_by_pings(
    nats_server: NatsServer, made: list[NatsBackend], prefix: str
) -> None:
    """A server that stops answering (SIGSTOP) is dropped after missed pings, then reconnected."""
    import signal

    inbox = Inbox()
    receiver = make(
        made, inbox, SERVERS=nats_server.url, PREFIX=prefix, HEALTH_CHECK_INTERVAL=0.2
    )
    await receiver.subscribe(["g"])
    assert nats_server.process is not None
    with LogEvent(LOGGER, "No subscribing connection") as lost:
        nats_server.process.send_signal(signal.SIGSTOP)
        try:
            await lost.wait()
        finally:
            nats_server.process.send_signal(signal.SIGCONT)
    await eventually(lambda: receiver._connected, 10)
    await make(made, SERVERS=nats_server.url, PREFIX=prefix).publish("g", b"back")
    assert await inbox.wait_for(1) == [b"back"]


# The driver's options, against a scripted server --------------------------------------
#
# A few lines of asyncio that speak enough of the NATS protocol (INFO, PING,
# PONG, PUB) for the client, and count what the client does: how often it
# connects, how many pings it sends unanswered before it gives up.


class ScriptedNats:
    """A NATS server that says INFO (unless ``mute``), answers PING until ``silent``, and counts."""

    def __init__(self, *, mute: bool = False, tls: bool = False) -> None:
        self.mute = mute
        self.tls = tls
        self.silent = False
        self.drop = asyncio.Event()  # set: closes every connection
        self.connections = 0
        self.unanswered = 0
        self.published: list[bytes] = []
        self.ended = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ScriptedNats:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        self.drop.set()
        if self.handlers:
            await asyncio.wait(self.handlers, timeout=T)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"nats://127.0.0.1:{port}"

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self.handlers.add(handler)
        if not self.mute:
            tls = b',"tls_required":true' if self.tls else b""
            writer.write(
                b'INFO {"server_id":"scripted","version":"2.10.0","proto":1,'
                b'"max_payload":1048576,"headers":true' + tls + b"}\r\n"
            )
        while True:
            reading = asyncio.ensure_future(reader.readline())
            dropped = asyncio.ensure_future(self.drop.wait())
            await asyncio.wait({reading, dropped}, return_when=asyncio.FIRST_COMPLETED)
            dropped.cancel()
            if self.drop.is_set():
                reading.cancel()
                break
            line = reading.result()
            if not line:
                break
            if line.startswith(b"PING"):
                if self.silent:
                    self.unanswered += 1
                else:
                    writer.write(b"PONG\r\n")
            elif line.startswith(b"PUB "):
                size = int(line.split()[-1])
                self.published.append((await reader.readexactly(size + 2))[:-2])
        writer.close()
        self.ended.set()


async def test_no_reconnection_by_the_driver(
    made: list[NatsBackend], caplog: pytest.LogCaptureFixture
) -> None:
    """
    A server that accepts and says nothing: the attempt fails after
    connect_timeout, once; nats-py's own reconnection (which would hold
    broadcasts for later) is off. The error is the backend's to report:
    nats-py logs nothing of its own.
    """
    async with ScriptedNats(mute=True) as server:
        backend = make(
            made, SERVERS=server.url, CONNECTION_KWARGS={"connect_timeout": 0.2}
        )
        with pytest.raises(BroadcastError, match="is unreachable"):
            await asyncio.wait_for(backend.publish("g", b"x"), T)
        assert server.connections == 1
        await asyncio.wait_for(server.ended.wait(), T)  # and the socket is closed
    assert [r.getMessage() for r in caplog.records if r.name.startswith("nats")] == []


async def test_two_unanswered_pings_drop_the_connection(
    made: list[NatsBackend],
) -> None:
    """
    Every HEALTH_CHECK_INTERVAL the client pings; a server that stops
    answering gets two more pings, then the client drops the connection,
    and the next broadcast makes a new one.
    """
    async with ScriptedNats() as server:
        backend = make(made, SERVERS=server.url, HEALTH_CHECK_INTERVAL=0.05)
        await asyncio.wait_for(backend.publish("g", b"one"), T)
        server.silent = True
        await asyncio.wait_for(server.ended.wait(), T)
        assert server.unanswered == 2
        server.silent = False
        await asyncio.wait_for(backend.publish("g", b"two"), T)
        assert server.connections == 2
        assert server.published == [b"one", b"two"]


async def test_a_tls_handshake_that_never_ends(made: list[NatsBackend]) -> None:
    """
    A server that asks for TLS, then never answers the client's hello: the
    broadcast fails once the attempts' bound has passed (twice
    connect_timeout per server, and a second), and the socket is closed.
    """
    async with ScriptedNats(tls=True) as server:
        backend = make(
            made,
            SERVERS=server.url,
            CONNECTION_KWARGS={
                "connect_timeout": 0.2,
                "tls": ssl.create_default_context(),
            },
        )
        with pytest.raises(BroadcastError, match="is unreachable"):
            await asyncio.wait_for(backend.publish("g", b"x"), T)
        assert server.connections == 1
        await asyncio.wait_for(server.ended.wait(), T)


async def test_a_broadcast_not_confirmed_in_time(made: list[NatsBackend]) -> None:
    """
    A server that takes the message but does not confirm it within
    PUBLISH_TIMEOUT: BroadcastError, the message is not sent again, and the
    next broadcast goes out on a new connection.
    """
    async with ScriptedNats() as server:
        backend = make(made, SERVERS=server.url, PUBLISH_TIMEOUT=0.1)
        await asyncio.wait_for(backend.publish("g", b"one"), T)
        server.silent = True
        with pytest.raises(
            BroadcastError, match=r"is unreachable \(nats: flush timeout"
        ):
            await asyncio.wait_for(backend.publish("g", b"two"), T)
        await asyncio.wait_for(server.ended.wait(), T)  # that connection is dropped
        server.silent = False
        await asyncio.wait_for(backend.publish("g", b"three"), T)
        assert server.published == [b"one", b"two", b"three"]
        assert server.connections == 2


async def test_the_listener_says_why_its_connection_ended(
    made: list[NatsBackend], caplog: pytest.LogCaptureFixture
) -> None:
    """A subscribing connection dropped for missed pings: the warning names the driver's reason."""
    async with ScriptedNats() as server:
        url = server.url
        backend = make(made, SERVERS=url, HEALTH_CHECK_INTERVAL=0.05)
        await asyncio.wait_for(backend.subscribe(["g"]), T)
        server.silent = True
        await eventually(lambda: "No subscribing connection" in caplog.text, T)
    [warning] = [r for r in caplog.records if "No subscribing" in r.getMessage()]
    assert f"No subscribing connection to NATS at {url} (nats: stale connection)" in (
        warning.getMessage()
    )


async def test_subscriptions_in_place(
    nats_server: NatsServer, made: list[NatsBackend], prefix: str
) -> None:
    """Each subscription confirmed counts as in place, the earlier ones too; an unsubscribed one stops counting and arriving."""
    inbox = Inbox()
    backend = make(made, inbox, SERVERS=nats_server.url, PREFIX=prefix)
    await backend.subscribe(["a"])
    await backend.subscribe(["b"])
    assert backend._active == {group_subject(prefix, "a"), group_subject(prefix, "b")}
    await backend.unsubscribe(["a"])
    assert backend._active == {group_subject(prefix, "b")}
    sender = make(made, SERVERS=nats_server.url, PREFIX=prefix)
    await sender.publish("a", b"left")
    await sender.publish("b", b"kept")
    assert await inbox.wait_for(1) == [b"kept"]


async def test_options_default_as_documented() -> None:
    """Without options: nats://127.0.0.1:4222, subjects "wsviews.<group>", 2 s to connect, 10 s for a broadcast's confirmation."""
    backend = NatsBackend({}, lambda payload: None)
    assert backend._where() == "NATS at nats://127.0.0.1:4222"
    assert backend._channel("room") == "wsviews.room"
    assert backend._kwargs == {"connect_timeout": 2}
    assert backend._publish_timeout == 10
    await backend.close()


async def test_joins_and_leaves_while_the_connection_is_lost(
    made: list[NatsBackend],
) -> None:
    """While the subscribing connection is down, leaving and joining return at once; the joins hold after it is back."""
    async with ScriptedNats() as server:
        backend = make(made, SERVERS=server.url)
        await asyncio.wait_for(backend.subscribe(["a", "b"]), T)
        server.drop.set()
        await eventually(lambda: not backend._connected, T)
        await asyncio.wait_for(backend.unsubscribe(["a"]), T)
        await asyncio.wait_for(backend.subscribe(["c"]), T)
        server.drop.clear()
        await eventually(lambda: backend._connected, T)
        await eventually(lambda: backend._active == {"wsviews.b", "wsviews.c"}, T)
