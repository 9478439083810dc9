"""
The NATS group backend: core NATS subjects, for several processes and machines.

Each process holds one listening connection and subscribes a group's
subject (``<PREFIX>.<group>``) once, whatever its number of local members;
a broadcast is one ``PUB``, whatever the number of members and processes.
Needs the ``nats-py`` package (``pip install django-wsviews[nats]``),
imported when the backend is made.

A group name becomes one subject token: ASCII letters, digits and ``-``
stay as they are, every other byte (``.``, ``_``, ``:``, a space, ``*``,
``>``, anything non-ASCII) becomes ``_`` and two hex digits. So a group
name can hold characters that NATS forbids in a token or reads as a
wildcard, and two groups never share a subject: ``room.1`` is
``wsviews.room_2E1``.

Options:

``SERVERS``
    A ``nats://`` (``tls://`` for TLS) URL, or a list of them: the servers
    of one cluster, tried in turn (default ``nats://127.0.0.1:4222``).
    ``ws://`` (``wss://``) URLs reach the server's WebSocket port; nats-py
    needs aiohttp for them (``pip install nats-py[aiohttp]``).
    Credentials may be in the URL (``nats://user:password@host:4222``).
``CONNECTION_KWARGS``
    Passed to ``nats.connect()``: ``user``, ``password``, ``token``,
    ``user_credentials`` (a ``.creds`` file), ``nkeys_seed`` (a file
    holding an NKey seed), ``tls`` (an :class:`ssl.SSLContext`),
    ``tls_hostname``, ``name``, ``connect_timeout`` (2 s; each server is
    tried twice, so a broadcast during a network partition fails within
    twice that per server), and so on. Reconnection and the callbacks are
    the backend's own. ``user_credentials``, ``nkeys_seed`` and
    ``nkeys_seed_str`` need the ``nkeys`` package, which the ``nats`` extra
    installs: without it the backend is refused when it is made.
``TLS``
    TLS without building an ``SSLContext``: a dict with ``CA_FILE`` (the
    server's CA), and ``CERT_FILE`` and ``KEY_FILE`` for a client
    certificate. Ignored when ``CONNECTION_KWARGS`` has ``tls``.
``PREFIX``
    Subject prefix, to share a server between projects: letters, digits,
    ``-`` and ``_`` (``"wsviews"``).
``PUBLISH_TIMEOUT``
    How long a broadcast waits for the server to confirm it has the message
    (10).
``HEALTH_CHECK_INTERVAL``
    Seconds between the client's ``PING`` on each connection; two without
    an answer drop the connection, which is then remade (15).
``RECONNECT_MAX_DELAY``
    Cap of the backoff between reconnection attempts, in seconds (10).
``SUBSCRIBE_TIMEOUT``
    How long a join waits for the server to confirm a subscription (5).

Failure policy, the same as the other server backends': when the listening
connection breaks, open WebSockets stay up; the backend logs a warning,
reconnects with backoff and subscribes every group again.
``publish()`` raises :class:`~django_wsviews.exceptions.BroadcastError`
while NATS is unreachable, and when the server has not confirmed the
message within ``PUBLISH_TIMEOUT`` (then it may have been delivered). A
message is published at most once, never buffered for later: nats-py's own
reconnection is turned off because it would hold broadcasts made during an
outage and send them once it is back, late, with ``publish()`` having
reported success. Core NATS keeps nothing: a process that is disconnected
misses what is published meanwhile, as with Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..exceptions import BroadcastError
from ..log import get_logger
from .base import ListeningBackend, MessageCallback, number_option

__all__ = ["NatsBackend", "group_subject"]

logger = get_logger("django_wsviews.backends.nats")

DEFAULT_SERVERS = "nats://127.0.0.1:4222"
_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
# nats.connect() arguments that nats-py reads with the nkeys package.
_NKEYS_KWARGS = ("nkeys_seed", "nkeys_seed_str", "user_credentials")
# Set by the backend, whatever CONNECTION_KWARGS says.
_OWN_KWARGS = frozenset(
    {
        "servers",
        "allow_reconnect",
        "closed_cb",
        "disconnected_cb",
        "error_cb",
        "reconnected_cb",
        "ping_interval",
        "max_outstanding_pings",
        "pending_size",
        "max_reconnect_attempts",
        "reconnect_time_wait",
    }
)


def _import_nats() -> Any:
    try:
        import nats
        import nats.aio.client
        import nats.errors
    except ImportError as exc:
        raise ImportError(
            "The NATS group backend needs the nats-py package: "
            "pip install 'django-wsviews[nats]'."
        ) from exc
    return nats


def _nkeys_installed() -> bool:
    try:
        importlib.import_module("nkeys")  # as nats-py does when it connects
    except ImportError:
        return False
    return True


def group_subject(prefix: str, group: str) -> str:
    """
    Return the NATS subject of ``group``: ``<prefix>.<one token>``.

    The token keeps ASCII letters, digits and ``-``; every other byte of
    the group's UTF-8 becomes ``_`` and two upper-case hex digits, so the
    mapping is one-to-one and the token never holds a separator, a
    wildcard or white space. An empty group name is the token ``_``.
    """
    token = "".join(
        chr(byte) if byte in _KEPT else f"_{byte:02X}" for byte in group.encode()
    )
    return f"{prefix}.{token or '_'}"


class NatsBackend(ListeningBackend[str]):
    """Publish and subscribe through core NATS."""

    option_names = ListeningBackend.option_names | {
        "SERVERS",
        "CONNECTION_KWARGS",
        "TLS",
        "PREFIX",
        "PUBLISH_TIMEOUT",
    }
    listener_name = "subscribing"
    resubscribed_text = "subscribed %d groups again"
    _log = logger

    def __init__(self, options: Mapping[str, Any], on_message: MessageCallback) -> None:
        super().__init__(options, on_message)
        self._nats = _import_nats()
        servers = options.get("SERVERS", DEFAULT_SERVERS)
        if isinstance(servers, str):
            servers = [servers]
        if not (
            isinstance(servers, (list, tuple))
            and servers
            and all(isinstance(url, str) and url for url in servers)
        ):
            raise ImproperlyConfigured(
                "WSVIEWS_BACKEND['OPTIONS']['SERVERS'] must be a nats:// URL or a "
                "non-empty list of them, e.g. 'nats://127.0.0.1:4222'."
            )
        self._servers: list[str] = list(servers)
        prefix = options.get("PREFIX", "wsviews")
        if not (isinstance(prefix, str) and _PREFIX.match(prefix)):
            raise ImproperlyConfigured(
                "WSVIEWS_BACKEND['OPTIONS']['PREFIX'] must be 1 to 64 letters, digits, "
                f"'-' or '_' (one NATS subject token), not {prefix!r}."
            )
        self._prefix = prefix
        self._publish_timeout = number_option(options, "PUBLISH_TIMEOUT", 10)
        self._kwargs = self._connection_kwargs()
        self._publisher: Any = None  # the publishing connection, made on first use
        self._publisher_lock = asyncio.Lock()
        self._client: Any = None  # the live listening connection
        self._subscriptions: dict[str, Any] = {}

    def _connection_kwargs(self) -> dict[str, Any]:
        extra = self.options.get("CONNECTION_KWARGS", {})
        if not isinstance(extra, Mapping):
            raise ImproperlyConfigured(
                "WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] must be a dict of "
                f"nats.connect() arguments, not {type(extra).__name__}."
            )
        overridden = sorted(set(extra) & _OWN_KWARGS)
        if overridden:
            raise ImproperlyConfigured(
                f"WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] sets {overridden}, "
                "which the NATS backend sets itself: use SERVERS for the servers and "
                "HEALTH_CHECK_INTERVAL for pings; reconnection is the backend's own."
            )
        needing = [name for name in _NKEYS_KWARGS if extra.get(name) is not None]
        if needing and not _nkeys_installed():
            raise ImproperlyConfigured(
                f"WSVIEWS_BACKEND['OPTIONS']['CONNECTION_KWARGS'] sets {needing}, "
                "which nats-py reads with the nkeys package, and it is not "
                "installed: pip install 'django-wsviews[nats]' (or 'nats-py[nkeys]')."
            )
        kwargs: dict[str, Any] = {"connect_timeout": 2, **extra}
        if "tls" not in kwargs and self.options.get("TLS") is not None:
            kwargs["tls"] = _tls_context(self.options["TLS"])
        return kwargs

    def _where(self) -> str:
        return "NATS at " + ", ".join(_without_secrets(url) for url in self._servers)

    def _channel(self, group: str) -> str:
        return group_subject(self._prefix, group)

    async def _connect(self, closed: asyncio.Event | None = None) -> Any:
        """Return a new connection to NATS; raise if no server answers."""

        async def on_close() -> None:
            if closed is not None:
                closed.set()

        async def on_error(exc: Exception) -> None:
            if isinstance(exc, self._nats.errors.SlowConsumerError):
                logger.warning(
                    "Messages of subject %s were dropped: this process reads them "
                    "slower than they come (NATS slow consumer).",
                    getattr(exc, "subject", "?"),
                )
            else:
                logger.debug("NATS connection error: %s", exc)

        client = self._nats.aio.client.Client()
        # nats-py bounds most steps of an attempt with connect_timeout, but not
        # every wait (a drain of what it writes): bound the whole attempt.
        bound = 2 * len(self._servers) * float(self._kwargs["connect_timeout"]) + 1
        try:
            connecting = client.connect(
                self._servers,
                # Without reconnection, nats-py still tries each server twice
                # (its minimum) before it gives up: then the backend's loop retries.
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                # Reconnection being off, every end of the connection closes
                # the client, and so calls closed_cb.
                closed_cb=on_close,
                error_cb=on_error,
                ping_interval=self._health,
                max_outstanding_pings=2,
                **self._kwargs,
            )
            await asyncio.wait_for(connecting, bound)
        except BaseException:
            # nats-py leaves a failed attempt's socket open; and closing it
            # after a failed TLS handshake can wait forever.
            await self._quietly(asyncio.wait_for(client.close(), 1))
            raise
        return client

    # Publishing -----------------------------------------------------------------------

    async def publish(self, group: str, payload: bytes) -> None:
        """
        Publish ``payload`` once; return when the server has it.

        Raise BroadcastError if NATS is unreachable, if the server does not
        confirm the message within ``PUBLISH_TIMEOUT`` (it may have been
        delivered: it is not sent again), or if ``payload`` is larger than
        the server's ``max_payload`` (1 MB by default). Any other error of
        the driver (a seed file it cannot read, say) is a BroadcastError
        too, naming the servers.
        """
        errors = self._nats.errors
        try:
            client = await self._publishing_connection()
            try:
                await client.publish(self._channel(group), payload)
            except errors.MaxPayloadError as exc:
                raise self._too_large(group, len(payload), client.max_payload) from exc
            # PING/PONG: the server has read what came before.
            await client.flush(timeout=self._publish_timeout)
        except BroadcastError:
            raise  # too large: the connection is still good
        except Exception as exc:
            await self._drop_publisher()
            raise self._unreachable(group, exc) from exc

    async def _publishing_connection(self) -> Any:
        client = self._publisher
        if client is not None and client.is_connected:
            return client
        async with self._publisher_lock:
            if self._publisher is None or not self._publisher.is_connected:
                await self._drop_publisher()
                self._publisher = await self._connect()
            return self._publisher

    async def _drop_publisher(self) -> None:
        client, self._publisher = self._publisher, None
        if client is not None:
            await self._quietly(asyncio.wait_for(client.close(), self.close_timeout))

    def _too_large(self, group: str, size: int, limit: int) -> BroadcastError:
        return BroadcastError(
            f"Could not broadcast to group {group!r}: the message is {size} bytes, "
            f"over {self._where()}'s max_payload of {limit} bytes. Send less, or "
            "raise max_payload in the server's configuration."
        )

    async def _release(self) -> None:
        await self._drop_publisher()

    # The listening connection -----------------------------------------------------------

    async def _open(self) -> _Listening:
        closed = asyncio.Event()
        client = await self._connect(closed)
        self._client = client
        return _Listening(client, closed)

    async def _resubscribe(self, connection: _Listening) -> None:
        self._subscriptions = {}
        await self._subscribe_on(connection.client, set(self._channels))

    async def _subscribe_on(self, client: Any, subjects: set[str]) -> None:
        """SUB each subject not yet subscribed on ``client``, then wait for the server."""
        for subject in subjects - set(self._subscriptions):
            self._subscriptions[subject] = await client.subscribe(
                subject, cb=self._deliver
            )
        # The server handles a connection's commands in order: its PONG
        # means every SUB before it is in place.
        await client.flush(timeout=self._subscribe_timeout)
        if client is self._client:
            self._active |= subjects & self._channels & set(self._subscriptions)
            self._signal.notify()

    async def _deliver(self, message: Any) -> None:
        try:
            self.on_message(message.data)
        except Exception:
            logger.exception("Error handing a group message to the hub")

    async def _receive(self, connection: _Listening) -> None:
        await connection.closed.wait()
        error = connection.client.last_error
        raise ConnectionError(str(error) if error else "the connection closed")

    async def _close_connection(self, connection: _Listening) -> None:
        # The listener closes only the connection it holds, the live one.
        self._client = None
        self._subscriptions = {}
        # Bounded: nats-py's close() can wait forever on a half-broken socket.
        await asyncio.wait_for(connection.client.close(), self.close_timeout)

    async def _request_subscribe(self, channels: set[str]) -> None:
        client = self._client
        if client is not None:
            try:
                await self._subscribe_on(client, channels)
            except Exception as exc:  # the listener reconnects and subscribes again
                logger.debug("SUB failed (%s); the listener will retry.", exc)

    async def _request_unsubscribe(self, channels: set[str]) -> None:
        self._active -= channels
        # Only the live connection's subscriptions are kept (see _close_connection).
        for subject in channels:
            subscription = self._subscriptions.pop(subject, None)
            if subscription is not None:
                try:
                    await subscription.unsubscribe()
                except Exception as exc:
                    logger.debug("UNSUB failed (%s); the listener will resync.", exc)


@dataclass
class _Listening:
    """The listening connection, and the event its callbacks set when it ends."""

    client: Any
    closed: asyncio.Event


def _tls_context(tls: Any) -> ssl.SSLContext:
    """Return the client SSLContext of the ``TLS`` option."""
    if not isinstance(tls, Mapping) or set(tls) - {"CA_FILE", "CERT_FILE", "KEY_FILE"}:
        raise ImproperlyConfigured(
            "WSVIEWS_BACKEND['OPTIONS']['TLS'] must be a dict with CA_FILE, and "
            "CERT_FILE and KEY_FILE for a client certificate; or pass an "
            "ssl.SSLContext as CONNECTION_KWARGS['tls']."
        )
    context = ssl.create_default_context(cafile=tls.get("CA_FILE"))
    if tls.get("CERT_FILE"):
        context.load_cert_chain(tls["CERT_FILE"], tls.get("KEY_FILE"))
    return context


def _without_secrets(url: str) -> str:
    """Return ``url`` without the user and password it may hold."""
    return re.sub(r"//[^/@]*@", "//", url)
