"""
The floor: a raw ASGI application with nothing between the server and the code.

Every other app is measured as a ratio to this one, so it does the least
possible work for each route:

* ``/ws/echo/`` (any WebSocket path but the group one) accepts and sends every
  message straight back;
* ``/ws/group/`` joins a process-wide set of members; a text message starting
  with ``broadcast`` is sent, unchanged, to every member. With
  ``BENCH_LAYER=redis`` the message goes through Redis pub/sub first (one
  PUBLISH, one subscriber per process fanning out locally), the least any
  cross-process broadcast can cost;
* ``GET /bench/stats/`` answers with the process's tasks, descriptors and
  memory (``bench/apps/stats.py``, for the ``cycles`` workload);
* any other HTTP request gets a 12-byte ``200 OK``.
"""

import asyncio
import os

from bench.apps.stats import STATS_PATH, snapshot_json

ACCEPT = {"type": "websocket.accept"}


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        if scope["path"] == "/ws/group/":
            await group(receive, send)
        else:
            await echo(receive, send)
    elif scope["type"] == "http":
        if scope["path"] == STATS_PATH:
            await stats(send)
        else:
            await hello(send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)


# --- Echo: the ~20 lines the other apps are compared against --------------


async def echo(receive, send):
    await receive()  # websocket.connect
    await send(ACCEPT)
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect
        await send(
            {
                "type": "websocket.send",
                "text": message.get("text"),
                "bytes": message.get("bytes"),
            }
        )


async def hello(send):
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world"})


async def stats(send):
    body = snapshot_json()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- Group broadcast: a trivial in-process fan-out --------------------------

MEMBERS = set()  # the ``send`` callables of the open /ws/group/ connections
LAYER = os.environ.get("BENCH_LAYER", "memory")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CHANNEL = "wsviews-bench:raw:bench"
_redis = None  # task that connects and subscribes; started by the first member


async def group(receive, send):
    await receive()  # websocket.connect
    if LAYER == "redis":
        await _ensure_subscribed()
    MEMBERS.add(send)
    await send(ACCEPT)
    try:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text") or ""
            if text.startswith("broadcast"):
                if LAYER == "redis":
                    client, _listener = await _redis
                    await client.publish(REDIS_CHANNEL, text)
                else:
                    await fan_out(text)
    finally:
        MEMBERS.discard(send)


async def fan_out(text):
    event = {"type": "websocket.send", "text": text}
    for member_send in list(MEMBERS):
        try:
            await member_send(event)
        except OSError:  # that member has just gone; uvicorn says so with an OSError
            MEMBERS.discard(member_send)


async def _ensure_subscribed():
    global _redis
    if _redis is None:  # created once, before any await, so there is one subscriber
        _redis = asyncio.ensure_future(_subscribe())
    await _redis


async def _subscribe():
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(REDIS_CHANNEL)
    return client, asyncio.create_task(_listen(pubsub))


async def _listen(pubsub):
    async for message in pubsub.listen():
        await fan_out(message["data"].decode())
