"""A Redis Cluster of the test's own: redis-server nodes on spare ports, joined by redis-cli."""

from __future__ import annotations

import pathlib
import random
import shutil
import socket
import subprocess
import time
from typing import Any

import pytest

from .groups_support import RedisServer, unavailable

#: Milliseconds of silence before the cluster takes a master for dead
#: (its replica is promoted about as long again later).
NODE_TIMEOUT_MS = 1000


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port(taken: set[int]) -> int:
    """
    Return a free port for a cluster node, not in ``taken``; its bus port (+10000) free too.

    Drawn below the kernel's ephemeral range (32768 and up), so that no
    client connection takes it meanwhile.
    """
    for _ in range(1000):
        port = random.randrange(20000, 22768)
        if port not in taken and _free(port) and _free(port + 10000):
            taken.add(port)
            return port
    pytest.fail("No free port pair for a Redis Cluster node")


class RedisClusterNodes:
    """
    ``masters`` masters with ``replicas`` replicas each, on spare ports of 127.0.0.1.

    :meth:`start` starts the nodes and creates the cluster with
    ``redis-cli --cluster create``; :meth:`stop` kills every node left.
    """

    def __init__(
        self, directory: pathlib.Path, masters: int = 3, replicas: int = 1
    ) -> None:
        self.masters = masters
        self.replicas = replicas
        self.nodes: list[RedisServer] = []
        taken: set[int] = set()
        for index in range(masters * (1 + replicas)):
            folder = directory / f"node{index}"
            folder.mkdir()
            node = RedisServer(
                folder,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                # Replicas in sync at once (a replica that never synced is
                # not promoted); the default waits 5 s for more replicas.
                "--repl-diskless-sync-delay",
                "0",
            )
            node.port = cluster_port(taken)
            self.nodes.append(node)

    @property
    def url(self) -> str:
        """Return the cluster's ``redis+cluster://`` URL naming every node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        """Start the nodes and create the cluster; return once every node says it is ok."""
        cli = shutil.which("redis-cli")
        if cli is None:
            unavailable("redis-cli is not installed")
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                str(cli),
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.wait_until_ok()

    def wait_until_ok(self, timeout: float = 30.0) -> None:
        """Wait until every running node reports ``cluster_state:ok`` and agrees on the masters."""
        deadline = time.monotonic() + timeout
        while True:
            states = [self.info(node) for node in self.running()]
            if (
                all(state.get("cluster_state") == "ok" for state in states)
                and all(
                    int(state.get("cluster_size", 0)) == self.masters
                    for state in states
                )
                and self.replicas_in_sync()
            ):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"The cluster is not ok within {timeout} s: {states}")
            time.sleep(0.05)

    def replicas_in_sync(self) -> bool:
        """Return whether every running replica has its master link up."""
        for node in self.running():
            client = node.client(socket_timeout=5)
            try:
                replication = client.info("replication")
            finally:
                client.close()
            if replication.get("role") == "slave" and (
                replication.get("master_link_status") != "up"
            ):
                return False
        return True

    def running(self) -> list[RedisServer]:
        """Return the nodes not killed."""
        return [node for node in self.nodes if node.process is not None]

    def info(self, node: RedisServer) -> dict[str, Any]:
        """Return ``CLUSTER INFO`` of ``node``."""
        client = node.client(socket_timeout=5)
        try:
            return dict(client.cluster("INFO"))
        finally:
            client.close()

    def owner(self, slot: int) -> RedisServer:
        """Return the running master that serves ``slot``, as the nodes see it now."""
        for node in self.running():
            client = node.client(socket_timeout=5)
            try:
                for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                    if start <= slot <= end:
                        port = int(master[1])
                        return next(n for n in self.nodes if n.port == port)
            finally:
                client.close()
        pytest.fail(f"No running node serves slot {slot}")

    def node_id(self, node: RedisServer) -> str:
        """Return the cluster node id of ``node``."""
        client = node.client(socket_timeout=5, decode_responses=True)
        try:
            return str(client.execute_command("CLUSTER MYID"))
        finally:
            client.close()

    def replica_of(self, master: RedisServer) -> RedisServer:
        """Return a running replica of ``master``."""
        for node in self.running():
            role = node.client(socket_timeout=5)
            try:
                answer = role.execute_command("ROLE")
            finally:
                role.close()
            if answer[0] in (b"slave", "slave") and int(answer[2]) == master.port:
                return node
        pytest.fail(f"No replica of 127.0.0.1:{master.port}")

    def stop(self) -> None:
        """Kill every node."""
        for node in self.nodes:
            node.kill()
