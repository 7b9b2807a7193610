"""Slots: a counted concurrency limit whose waiters are served in the order they came."""

from __future__ import annotations

import trio
import trio.testing

from checkqueue_actors._actors.slots import Slots


def test_take_nowait_takes_what_is_free() -> None:
    """Up to ``want`` slots at once, never more than are free."""
    slots = Slots(3)
    assert slots.take_nowait(2) == 2
    assert slots.take_nowait(2) == 1
    assert slots.take_nowait(1) == 0
    slots.give(3)
    assert slots.free == 3


async def test_waiters_are_served_first_come_first_served() -> None:
    """A slot given back goes to the oldest waiter, not to a later take_nowait."""
    slots = Slots(1)
    assert slots.take_nowait(1) == 1
    order: list[str] = []

    async def waiter(name: str) -> None:
        got = await slots.take(5)
        order.append(f"{name}:{got}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, "a")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(waiter, "b")
        await trio.testing.wait_all_tasks_blocked()
        assert slots.waiters == 2
        assert slots.take_nowait(1) == 0  # others wait in line
        slots.give(1)
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["a:1"]
        slots.give(1)
    assert order == ["a:1", "b:1"]
    assert slots.free == 0


async def test_a_cancelled_waiter_leaves_the_line_and_returns_a_grant() -> None:
    """Cancelling a waiter loses no slot, whether or not it was granted one."""
    slots = Slots(1)
    assert slots.take_nowait(1) == 1
    with trio.move_on_after(0.01):
        await slots.take(1)
    assert slots.waiters == 0
    slots.give(1)
    assert slots.free == 1


async def test_notify_when_free_fires_once_enough_slots_are_given_back() -> None:
    """A router with a claim on the way is told when a second claim is worth sending."""
    slots = Slots(4)
    assert slots.take_nowait(4) == 4
    event = trio.Event()
    slots.notify_when_free(2, event)
    slots.give(1)
    assert not event.is_set()
    slots.give(1)
    assert event.is_set()
    assert slots.free == 2  # told, not given: the slots stay free for whoever takes them
    ready = trio.Event()
    slots.notify_when_free(1, ready)
    assert ready.is_set()  # already free
