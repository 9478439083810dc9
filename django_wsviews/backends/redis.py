"""
The Redis group backend: pub/sub, for several processes and machines.

Each process holds one pub/sub connection and subscribes a group's channel
(``<PREFIX>:<group>``) once, whatever its number of local members; a
broadcast is one ``PUBLISH``, whatever the number of members and processes.
Needs the ``redis`` package (``pip install django-wsviews[redis]``),
imported when the backend is made.

Options:

``URL``
    ``redis://`` or, for TLS, ``rediss://`` (default
    ``redis://127.0.0.1:6379/0``). Ignored with ``SENTINELS``. For a Redis
    Cluster, use :mod:`django_wsviews.backends.redis_cluster` (a
    ``redis+cluster://`` URL here is refused, naming it).
``SENTINELS``, ``SERVICE_NAME``, ``SENTINEL_KWARGS``
    Find the master through Redis Sentinel: a list of ``(host, port)``, the
    monitored service's name, and connection arguments for the sentinels.
``CONNECTION_KWARGS``
    Passed to redis-py for the server: ``password``, ``ssl_ca_certs``,
    ``ssl_certfile``, ``socket_keepalive``, and so on. ``socket_timeout``
    (10) and ``socket_connect_timeout`` (5) bound how long a broadcast
    waits for a server that does not answer.
``PREFIX``
    Channel prefix, to share a server between projects (``"wsviews"``).
``HEALTH_CHECK_INTERVAL``
    Seconds of silence on the pub/sub connection before a ``PING``; with
    no answer within as long again, the connection is dropped and remade
    (15).
``RECONNECT_MAX_DELAY``
    Cap of the backoff between reconnection attempts, in seconds (10).
``SUBSCRIBE_TIMEOUT``
    How long a join waits for Redis to confirm a subscription (5).

Failure policy: when the pub/sub connection breaks, open WebSockets stay up;
the backend logs a warning, reconnects with backoff and re-subscribes every
group. ``publish()`` raises
:class:`~django_wsviews.exceptions.BroadcastError` while Redis is
unreachable. A PUBLISH is sent at most once, never retried; a publishing
connection that the server closed meanwhile is replaced before use, so once
Redis is back, broadcasts go through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from ..log import get_logger
from .base import ListeningBackend, MessageCallback

__all__ = ["RedisBackend", "connection_kwargs"]

logger = get_logger("django_wsviews.backends.redis")


def _import_redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.asyncio.sentinel
        import redis.backoff
    except ImportError as exc:
        raise ImportError(
            "The Redis group backend needs the redis package: "
            "pip install 'django-wsviews[redis]'."
        ) from exc
    return redis


class PubSubReader(ListeningBackend[bytes]):
    """
    Read a redis-py pub/sub connection: the loop the Redis backends share.

    Plain pub/sub and a cluster's sharded pub/sub differ only in the names
    of their messages' types, given by the class attributes.
    """

    #: The type of a group message, and of a confirmed subscription.
    message_type: ClassVar[str] = "message"
    subscribe_type: ClassVar[str] = "subscribe"
    #: The type of a subscription the server ended on its own, which ends
    #: the connection (None: the server never does).
    lost_type: ClassVar[str | None] = None

    async def _read_pubsub(self, pubsub: Any, where: str = "") -> None:
        """Read ``pubsub`` until it fails; PING it when silent for a health interval."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self._health)
            if message is None:
                if pinged:
                    raise ConnectionError(
                        f"no answer to PING{where} in {2 * self._health} s"
                    )
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            kind = message["type"]
            if kind == self.message_type:
                try:
                    self.on_message(message["data"])
                except Exception:
                    self._log.exception("Error handing a group message to the hub")
                await asyncio.sleep(0)  # let the members' delivery tasks run
            elif kind == self.subscribe_type:
                if message["channel"] in self._channels:
                    self._active.add(message["channel"])
                self._signal.notify()
            elif kind == self.lost_type and message["channel"] in self._channels:
                raise ConnectionError(
                    f"the server{where} ended the subscription of "
                    f"{message['channel']!r}"
                )


class RedisBackend(PubSubReader):
    """Publish and subscribe through Redis."""

    option_names = ListeningBackend.option_names | {
        "URL",
        "SENTINELS",
        "SERVICE_NAME",
        "SENTINEL_KWARGS",
        "CONNECTION_KWARGS",
        "PREFIX",
    }
    listener_name = "pub/sub"
    resubscribed_text = "re-subscribed %d groups"
    _log = logger

    def __init__(self, options: Mapping[str, Any], on_message: MessageCallback) -> None:
        super().__init__(options, on_message)
        if urlsplit(str(options.get("URL", ""))).scheme.endswith("+cluster"):
            raise ImproperlyConfigured(
                "WSVIEWS_BACKEND['OPTIONS']['URL'] is a Redis Cluster URL: set "
                "WSVIEWS_BACKEND['BACKEND'] to "
                "'django_wsviews.backends.redis_cluster.RedisClusterBackend'."
            )
        self._redis = _import_redis()
        self._prefix = str(options.get("PREFIX", "wsviews")) + ":"
        self._sentinel: Any = None
        # Publishing sends a PUBLISH at most once, and checks its connections
        # itself: see _drop_closed_connections().
        self._publisher = self._client()
        self._subscriber = self._client()
        self._pubsub: Any = None  # the live pub/sub connection

    def _client(self) -> Any:
        redis = self._redis
        kwargs = connection_kwargs(redis, self.options)
        sentinels = self.options.get("SENTINELS")
        if not sentinels:
            return redis.asyncio.Redis.from_url(
                self.options.get("URL", "redis://127.0.0.1:6379/0"), **kwargs
            )
        service = self.options.get("SERVICE_NAME")
        if not service:
            raise ImproperlyConfigured(
                "WSVIEWS_BACKEND['OPTIONS'] has SENTINELS but no SERVICE_NAME: "
                "add the name of the master the sentinels monitor."
            )
        if self._sentinel is None:
            self._sentinel = redis.asyncio.sentinel.Sentinel(
                [tuple(address) for address in sentinels],
                sentinel_kwargs=self.options.get("SENTINEL_KWARGS"),
            )
        return self._sentinel.master_for(service, **kwargs)

    def _where(self) -> str:
        if self.options.get("SENTINELS"):
            return f"Redis (Sentinel service {self.options.get('SERVICE_NAME')!r})"
        parts = urlsplit(str(self.options.get("URL", "redis://127.0.0.1:6379/0")))
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return f"Redis at {parts.scheme}://{netloc}{parts.path}"

    def _channel(self, group: str) -> bytes:
        return (self._prefix + group).encode()

    # Publishing -----------------------------------------------------------------------

    async def publish(self, group: str, payload: bytes) -> None:
        """
        PUBLISH ``payload``, once; raise BroadcastError if Redis is unreachable.

        A pooled connection that the server closed while it sat idle (a
        restart, ``CLIENT KILL``, the server's ``timeout``) is replaced before
        use, so the first broadcast after an outage goes through. A
        connection that fails once the command is written fails the
        broadcast: Redis may have delivered it, so it is not sent again.
        """
        try:
            await self._drop_closed_connections()
            await self._publisher.publish(self._channel(group), payload)
        except (self._redis.RedisError, OSError) as exc:
            raise self._unreachable(group, exc) from exc

    async def _drop_closed_connections(self) -> None:
        """
        Disconnect the idle pooled connections that the server has closed.

        redis-py reconnects a disconnected connection when it is next used.
        Why not leave it to redis-py: its pool checks a connection on
        checkout, but some versions miss one the server closed (5.0; 8.1
        under RESP3, its default), and then the command fails. Its other
        remedies would resend: a ``Retry`` (with ``retry_on_error``) cannot
        tell a ConnectionError raised before the PUBLISH was written from one
        raised while reading its answer, after Redis may have delivered it;
        and ``health_check_interval`` PINGs only connections idle for longer
        than the interval (a short outage goes unnoticed), and a failed PING
        fails the command unless the ``Retry`` it shares with the command
        allows retries. Here the check costs no round trip: the event loop
        has already read the server's end of stream (or a reset) on a closed
        connection. Not caught: a connection that died without the server
        closing it (a crashed host); its broadcast fails, the next one
        reconnects.
        """
        pool = self._publisher.connection_pool
        closed = [
            connection
            for connection in getattr(pool, "_available_connections", ())
            if _closed_by_server(connection)
        ]
        for connection in closed:
            # nowait: the connection is marked disconnected before any await,
            # so no other broadcast can take it from the pool half-closed.
            await connection.disconnect(nowait=True)

    async def _release(self) -> None:
        await self._publisher.aclose()
        await self._subscriber.aclose()
        if self._sentinel is not None:
            for client in self._sentinel.sentinels:
                await client.aclose()

    # The pub/sub connection -------------------------------------------------------

    async def _open(self) -> Any:
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.connect()
        except BaseException:
            await self._quietly(pubsub.aclose())
            raise
        self._pubsub = pubsub
        return pubsub

    async def _resubscribe(self, connection: Any) -> None:
        if self._channels:
            await connection.subscribe(*self._channels)

    async def _close_connection(self, connection: Any) -> None:
        self._pubsub = None
        await connection.aclose()

    async def _request_subscribe(self, channels: set[bytes]) -> None:
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.subscribe(*channels)
            except Exception as exc:  # the listener reconnects and re-subscribes
                logger.debug("SUBSCRIBE failed (%s); the listener will retry.", exc)

    async def _request_unsubscribe(self, channels: set[bytes]) -> None:
        self._active -= channels
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                await pubsub.unsubscribe(*channels)
            except Exception as exc:
                logger.debug("UNSUBSCRIBE failed (%s); the listener will resync.", exc)

    async def _receive(self, connection: Any) -> None:
        await self._read_pubsub(connection)


def connection_kwargs(redis: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Return redis-py's connection arguments for ``options``: no retries, bytes, timeouts."""
    extra = options.get("CONNECTION_KWARGS", {})
    if not isinstance(extra, Mapping):
        raise ImproperlyConfigured(
            "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] must be a dict of "
            f"redis-py connection arguments, not {type(extra).__name__}."
        )
    return {
        "socket_connect_timeout": 5,
        "socket_timeout": 10,  # a hung server fails a broadcast, not hangs it
        **extra,
        "retry": redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
        "decode_responses": False,
    }


def _closed_by_server(connection: Any) -> bool:
    """Return whether the event loop has seen the server close ``connection`` (EOF or reset)."""
    reader = getattr(connection, "_reader", None)  # None: not connected
    return reader is not None and (reader.at_eof() or reader.exception() is not None)
