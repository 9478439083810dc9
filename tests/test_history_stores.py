"""
The history stores (django_wsviews.backends.history_*), on memory, Redis and PostgreSQL.

Each backend instance stands for one process: a store publishes through
one and the messages are received by another's subscription. Redis and
PostgreSQL are the shared test servers, with a prefix of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import override_settings

from django_wsviews import BroadcastError, history
from django_wsviews.backends import history_memory
from django_wsviews.backends.history_base import HistoryLimits, Seq, with_seq
from django_wsviews.backends.redis import RedisBackend
from django_wsviews.envelope import GroupMessage, decode, encode_message

from .support.groups_support import Inbox, RedisServer, spare_port
from .test_backend_contract import KITS, Kit

KEEP = HistoryLimits(max_messages=5)
HISTORY = {"h.*": {"MAX_MESSAGES": 5}}


@pytest.fixture(params=["memory", "redis", "postgres"])
async def kit(request: pytest.FixtureRequest) -> AsyncIterator[Kit]:
    """Return the kit of each backend with a history store; drop what it kept after."""
    made = KITS[request.param]()
    history_memory.forget()
    yield made
    if request.param == "postgres" and made.made:
        backend = made.made[0]
        connection = await backend._publishing_connection()
        prefix = backend._prefix
        await connection.execute(
            f"DROP TABLE IF EXISTS {prefix}_history, {prefix}_history_epoch"
        )
    await made.close()


def message(n: int) -> bytes:
    """Return the wire form of JSON message ``n``."""
    return encode_message("h.room", json.dumps({"n": n}))


def seqs_of(payloads: list[bytes]) -> list[str | None]:
    """Return the seqs of decoded payloads."""
    return [m.seq for m in map(decode, payloads) if isinstance(m, GroupMessage)]


async def test_publish_numbers_keeps_and_delivers_in_order(kit: Kit) -> None:
    """Each message gets the next offset of one epoch; subscribers get it with its seq."""
    inbox = Inbox()
    listener = kit.make(inbox)
    await listener.subscribe(["h.room"])
    store = history.store_for(kit.make())
    seqs = [await store.publish("h.room", message(n), KEEP) for n in range(3)]
    assert [s.offset for s in seqs] == [1, 2, 3]
    assert len({s.epoch for s in seqs}) == 1
    received = [decode(p) for p in await inbox.wait_for(3)]
    assert [m.seq for m in received] == [str(s) for s in seqs]  # type: ignore[union-attr]
    first = received[0]
    assert isinstance(first, GroupMessage)
    assert first.json() == {"seq": str(seqs[0]), "n": 0}


async def test_read_after_an_offset(kit: Kit) -> None:
    """A read returns the epoch, the last offset and the messages after the one asked for."""
    store = history.store_for(kit.make())
    seqs = [await store.publish("h.room", message(n), KEEP) for n in range(4)]
    read = await store.read("h.room", 2, KEEP)
    assert read.epoch == seqs[0].epoch
    assert read.last == 4
    assert [offset for offset, _ in read.entries] == [3, 4]
    assert seqs_of([p for _, p in read.entries]) == [str(seqs[2]), str(seqs[3])]


async def test_unknown_group_reads_empty(kit: Kit) -> None:
    """A group that never had a message has no epoch."""
    store = history.store_for(kit.make())
    read = await store.read("h.never", 0, KEEP)
    assert (read.epoch, read.last, read.entries) == (None, 0, [])


async def test_trimmed_to_max_messages(kit: Kit) -> None:
    """Only the last MAX_MESSAGES are kept; the offsets go on."""
    store = history.store_for(kit.make())
    for n in range(8):
        await store.publish("h.room", message(n), KEEP)
    read = await store.read("h.room", 0, KEEP)
    assert [offset for offset, _ in read.entries] == [4, 5, 6, 7, 8]
    assert read.last == 8


async def test_expired_by_max_age(kit: Kit) -> None:
    """Messages older than MAX_AGE are not returned."""
    store = history.store_for(kit.make())
    short = HistoryLimits(max_messages=100, max_age=0.2)
    await store.publish("h.room", message(0), short)
    read = await store.read("h.room", 0, short)
    assert [offset for offset, _ in read.entries] == [1]
    await asyncio.sleep(0.3)  # the age limit is wall-clock time itself
    await store.publish("h.room", message(1), short)
    read = await store.read("h.room", 0, short)
    assert [offset for offset, _ in read.entries] == [2]


async def test_two_processes_share_one_numbering(kit: Kit) -> None:
    """Broadcasts from two backends at once get distinct offsets, received in order."""
    inbox = Inbox(timeout=15)
    listener = kit.make(inbox)
    await listener.subscribe(["h.room"])
    a, b = history.store_for(kit.make()), history.store_for(kit.make())

    async def burst(store: Any, base: int) -> None:
        for n in range(30):
            await store.publish("h.room", message(base + n), KEEP)

    await asyncio.gather(burst(a, 0), burst(b, 100))
    offsets = [Seq.parse(s).offset for s in seqs_of(await inbox.wait_for(60))]  # type: ignore[union-attr]
    assert offsets == list(range(1, 61))


async def test_lost_history_gets_a_new_epoch(kit: Kit, request: Any) -> None:
    """When the store loses a group's history, the next broadcast starts a new epoch."""
    backend = kit.make()
    store = history.store_for(backend)
    before = await store.publish("h.room", message(0), KEEP)
    await store.publish("h.room", message(1), KEEP)
    await lose_history(backend)
    after = await store.publish("h.room", message(2), KEEP)
    assert after.epoch != before.epoch
    read = await store.read("h.room", 0, KEEP)
    assert read.epoch == after.epoch
    assert [offset for offset, _ in read.entries] == [after.offset]


async def lose_history(backend: Any) -> None:
    """Lose every group's history, as a restart of the backend's server would."""
    kind = type(backend).__name__
    if kind == "MemoryBackend":
        history_memory.forget()
    elif kind == "RedisBackend":
        keys = await backend._publisher.keys(f"{backend._prefix}history*")
        await backend._publisher.delete(*keys)
    else:
        connection = await backend._publishing_connection()
        await connection.execute(f"TRUNCATE {backend._prefix}_history_epoch")


async def test_large_message_round_trip(kit: Kit) -> None:
    """A message larger than one NOTIFY keeps its seq and content."""
    inbox = Inbox()
    listener = kit.make(inbox)
    await listener.subscribe(["h.room"])
    store = history.store_for(kit.make())
    big = encode_message("h.room", json.dumps({"text": "é" * 20000}))
    seq = await store.publish("h.room", big, KEEP)
    [payload] = await inbox.wait_for(1)
    received = decode(payload)
    assert isinstance(received, GroupMessage)
    assert received.json() == {"seq": str(seq), "text": "é" * 20000}
    read = await store.read("h.room", 0, KEEP)
    assert read.entries == [(1, payload)]


@override_settings(WSVIEWS_HISTORY=HISTORY)
async def test_resume_replays_what_was_missed(kit: Kit) -> None:
    """resume() returns the messages after the client's seq, and the seq to drop live ones through."""
    backend = kit.make()
    store = history.store_for(backend)
    seqs = [await store.publish("h.room", message(n), KEEP) for n in range(4)]
    result = await history.resume(backend, "h.room", str(seqs[1]))
    assert not result.reset
    assert [m.seq for m in result.messages] == [str(seqs[2]), str(seqs[3])]
    assert result.through == seqs[3]
    live = GroupMessage("h.room", "{}", seq=str(seqs[3]))
    assert result.is_duplicate(live)
    assert not result.is_duplicate(
        GroupMessage("h.room", "{}", seq=f"{seqs[3].epoch}:5")
    )


@override_settings(WSVIEWS_HISTORY=HISTORY)
async def test_resume_up_to_date(kit: Kit) -> None:
    """A client that saw the last message gets nothing, and no reset."""
    backend = kit.make()
    store = history.store_for(backend)
    seq = await store.publish("h.room", message(0), KEEP)
    result = await history.resume(backend, "h.room", str(seq))
    assert (result.reset, result.messages, result.through) == (False, (), seq)


@override_settings(WSVIEWS_HISTORY=HISTORY)
async def test_resume_resets(kit: Kit) -> None:
    """Trimmed past the client, another epoch, a future offset or a malformed seq: reset."""
    backend = kit.make()
    store = history.store_for(backend)
    seqs = [await store.publish("h.room", message(n), KEEP) for n in range(8)]
    epoch = seqs[0].epoch
    for last in (
        f"{epoch}:1",  # 2 and 3 were trimmed
        f"{epoch}:0",
        f"{epoch}:9",  # past the last offset
        "beef:7",  # another epoch
        "nonsense",
        f"{epoch}:-1",
        f"{epoch}:{'9' * 19}",
        "",
    ):
        result = await history.resume(backend, "h.room", last)
        assert result.reset, last
        assert result.through is None
    assert not (await history.resume(backend, "h.room", f"{epoch}:3")).reset


@override_settings(WSVIEWS_HISTORY=HISTORY)
async def test_resume_after_lost_history_resets(kit: Kit) -> None:
    """A seq from before the history was lost gets a reset, also before any new broadcast."""
    backend = kit.make()
    store = history.store_for(backend)
    seq = await store.publish("h.room", message(0), KEEP)
    await lose_history(backend)
    assert (await history.resume(backend, "h.room", str(seq))).reset
    await store.publish("h.room", message(1), KEEP)
    assert (await history.resume(backend, "h.room", str(seq))).reset


def test_with_seq_puts_the_seq_first_in_the_header() -> None:
    """with_seq() makes the same bytes as the server-side splice: decoded, data carries the seq."""
    payload = with_seq(encode_message("h.room", ' {"a": 1}', sender="me"), "ab12:7")
    decoded = decode(payload)
    assert isinstance(decoded, GroupMessage)
    assert decoded.seq == "ab12:7"
    assert decoded.sender == "me"
    assert decoded.json() == {"seq": "ab12:7", "a": 1}
    empty = decode(with_seq(encode_message("h.room", "{ }"), "ab12:8"))
    assert isinstance(empty, GroupMessage)
    assert empty.json() == {"seq": "ab12:8"}


def test_seq_parse() -> None:
    """Seq.parse() takes "<epoch>:<offset>" and refuses anything else with None."""
    assert Seq.parse("ab12:7") == Seq("ab12", 7)
    assert str(Seq("ab12", 7)) == "ab12:7"
    for bad in (
        None,
        7,
        "ab12",
        ":7",
        "AB:7",
        "ab:x",
        "ab:7:8",
        "a" * 33 + ":1",
        "ab: 7",
    ):
        assert Seq.parse(bad) is None, bad


@pytest.mark.parametrize("kind", ["redis", "postgres"])
async def test_unreachable_store_fails_naming_group_server_and_cause(kind: str) -> None:
    """With its server unreachable, a store's publish and read raise BroadcastError saying for which group, where and why."""
    kit = KITS[kind]()
    backend = kit.make(**kit.via(spare_port()))
    store = history.store_for(backend)
    start = (
        f"Could not broadcast to group 'h.room': {backend._where()} is unreachable ("
    )
    for attempt in (
        store.publish("h.room", message(0), KEEP),
        store.read("h.room", 0, KEEP),
    ):
        with pytest.raises(BroadcastError) as error:
            await attempt
        text = str(error.value)
        assert text.startswith(start), text
        cause = text[len(start) :].partition("). Open connections stay up")[0]
        assert cause not in ("", "None"), text
        assert str(error.value.__cause__) == cause
    await kit.close()


async def test_store_recovers_after_its_tables_are_dropped() -> None:
    """A PostgreSQL store whose tables were dropped (a restored database) fails once, then makes them again."""
    kit = KITS["postgres"]()
    backend = kit.make()
    store = history.store_for(backend)
    await store.publish("h.room", message(0), KEEP)
    connection = await backend._publishing_connection()
    prefix = backend._prefix
    await connection.execute(f"DROP TABLE {prefix}_history, {prefix}_history_epoch")
    with pytest.raises(BroadcastError):
        await store.publish("h.room", message(1), KEEP)
    seq = await store.publish("h.room", message(2), KEEP)
    read = await store.read("h.room", 0, KEEP)
    assert [offset for offset, _ in read.entries] == [seq.offset]
    connection = await backend._publishing_connection()  # the failure closed the first
    await connection.execute(f"DROP TABLE {prefix}_history, {prefix}_history_epoch")
    await kit.close()


@pytest.fixture
async def private_redis(tmp_path: pathlib.Path) -> AsyncIterator[Any]:
    """Return a redis-server of the test's own and a backend on it; kill and close them after."""
    server = RedisServer(tmp_path)
    server.start()
    backend = RedisBackend({"URL": server.url, "PREFIX": "own"}, Inbox())
    try:
        yield server, backend
    finally:
        await backend.close()
        server.kill()


@override_settings(WSVIEWS_HISTORY=HISTORY)
async def test_redis_restored_from_a_snapshot_starts_a_new_epoch(
    private_redis: Any,
) -> None:
    """A Redis server back from an older snapshot gives a reset and a new epoch, never offsets again."""
    server, backend = private_redis
    store = history.store_for(backend)
    for n in range(3):
        await store.publish("h.room", message(n), KEEP)
    await backend._publisher.save()  # the snapshot holds offsets 1 to 3
    seen = [await store.publish("h.room", message(n), KEEP) for n in (3, 4)]
    server.kill()
    await asyncio.to_thread(server.start)  # loads the snapshot: offset 3
    assert (await store.read("h.room", 0, KEEP)).epoch is None
    for last in (seen[-1], seen[0].epoch + ":2"):
        assert (await history.resume(backend, "h.room", str(last))).reset, last
    after = await store.publish("h.room", message(5), KEEP)
    assert (after.epoch != seen[0].epoch, after.offset) == (True, 1)
    assert (await history.resume(backend, "h.room", str(seen[-1]))).reset
    read = await store.read("h.room", 0, KEEP)
    assert (read.epoch, [offset for offset, _ in read.entries]) == (after.epoch, [1])


@override_settings(WSVIEWS_HISTORY=HISTORY)
async def test_redis_history_is_kept_while_its_server_runs(private_redis: Any) -> None:
    """Without a restart the epoch stays: a resume after the server wrote a snapshot replays."""
    _, backend = private_redis
    store = history.store_for(backend)
    first = await store.publish("h.room", message(0), KEEP)
    await backend._publisher.save()
    second = await store.publish("h.room", message(1), KEEP)
    assert second.epoch == first.epoch
    result = await history.resume(backend, "h.room", str(first))
    assert (result.reset, result.through) == (False, second)
