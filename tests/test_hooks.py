"""HookGate: one hook of a connection at a time, in the order they asked."""

from __future__ import annotations

import asyncio

from django_wsviews.hooks import HookGate

T = 5.0


async def queued(gate: HookGate, count: int) -> None:
    """Return once ``count`` hooks wait for the gate (a bounded number of loop turns)."""
    for _ in range(1000):
        if gate.waiting is not None and len(gate.waiting) == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{count} waiters expected, not {gate.waiting!r}")


def taker(gate: HookGate, name: str, order: list[str]) -> asyncio.Task[None]:
    """Start a task that takes the gate and notes that it has it."""

    async def take() -> None:
        await gate.acquire()
        order.append(name)

    return asyncio.ensure_future(take())


async def test_hooks_take_the_gate_one_at_a_time_in_order() -> None:
    """A free gate is taken at once; the others wait, and get it in turn; the last gives it back."""
    gate = HookGate()
    await asyncio.wait_for(gate.acquire(), T)
    assert gate.busy
    order: list[str] = []
    tasks = [taker(gate, name, order) for name in ("b", "c")]
    await queued(gate, 2)
    assert order == []
    for expected in (["b"], ["b", "c"]):
        gate.release()
        await asyncio.wait_for(tasks[len(expected) - 1], T)
        assert order == expected
        assert gate.busy
    gate.release()
    assert not gate.busy
    await asyncio.wait_for(gate.acquire(), T)  # free again: taken at once
    assert gate.busy


async def test_a_waiter_cancelled_before_its_turn_passes_nothing_on() -> None:
    """A hook cancelled while waiting leaves the gate with its holder; the next still waits."""
    gate = HookGate()
    await gate.acquire()
    order: list[str] = []
    first, second = taker(gate, "b", order), taker(gate, "c", order)
    await queued(gate, 2)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    for _ in range(10):
        await asyncio.sleep(0)
    assert order == []  # the holder still has it
    gate.release()
    await asyncio.wait_for(second, T)
    assert order == ["c"]


async def test_a_waiter_cancelled_once_handed_the_gate_passes_it_on() -> None:
    """A hook handed the gate but cancelled before it ran gives the gate to the next one."""
    gate = HookGate()
    await gate.acquire()
    order: list[str] = []
    first, second = taker(gate, "b", order), taker(gate, "c", order)
    await queued(gate, 2)
    gate.release()  # the gate is now the first waiter's ...
    first.cancel()  # ... which is cancelled before it resumes
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, T)
    assert order == ["c"]
    assert gate.busy
