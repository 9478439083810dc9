"""
A process's presence (django_wsviews.presence_tracker) on Redis and PostgreSQL:
its sweeps announce a dead process's leaves, and it enters its connections
again when its own registration lapsed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_wsviews.backends import BackendConfig, get_backend_config
from django_wsviews.backends.base import BaseBackend
from django_wsviews.presence_tracker import Tracker, store_class
from django_wsviews.testing import capture_broadcasts

from .test_presence_stores import (
    _drop_postgres_tables,
    _drop_redis_keys,
    postgres_options,
    redis_options,
)

T = 10.0


@pytest.fixture(params=["redis", "postgres"])
async def config(request: pytest.FixtureRequest) -> AsyncIterator[BackendConfig]:
    """Return the backend config of a Redis or PostgreSQL backend with a prefix of its own."""
    if request.param == "redis":
        options = redis_options()
        path = "django_wsviews.backends.redis.RedisBackend"
    else:
        options = postgres_options()
        path = "django_wsviews.backends.postgres.PostgresBackend"
    with override_settings(WSVIEWS_BACKEND={"BACKEND": path, "OPTIONS": options}):
        yield get_backend_config()
    if request.param == "postgres":
        await asyncio.to_thread(_drop_postgres_tables, options["PREFIX"])
    else:
        await asyncio.to_thread(_drop_redis_keys, options)


def quiet_tracker(config: BackendConfig) -> Tracker:
    """Return a tracker that beats only when the test calls beat()."""
    tracker = Tracker(config, 30.0)
    tracker.shared = False  # no background task: the test drives the beats
    return tracker


def diffs(capture: Any, side: str) -> list[tuple[str, list[str]]]:
    """Return (group, keys) of the captured presence diffs with keys on ``side``."""
    found = []
    for record in capture:
        event = record.json()
        if event.get("event") == "wsviews.presence_diff" and event[side]:
            found.append((event["group"], sorted(event[side])))
    return found


async def test_a_beat_sweeps_the_dead_and_announces_their_leaves(
    config: BackendConfig,
) -> None:
    """A survivor's beat removes a dead process's connections and sends their leaves, once."""
    dead = store_class(config)(config.options, uuid.uuid4().hex, 0.2)
    await dead.heartbeat()
    group = f"room.{uuid.uuid4().hex[:8]}"
    await dead.join(group, "d1", "user:1", "{}")
    await dead.join(group, "d2", "user:1", "{}")
    one, two = quiet_tracker(config), quiet_tracker(config)
    try:
        await one.join(group, "o1", "user:2", "{}")
        await two.join(group, "t1", "user:3", "{}")
        with capture_broadcasts(group) as capture:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + T
            while not diffs(capture, "leaves"):
                assert loop.time() < deadline, "the dead process was never swept"
                await asyncio.gather(one.beat(), two.beat())
                await asyncio.sleep(0.02)
            assert diffs(capture, "leaves") == [(group, ["user:1"])]
        assert sorted(await one.store.members(group)) == ["user:2", "user:3"]
    finally:
        await dead.close()
        await one.close()
        await two.close()


async def test_a_lapsed_process_enters_its_connections_again(
    config: BackendConfig,
) -> None:
    """Swept while alive, a process finds out at its next beat and sends its joins again."""
    tracker, survivor = quiet_tracker(config), quiet_tracker(config)
    group = f"room.{uuid.uuid4().hex[:8]}"
    try:
        await tracker.join(group, "c1", "user:1", '{"n": 1}')
        await tracker.join(group, "c2", "user:1", '{"n": 2}')
        await survivor.join(group, "s1", "user:2", "{}")
        await _lapse(config, tracker)
        with capture_broadcasts(group) as capture:
            await survivor.beat()
            assert diffs(capture, "leaves") == [(group, ["user:1"])]
            assert "user:1" not in await survivor.store.members(group)
            await tracker.beat()
            assert diffs(capture, "joins") == [(group, ["user:1"])]
        members = await survivor.store.members(group)
        assert members["user:1"] == {"c1": {"n": 1}, "c2": {"n": 2}}
    finally:
        await tracker.close()
        await survivor.close()


async def _lapse(config: BackendConfig, tracker: Tracker) -> None:
    """Make ``tracker``'s registration lapse now, as a long block of its loop would."""
    store: Any = tracker.store
    if config.backend_class.__name__ == "RedisBackend":
        await store._client.delete(store._alive(tracker.process_id))
    else:

        async def work(db: Any) -> None:
            await db.execute(
                f"UPDATE {store._procs} SET expires = now() - interval '1 second' "
                "WHERE process = %s",
                (tracker.process_id,),
            )

        await store._run(work)


def test_a_backend_without_a_store_is_refused() -> None:
    """Presence on a backend class that names no store raises ImproperlyConfigured."""

    class Elsewhere(BaseBackend):
        async def subscribe(self, groups: Any) -> None: ...
        async def unsubscribe(self, groups: Any) -> None: ...
        async def publish(self, group: str, payload: bytes) -> None: ...

    with pytest.raises(ImproperlyConfigured, match="has no presence store"):
        store_class(BackendConfig(Elsewhere, {}))

    class Named(Elsewhere):
        presence_store = "django_wsviews.backends.presence_memory.MemoryPresenceStore"

    assert store_class(BackendConfig(Named, {})).__name__ == "MemoryPresenceStore"


def test_the_default_timeout_bounds_a_dead_process_to_20_seconds() -> None:
    """WSVIEWS_PRESENCE_TIMEOUT is 30 s: registrations last 15 s, renewed and swept every 5 s."""
    from django_wsviews import conf

    assert conf.settings.WSVIEWS_PRESENCE_TIMEOUT == 30.0
    tracker = Tracker(get_backend_config(), conf.settings.WSVIEWS_PRESENCE_TIMEOUT)
    assert tracker.store.ttl == 15.0
    assert tracker.interval == 5.0
    assert tracker.store.ttl + tracker.interval <= 2 / 3 * tracker.timeout
