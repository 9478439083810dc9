"""
The brokers of the multi-host test, each started on the broker host of a :class:`Network`.

Each function starts its server inside the broker's namespace, listening on
the bridge's address, and returns the ``WSVIEWS_BACKEND`` setting that the
app hosts use: short timeouts, so that a cut link is noticed within about a
second (a 1 s socket timeout for Redis, publish timeout for NATS,
``tcp_user_timeout`` for PostgreSQL, and a 1 s health check).
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import tempfile
import time
from typing import Any

import pytest

from .groups_support import _postgres_bin, unavailable
from .netns_support import BROKER_IP, Network


def redis_server_command(port: int, directory: pathlib.Path) -> list[str]:
    """Return a redis-server command line: on every address (the app hosts reach it), keeping nothing."""
    binary = shutil.which("redis-server") or unavailable(
        "redis-server is not installed"
    )
    return [
        str(binary),
        "--port", str(port),
        "--bind", "0.0.0.0",
        "--protected-mode", "no",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
    ]  # fmt: skip


def start_redis(net: Network, directory: pathlib.Path) -> dict[str, Any]:
    """Start redis-server on the broker host; return the backend setting."""
    _, output = net.start(net.broker, redis_server_command(6379, directory))
    output.wait_for("Ready to accept connections", 10)
    return {
        "BACKEND": "django_wsviews.backends.redis.RedisBackend",
        "OPTIONS": {
            "URL": f"redis://{BROKER_IP}:6379/0",
            "CONNECTION_KWARGS": {"socket_timeout": 1, "socket_connect_timeout": 1},
            **QUICK,
        },
    }


def start_redis_cluster(net: Network, directory: pathlib.Path) -> dict[str, Any]:
    """Start a 3-master Redis Cluster on the broker host; return the backend setting."""
    cli = shutil.which("redis-cli") or unavailable("redis-cli is not installed")
    ports = [7000, 7001, 7002]
    for port in ports:
        folder = directory / str(port)
        folder.mkdir()
        cluster = [
            "--cluster-enabled", "yes",
            "--cluster-node-timeout", "1000",
            "--cluster-announce-ip", BROKER_IP,
        ]  # fmt: skip
        _, output = net.start(net.broker, redis_server_command(port, folder) + cluster)
        output.wait_for("Ready to accept connections", 10)
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            net.broker,
            str(cli),
            "--cluster",
            "create",
            *(f"{BROKER_IP}:{port}" for port in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 30
    while True:
        states = [
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    net.broker,
                    str(cli),
                    "-p",
                    str(port),
                    "cluster",
                    "info",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for port in ports
        ]
        if all("cluster_state:ok" in state for state in states):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"The cluster is not ok: {states}")
        time.sleep(0.05)
    return {
        "BACKEND": "django_wsviews.backends.redis_cluster.RedisClusterBackend",
        "OPTIONS": {
            "URL": "redis+cluster://" + ",".join(f"{BROKER_IP}:{p}" for p in ports),
            "CONNECTION_KWARGS": {"socket_timeout": 1, "socket_connect_timeout": 1},
            **QUICK,
        },
    }


def start_nats(net: Network, directory: pathlib.Path) -> dict[str, Any]:
    """Start nats-server on the broker host; return the backend setting."""
    binary = shutil.which("nats-server") or unavailable("nats-server is not installed")
    _, output = net.start(net.broker, [str(binary), "-a", "0.0.0.0", "-p", "4222"])
    output.wait_for("Server is ready", 10)
    return {
        "BACKEND": "django_wsviews.backends.nats.NatsBackend",
        "OPTIONS": {
            "SERVERS": f"nats://{BROKER_IP}:4222",
            "PUBLISH_TIMEOUT": 1,
            "CONNECTION_KWARGS": {"connect_timeout": 1},
            **QUICK,
        },
    }


def start_postgres(net: Network, directory: pathlib.Path) -> dict[str, Any]:
    """Start PostgreSQL (initdb, trust for the hosts' network) on the broker host."""
    initdb, postgres = _postgres_bin("initdb"), _postgres_bin("postgres")
    if initdb is None or postgres is None:
        unavailable("PostgreSQL's initdb and postgres are not installed")
    # Its own folder: pytest's is closed to the postgres user.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="wsviews-mh-pg-"))
    net.directories.append(directory)
    data = directory / "data"
    shutil.chown(directory, "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_postgres,
            str(initdb),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        cwd=directory,
    )
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write("host all all 10.77.0.0/24 trust\n")
    _, output = net.start(
        net.broker,
        [
            *as_postgres,
            str(postgres),
            "-D",
            str(data),
            "-p",
            "5432",
            "-h",
            "0.0.0.0",
            "-k",
            str(directory),
            "-c",
            "fsync=off",
        ],
        cwd=directory,
    )
    output.wait_for("database system is ready to accept connections", 30)
    return {
        "BACKEND": "django_wsviews.backends.postgres.PostgresBackend",
        "OPTIONS": {
            "DATABASE": "wsviews_postgres",  # its settings, overridden here
            "CONNECTION_KWARGS": {
                "host": BROKER_IP,
                "port": 5432,
                "user": "postgres",
                "password": "",
                "dbname": "postgres",
                "connect_timeout": 1,
                "tcp_user_timeout": 1000,
            },
            **QUICK,
        },
    }


QUICK = {"HEALTH_CHECK_INTERVAL": 1, "RECONNECT_MAX_DELAY": 0.5}
BROKERS = {
    "redis": start_redis,
    "nats": start_nats,
    "postgres": start_postgres,
    "redis-cluster": start_redis_cluster,
}
