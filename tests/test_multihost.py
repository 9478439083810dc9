"""
Several hosts, a network cut and healed: network namespaces, real uvicorn, real brokers.

The test builds its own hosts (see :mod:`tests.support.netns_support`): a
broker host running the backend's server, and two app hosts, each running
two uvicorn processes, with two WebSocket clients per process opened from
inside the app host. Broadcasts from either side reach all eight clients.
Then app host 1's link to the broker is cut for 5 s and healed:

- app host 1's broadcasts fail with BroadcastError within ``FAIL_BOUND``;
- its sockets stay open (they keep answering);
- app host 2 goes on as before;
- after the heal, delivery both ways resumes within ``RESUME_BOUND``;
- no client gets any message twice.

The brokers and their settings are in :mod:`tests.support.multihost_brokers`:
a quick verdict on a dead link, with a 1 s socket timeout (Redis), publish
timeout (NATS) or ``tcp_user_timeout`` (PostgreSQL), and a 1 s health check. Skipped, with the reason, where
network namespaces cannot be made (not root, no ``ip``, a container that
forbids them).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from .support.multihost_brokers import BROKERS
from .support.netns_support import (
    Network,
    connect_in,
    in_namespace,
    netns_unavailable_reason,
)

#: Seconds within which a broadcast from the cut host fails.
FAIL_BOUND = 3.0
#: Seconds after the heal within which delivery both ways has resumed.
RESUME_BOUND = 10.0
CUT_SECONDS = 5.0
T = 10.0


@pytest.fixture(scope="module")
def netns() -> None:
    """Skip, saying why, where this machine cannot make network namespaces."""
    reason = netns_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def network(netns: None) -> Iterator[Network]:
    """Build the broker and two app hosts; remove them, and what runs in them, afterwards."""
    net = Network(apps=2)
    try:
        net.build()
        yield net
    finally:
        net.remove()


# Clients ------------------------------------------------------------------------------------


@dataclass
class Client:
    """A WebSocket client on one host, connected to one uvicorn process, reading all the time."""

    host: int
    ws: ClientConnection
    got: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for message in self.ws:
            kind, _, ident = str(message).partition(" ")
            if kind == "got":
                self.got.append(ident)
            else:
                self.answers[ident] = kind
            self.changed.set()

    async def wait(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate()``; return False after ``timeout``."""

        async def until() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def say(self, ident: str, timeout: float = T) -> str:
        """Broadcast ``ident``; return the answer, ``sent`` or ``failed``."""
        await self.ws.send(f"say {ident}")
        if not await self.wait(lambda: ident in self.answers, timeout):
            pytest.fail(f"No answer to 'say {ident}' within {timeout} s")
        return self.answers[ident]


async def everyone_gets(clients: list[Client], ident: str, timeout: float) -> bool:
    """Return whether every client has ``ident`` within ``timeout``."""
    results = await asyncio.gather(
        *(client.wait(lambda c=client: ident in c.got, timeout) for client in clients)
    )
    return all(results)


# The test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("broker", list(BROKERS))
async def test_cut_and_heal(
    network: Network,
    broker: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two app hosts share a broker; one is cut off for 5 s: it fails fast, keeps its sockets, resumes."""
    setting = BROKERS[broker](network, tmp_path)
    setting["OPTIONS"]["PREFIX"] = f"mh{uuid.uuid4().hex[:8]}"
    env = {"WSVIEWS_E2E_BACKEND": json.dumps(setting), "WSVIEWS_E2E_NO_MIDDLEWARE": "1"}
    servers = []  # (host index, port)
    outputs = []
    for host, namespace in enumerate(network.apps):
        for port in (8001, 8002):
            _, output = network.uvicorn(namespace, port, env)
            outputs.append(output)
            servers.append((host, port))
    await asyncio.gather(
        *(asyncio.to_thread(o.wait_for, "Uvicorn running on", 60) for o in outputs)
    )

    clients: list[Client] = []
    for host, port in servers:
        for _ in range(2):
            sock = connect_in(network.apps[host], port)
            ws = await asyncio.wait_for(
                connect(f"ws://127.0.0.1:{port}/ws/room/mh/", sock=sock), T
            )
            client = Client(host, ws)
            client.reader = asyncio.ensure_future(client.read())
            clients.append(client)
    one = [c for c in clients if c.host == 0]
    two = [c for c in clients if c.host == 1]
    try:
        # Both sides reach everyone.
        assert await one[0].say("from-1") == "sent"
        assert await two[0].say("from-2") == "sent"
        assert await everyone_gets(clients, "from-1", T)
        assert await everyone_gets(clients, "from-2", T)

        # The cut: host 1 fails fast and keeps its sockets; host 2 goes on.
        network.cut(0)
        cut_at = time.monotonic()
        slowest_failure, n = 0.0, 0
        while time.monotonic() - cut_at < CUT_SECONDS:
            n += 1
            started = time.monotonic()
            answer = await one[n % len(one)].say(f"cut-1-{n}", FAIL_BOUND + T)
            took = time.monotonic() - started
            assert answer == "failed", f"broadcast {n} from the cut host: {answer}"
            assert took < FAIL_BOUND, f"broadcast {n} took {took:.1f} s to fail"
            slowest_failure = max(slowest_failure, took)
            assert await two[n % len(two)].say(f"cut-2-{n}") == "sent"
            assert await everyone_gets(two, f"cut-2-{n}", T)
        network.heal(0)
        healed_at = time.monotonic()

        # After the heal: both ways again, within RESUME_BOUND.
        directions = {"1->all": (one, clients), "2->1": (two, one)}
        resumed: dict[str, float] = {}
        for name, (senders, receivers) in directions.items():
            attempt = 0
            while True:
                attempt += 1
                ident = f"{name}-{attempt}"
                left = RESUME_BOUND - (time.monotonic() - healed_at)
                assert left > 0, (
                    f"{name}: no delivery within {RESUME_BOUND} s of the heal"
                )
                if await senders[0].say(ident, T) == "sent" and await everyone_gets(
                    receivers, ident, min(left, 1.0)
                ):
                    resumed[name] = time.monotonic() - healed_at
                    break
        for client in clients:  # the sockets were never closed
            assert client.ws.close_code is None

        # Nothing twice; a late copy of an attempt would show up here too.
        for client in clients:
            twice = [i for i, count in Counter(client.got).items() if count > 1]
            assert twice == [], f"delivered twice: {twice}"
        with capsys.disabled():
            print(
                f"\n{broker}: cut for {CUT_SECONDS:.0f} s; {n} broadcasts from the cut "
                f"host failed, the slowest in {slowest_failure:.2f} s; after the heal "
                + ", ".join(f"{k} in {v:.2f} s" for k, v in resumed.items())
            )
    except BaseException:
        for output in outputs[:2]:  # the cut host's servers
            print("".join(output.lines))
        raise
    finally:
        for client in clients:
            await client.ws.close()
            if client.reader is not None:
                client.reader.cancel()
        await asyncio.gather(
            *(c.reader for c in clients if c.reader is not None), return_exceptions=True
        )


def test_namespaces_are_removed(netns: None) -> None:
    """A host sees its own interfaces only; a Network removed leaves no namespace behind."""
    net = Network(apps=1)
    try:
        net.build()
        names = {name for _, name in in_namespace(net.broker, socket.if_nameindex)}
        assert "br0" in names
        assert "br0" not in {name for _, name in socket.if_nameindex()}
    finally:
        net.remove()
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert net.broker not in listed
    assert net.apps[0] not in listed
