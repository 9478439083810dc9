"""
The Redis backend on a Redis Cluster: sharded pub/sub (Redis 7 or later).

A backend of its own, with the Redis backend's options and failure policy;
the Redis backend refuses a cluster URL, naming this one::

    WSVIEWS_BACKEND = {
        "BACKEND": "django_wsviews.backends.redis_cluster.RedisClusterBackend",
        "OPTIONS": {"URL": "redis+cluster://:password@10.0.0.1:7000,10.0.0.2:7000"},
    }

A group's channel (``<PREFIX>:<group>``) lives on the shard that owns its
hash slot. A broadcast is one ``SPUBLISH``, sent by redis-py's cluster client
to that shard's master: the other shards see nothing of it (plain
``PUBLISH`` on a cluster is copied to every node). Each process holds one
pub/sub connection per master and ``SSUBSCRIBE``\\ s each group on the master
that owns it.

Options: those of the Redis backend (``CONNECTION_KWARGS``, ``PREFIX``,
``HEALTH_CHECK_INTERVAL``, ``RECONNECT_MAX_DELAY``, ``SUBSCRIBE_TIMEOUT``)
but ``SENTINELS``, and:

``URL``
    ``redis+cluster://[[user]:password@]host:port[,host:port...]``: the
    startup nodes; name several, so that one being down does not keep a
    process from finding the others. ``rediss+cluster://`` connects with
    TLS (``redis://`` and ``rediss://``, redis-py's schemes, are read
    the same way). A cluster has only database 0, so a URL naming
    another (``/3``) is refused; so are query parameters: they go in
    ``CONNECTION_KWARGS``. What the URL says wins over ``CONNECTION_KWARGS``,
    as with redis-py's ``from_url()``.
``STARTUP_NODES``
    Instead of the URL: a list of ``"host:port"`` or ``(host, port)``; a
    password, and ``ssl`` for TLS, then go in ``CONNECTION_KWARGS``.

Failure policy, the Redis backend's: open WebSockets stay up; ``publish()``
raises :class:`~django_wsviews.exceptions.BroadcastError` when the owning
master cannot be reached, within ``socket_timeout`` plus
``socket_connect_timeout`` (15 s by default; set them in
``CONNECTION_KWARGS``), and an ``SPUBLISH`` is sent at most once (a ``MOVED``
answer, which means it was not executed, is followed to the new owner). When a master fails, or a slot in use moves (resharding: the old
owner ends the subscriptions of the slot's channels), the backend drops its
pub/sub connections, reads the cluster's slot map again and subscribes every
group on its new owner, with backoff while the cluster has no master for a
slot. Messages published during that gap, on any shard, are not delivered
to this process: core pub/sub keeps nothing. After a failover the first
broadcast to a group of the failed master may raise; the next one finds
the promoted replica.

Group history is not kept on a cluster yet (its Redis store needs one
server): with ``WSVIEWS_HISTORY``, the backend is refused at startup, saying
so. Presence is, by
:class:`~django_wsviews.backends.presence_redis.RedisClusterPresenceStore`:
its keys share one hash slot, on one master.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..log import get_logger
from .base import ListeningBackend, MessageCallback
from .redis import PubSubReader, _import_redis, connection_kwargs

__all__ = ["RedisClusterBackend", "cluster_startup_nodes"]

logger = get_logger("django_wsviews.backends.redis")

#: The URL schemes of a cluster: redis-py's (its RedisCluster.from_url), and
#: the "+cluster" ones that the Redis backend refuses, naming this backend.
_SCHEMES = ("redis+cluster", "rediss+cluster", "redis", "rediss")


def cluster_startup_nodes(
    options: Mapping[str, Any],
) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """
    Return the startup nodes of ``options``, and the connection arguments the URL holds.

    The URL's user and password, and TLS for a ``rediss+cluster://`` (or
    ``rediss://``) URL. Raise ImproperlyConfigured, naming the fix, for
    another scheme, a database other than 0, query parameters (they
    belong in ``CONNECTION_KWARGS``), a node without a port, or a
    malformed list.
    """
    fix = (
        "Use URL 'redis+cluster://host:port,host:port' or STARTUP_NODES "
        "['host:port', ...]."
    )
    extra: dict[str, Any] = {}
    raw: Any = options.get("STARTUP_NODES")
    if not raw and options.get("URL"):
        extra, raw = _parse_url(str(options["URL"]))
    if isinstance(raw, (str, bytes)) or not isinstance(raw, (list, tuple)) or not raw:
        raise ImproperlyConfigured(f"The Redis Cluster has no startup nodes. {fix}")
    nodes = []
    for node in raw:
        if isinstance(node, str) and "://" in node:
            raise ImproperlyConfigured(
                f"A Redis Cluster startup node is a {urlsplit(node).scheme}:// URL, "
                "and STARTUP_NODES takes 'host:port'. For TLS, use URL "
                "'rediss+cluster://host:port,host:port', or CONNECTION_KWARGS "
                "{'ssl': True}."
            )
        if isinstance(node, str):
            host, _, port = node.rpartition(":")
        elif isinstance(node, (list, tuple)) and len(node) == 2:
            host, port = node
        else:
            host, port = "", ""
        if not host or not str(port).isdigit():
            raise ImproperlyConfigured(
                f"Redis Cluster startup node {node!r} is not host:port. {fix}"
            )
        nodes.append((str(host).strip("[]"), int(port)))
    return nodes, extra


def _parse_url(url: str) -> tuple[dict[str, Any], list[str]]:
    """Return the connection arguments of a cluster ``url``, and its ``host:port`` nodes."""
    setting = "WSVIEWS_BACKEND['OPTIONS']['URL']"
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ImproperlyConfigured(
            f"{setting} is not a Redis Cluster URL (its scheme is "
            f"{parts.scheme!r}): use 'redis+cluster://host:port,host:port', or "
            "'rediss+cluster://host:port,host:port' for TLS."
        )
    if parts.path not in ("", "/", "/0"):
        raise ImproperlyConfigured(
            f"{setting} ends in {parts.path!r}, but a Redis Cluster has only "
            f"database 0, and its URL names none: remove {parts.path!r}."
        )
    if parts.query:
        query = parse_qsl(parts.query, keep_blank_values=True)
        names = sorted({name for name, _ in query}) or [parts.query]
        raise ImproperlyConfigured(
            f"{setting} has query parameters {names}, which the Redis Cluster "
            "backend does not read from a URL: pass them as Python values in "
            "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] instead, e.g. "
            "{'ssl_ca_certs': 'ca.pem', 'socket_timeout': 5}."
        )
    extra: dict[str, Any] = {}
    auth, _, hosts = parts.netloc.rpartition("@")
    if auth:
        user, _, password = auth.partition(":")
        if user:
            extra["username"] = unquote(user)
        if password:
            extra["password"] = unquote(password)
    if parts.scheme.startswith("rediss"):
        extra["ssl"] = True
    return extra, [host for host in hosts.split(",") if host]


@dataclass
class _Shards:
    """The listening connections: one pub/sub per master, by node name."""

    pubsubs: dict[str, Any] = field(default_factory=dict)
    clients: list[Any] = field(default_factory=list)
    #: Set when the slot map no longer matches these connections.
    stale: asyncio.Event = field(default_factory=asyncio.Event)


class RedisClusterBackend(PubSubReader):
    """
    Publish and subscribe through a Redis Cluster's sharded pub/sub.

    Not a subclass of the Redis backend: what is built on that one (the
    Redis store of history) needs a single server.
    """

    option_names = ListeningBackend.option_names | {
        "URL",
        "STARTUP_NODES",
        "CONNECTION_KWARGS",
        "PREFIX",
    }
    listener_name = "sharded pub/sub"
    message_type = "smessage"
    subscribe_type = "ssubscribe"
    # A node ends a subscription it no longer owns: its slot moved
    # (resharding, failover), and the listener starts again on the new map.
    lost_type = "sunsubscribe"
    resubscribed_text = "re-subscribed %d groups"
    _log = logger

    def __init__(self, options: Mapping[str, Any], on_message: MessageCallback) -> None:
        super().__init__(options, on_message)
        self._redis = _import_cluster()
        self._prefix = str(options.get("PREFIX", "wsviews")) + ":"
        self._nodes, url_kwargs = cluster_startup_nodes(options)
        # The URL's parts win over CONNECTION_KWARGS, as in redis-py's from_url():
        # a rediss URL is never made plaintext by an "ssl": False beside it.
        self._kwargs = {**connection_kwargs(self._redis, options), **url_kwargs}
        # One client publishes, one reads the slot map for the listener:
        # the listener's retries during an outage never hold up a broadcast.
        self._cluster = self._cluster_client()
        self._topology = self._cluster_client()
        # A broadcast's bound: after a connection error redis-py reads the
        # slot map again, trying the startup nodes one after the other.
        self._publish_timeout = float(self._kwargs["socket_timeout"]) + float(
            self._kwargs["socket_connect_timeout"]
        )
        self._shards: _Shards | None = None

    def _cluster_client(self) -> Any:
        cluster = self._redis.asyncio.cluster
        return cluster.RedisCluster(
            startup_nodes=[cluster.ClusterNode(h, p) for h, p in self._nodes],
            **self._kwargs,
        )

    def _channel(self, group: str) -> bytes:
        return (self._prefix + group).encode()

    def _where(self) -> str:
        return "Redis Cluster at " + ",".join(f"{h}:{p}" for h, p in self._nodes)

    # Publishing -----------------------------------------------------------------------

    async def publish(self, group: str, payload: bytes) -> None:
        """SPUBLISH ``payload`` on the owning shard, once; raise BroadcastError if it cannot be."""
        try:
            await asyncio.wait_for(
                self._cluster.spublish(self._channel(group), payload),
                self._publish_timeout,
            )
        except (self._redis.RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._unreachable(group, exc) from exc

    async def _release(self) -> None:
        await self._cluster.aclose()
        await self._topology.aclose()

    # The listening connections ----------------------------------------------------------

    async def _open(self) -> _Shards:
        topology = self._topology
        if topology.nodes_manager.slots_cache:
            # Read the slot map again: RedisCluster.initialize() does it once only.
            await topology.nodes_manager.initialize()
        else:
            await topology.initialize()
        shards = _Shards()
        try:
            for node in topology.get_primaries():
                client = self._redis.asyncio.Redis(
                    host=node.host, port=node.port, **self._kwargs
                )
                shards.clients.append(client)
                pubsub = client.pubsub()
                shards.pubsubs[node.name] = pubsub
                await pubsub.connect()
        except BaseException:
            await self._quietly(self._close_connection(shards))
            raise
        self._shards = shards
        return shards

    async def _resubscribe(self, connection: _Shards) -> None:
        for channel in set(self._channels):
            await self._ssubscribe(connection, channel)

    async def _ssubscribe(self, shards: _Shards, channel: bytes) -> None:
        node = self._topology.get_node_from_key(channel)
        pubsub = shards.pubsubs.get(node.name)
        if pubsub is None:
            shards.stale.set()
            raise ConnectionError(f"no pub/sub connection to {node.name}, the owner")
        await pubsub.ssubscribe(channel)

    async def _close_connection(self, connection: _Shards) -> None:
        if self._shards is connection:
            self._shards = None
        for pubsub in connection.pubsubs.values():
            await self._quietly(pubsub.aclose())
        for client in connection.clients:
            await self._quietly(client.aclose())

    async def _request_subscribe(self, channels: set[bytes]) -> None:
        shards = self._shards
        if shards is None:
            return
        for channel in channels:
            try:
                await self._ssubscribe(shards, channel)
            except Exception as exc:  # the listener reconnects and subscribes again
                logger.debug("SSUBSCRIBE failed (%s); the listener will retry.", exc)
                shards.stale.set()

    async def _request_unsubscribe(self, channels: set[bytes]) -> None:
        self._active -= channels
        shards = self._shards
        if shards is None:
            return
        for pubsub in shards.pubsubs.values():
            mine = [c for c in channels if c in pubsub.shard_channels]
            for channel in mine:
                try:
                    await pubsub.sunsubscribe(channel)
                except Exception as exc:
                    logger.debug("SUNSUBSCRIBE failed (%s).", exc)

    async def _receive(self, connection: _Shards) -> None:
        readers: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(self._read_pubsub(pubsub, f" from {name}"))
            for name, pubsub in connection.pubsubs.items()
        ]
        readers.append(asyncio.ensure_future(connection.stale.wait()))
        try:
            done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        for reader in done:
            error = None if reader.cancelled() else reader.exception()
            if error is not None:
                raise error
        raise ConnectionError("the cluster's slot map changed")


def _import_cluster() -> Any:
    redis = _import_redis()
    import redis.asyncio.cluster  # noqa: F811  (a submodule of the package just checked)

    return redis
