"""The runtime's path for storages that do I/O, checked on a virtual clock.

The in-memory storage seen only through the asynchronous storage protocol (its
synchronous ``*_nowait`` methods hidden) makes the runtime take the path a
networked storage takes: pipelined claims (``claim_depth`` 2) read by a second
task, outcomes riding on claims, the outcome writer. The whole conformance suite
and the state machine run against it in virtual time, so that path is checked
exactly, without a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import trio
import trio.lowlevel
import trio.testing
from hypothesis import settings

from checkqueue_actors import InMemoryQueueConfig
from checkqueue_actors._actors.queue import RuntimeQueue
from checkqueue_actors._backends.memory import MemoryStorage
from checkqueue_actors.testing import BulkEnqueueConformance, QueueConformanceTests, wait_until
from checkqueue_actors.testing.stateful import QueueStateMachine
from tests.wait_claims import ClaimKinds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from checkqueue_actors import Queue
    from checkqueue_actors._storage import ClaimTicket, Delivery, Outcome
    from checkqueue_actors.testing import MakeQueue

T = TypeVar("T")


class AsyncOnlyStorage:
    """A ``MemoryStorage`` that shows only the asynchronous protocol, with depth 2."""

    claim_depth = 2

    def __init__(self, inner: MemoryStorage) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_nowait"):
            raise AttributeError(name)  # the runtime takes the I/O path
        return getattr(self._inner, name)


class IoPathQueue(RuntimeQueue[T]):
    """The runtime over ``AsyncOnlyStorage`` (or a subclass of it)."""

    def __init__(
        self,
        name: str,
        config: InMemoryQueueConfig,
        storage: type[AsyncOnlyStorage] = AsyncOnlyStorage,
    ) -> None:
        super().__init__(
            name,
            storage(MemoryStorage(name, config)),  # pyright: ignore[reportArgumentType]  # structural, through __getattr__
            concurrency=config.concurrency,
            delay_multiplier=config.delay_multiplier,
        )


def make_io_path_queue(
    name: str,
    *,
    concurrency: int,
    max_queue_size: int,
    delay_multiplier: float,
    storage: type[AsyncOnlyStorage] = AsyncOnlyStorage,
) -> Queue[Any]:
    """A fresh queue on the I/O path with these settings."""
    config = InMemoryQueueConfig(
        concurrency=concurrency, max_queue_size=max_queue_size, delay_multiplier=delay_multiplier
    )
    return IoPathQueue[Any](name, config, storage)


def test_the_runtime_takes_the_io_path() -> None:
    """The storage is not seen as in-process (no synchronous methods)."""
    queue = IoPathQueue[Any]("q", InMemoryQueueConfig())
    assert queue.local is None
    assert queue.writer is not None


class TestIoPathConformance(BulkEnqueueConformance, QueueConformanceTests):
    """Every rule, on the I/O path, on an autojump clock (virtual mode: exact times)."""

    time_mode = "virtual"

    @pytest.fixture
    def make_queue(self) -> MakeQueue:
        return make_io_path_queue


class IoPathMachine(QueueStateMachine):
    """The state machine on the I/O path (virtual time, the machine's default)."""

    storage: type[AsyncOnlyStorage] = AsyncOnlyStorage
    """The storage wrapper of the queues it makes."""

    def make_queue(
        self, name: str, *, concurrency: int, max_queue_size: int, delay_multiplier: float
    ) -> Queue[Any]:
        return make_io_path_queue(
            name,
            concurrency=concurrency,
            max_queue_size=max_queue_size,
            delay_multiplier=delay_multiplier,
            storage=self.storage,
        )


TestIoPathMachine = IoPathMachine.TestCase


LATE = 0.1
"""Seconds an outcome takes to reach ``LateOutcomesStorage``."""


class LateOutcomesStorage(AsyncOnlyStorage):
    """Outcomes take effect ``LATE`` seconds after they are sent (a slow link), while
    claims are answered at once: the queue holds a job a little while after its last
    handler returned, as a networked backend may."""

    def _apply_later(self, outcomes: Sequence[Outcome]) -> None:
        async def apply() -> None:
            await trio.sleep(LATE)
            await self._inner.settle(outcomes)

        if outcomes:
            trio.lowlevel.spawn_system_task(apply)

    async def send_claim(self, group: str, n: int, outcomes: Sequence[Outcome]) -> ClaimTicket:
        self._apply_later(outcomes)
        ticket: ClaimTicket = await self._inner.send_claim(group, n, ())
        return ticket

    async def settle(self, outcomes: Sequence[Outcome]) -> list[Delivery]:
        self._apply_later(outcomes)
        await trio.lowlevel.checkpoint()
        return []


class LateOutcomesMachine(IoPathMachine):
    """The machine in real mode (on an autojump clock) over late outcomes: before it
    enqueues an id again, it waits until the queue itself no longer holds the job
    (not only until the model saw its handlers finish), or the new job would be taken
    for a duplicate and never delivered."""

    time_mode = "real"
    delay_multiplier = 0.01
    max_queue_size = 1000
    storage = LateOutcomesStorage

    def make_clock(self) -> trio.abc.Clock | None:
        return trio.testing.MockClock(autojump_threshold=0)


TestLateOutcomesMachine = LateOutcomesMachine.TestCase
TestLateOutcomesMachine.settings = settings(max_examples=40)


@pytest.mark.parametrize("wait_claims", [True, False])
async def test_an_idle_group_claims_once_per_poll(
    autojump_clock: object, wait_claims: bool
) -> None:
    """A group with nothing to do claims once each time its wait for work ends (the
    poll interval here): one claim to see whether work came, not a pipelined pair;
    with wait claims, the claim rides behind the wait."""
    queue = IoPathQueue[Any]("q", InMemoryQueueConfig(concurrency=10))
    storage: Any = queue.storage
    inner = storage._inner  # the wrapped MemoryStorage
    inner.work_poll_seconds = 1.0
    inner.wait_claims = wait_claims
    claims = {"plain": 0, "wait": 0}
    send_claim, send_wait_claim = inner.send_claim, inner.send_wait_claim

    async def counted(group: str, n: int, outcomes: Any) -> Any:
        claims["plain"] += 1
        return await send_claim(group, n, outcomes)

    async def counted_wait(group: str, n: int, wait_seconds: float) -> Any:
        claims["wait"] += 1
        return await send_wait_claim(group, n, wait_seconds)

    inner.send_claim, inner.send_wait_claim = counted, counted_wait

    async def handler(job: Any) -> None:
        pass

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await trio.sleep(0.5)
        claims.update(plain=0, wait=0)
        await trio.sleep(10)
        idle = "wait" if wait_claims else "plain"
        assert 9 <= claims[idle] <= 11
        assert claims["plain" if wait_claims else "wait"] == 0
        await queue.enqueue("after")  # and work still comes through at once
        await trio.sleep(0.01)
        assert (await queue.get_stats()).completed == 1


async def test_an_idle_groups_lent_slot_comes_back_when_wanted(autojump_clock: object) -> None:
    """An idle group's wait claim holds the process's only slot (lent); somebody who
    wants a slot gets it back at once, not when the wait ends (never, here: this
    storage's wait has no poll interval), and the group still gets its work."""
    queue = IoPathQueue[Any]("q", InMemoryQueueConfig(concurrency=1))
    done = trio.Event()

    async def handler(job: Any) -> None:
        done.set()

    with trio.fail_after(10):
        async with queue:
            await queue.consume(handler, consumer_group="g")
            await trio.sleep(1)
            assert queue.slots.free == 0  # lent to the idle group's wait claim
            assert await queue.slots.take(1) == 1
            queue.slots.give(1)
            await queue.enqueue("x")
            await done.wait()


async def test_stopping_ends_an_idle_groups_wait_claim(autojump_clock: object) -> None:
    """A queue whose groups wait with a claim behind the wait stops at once (it ends
    the waits), and their slots are free again after."""
    queue = IoPathQueue[Any]("q", InMemoryQueueConfig(concurrency=2))
    # a long poll rather than none: without the interrupt, stopping takes 100 s (and
    # fails below) instead of hanging
    queue.storage._inner.work_poll_seconds = 100  # type: ignore[attr-defined]  # AsyncOnlyStorage

    async def handler(job: Any) -> None:
        pass

    with trio.fail_after(10):
        async with queue:
            await queue.consume(handler, consumer_group="a")
            await queue.consume(handler, consumer_group="b")
            await trio.sleep(1)
            # a slot lent to each waiting group (or to one of them: a group whose lent slot
            # was recalled while the other claimed waits without one until its poll)
            assert queue.slots.free < 2
        assert queue.slots.free == 2


async def test_work_for_an_idle_group_comes_with_its_wait_claim(autojump_clock: object) -> None:
    """A job enqueued while the group waits is delivered by the claim riding behind the
    wait, not by a claim sent after the wait ends."""
    queue = IoPathQueue[Any]("q", InMemoryQueueConfig(concurrency=4))
    kinds = ClaimKinds(getattr(queue.storage, "_inner"))  # noqa: B009  # AsyncOnlyStorage's

    async def handler(job: Any) -> None:
        pass

    async with queue:
        await queue.consume(handler, consumer_group="g")
        await trio.sleep(1)
        await queue.enqueue("x")
        await wait_until(lambda: "x" in kinds.delivered_by, timeout=10)
    assert kinds.delivered_by == {"x": "wait"}
