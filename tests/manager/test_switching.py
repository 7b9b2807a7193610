"""Backend switching: proxies, subscription replay, migration of recurring and pending jobs."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueueConfig,
    QueueJob,
    QueuePluginRegistry,
    QueueProxy,
    RecurringJobDetails,
    open_queue_manager,
)

PROBE = "checkqueue-connection-test"  # the never-started candidate a switch probes


async def test_get_queue_returns_the_same_proxy_before_and_after_a_switch(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """get_queue is synchronous, usable at once, and stable across a switch."""
    seen: list[int] = []

    async def handler(job: QueueJob[int]) -> None:
        seen.append(job.data)

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("emails")
            assert isinstance(proxy, QueueProxy)
            assert manager.get_queue("emails") is proxy
            assert manager.get_queue("other") is not proxy
            # usable at once: the delegate has not started yet, the calls wait for it
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue(1)
            await trio.sleep(1)
            result = await manager.set_active_backend("memory2", {"concurrency": 2})
            assert result.success
            assert manager.get_queue("emails") is proxy
            assert manager.get_active_plugin() == "memory2"
            assert manager.get_active_config() == InMemoryQueueConfig(concurrency=2)
            await proxy.enqueue(2)
            await trio.sleep(1)
    assert seen == [1, 2]


async def test_switch_under_load_loses_nothing_and_runs_nothing_twice(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Jobs keep flowing through a switch: every job runs exactly once in its group."""
    runs: list[int] = []
    running = 0
    peak_after_switch = 0
    switched = False

    async def handler(job: QueueJob[int]) -> None:
        nonlocal running, peak_after_switch
        running += 1
        if switched:
            peak_after_switch = max(peak_after_switch, running)
        try:
            await trio.sleep(0.3)
            runs.append(job.data)
        finally:
            running -= 1

    with trio.fail_after(600):
        async with open_queue_manager(registry, default_config={"concurrency": 1}) as manager:
            proxy = manager.get_queue("work")
            await proxy.consume(handler, consumer_group="g")
            await proxy.consume(handler, consumer_group="g")

            async def produce() -> None:
                for i in range(200):
                    await proxy.enqueue(i, priority=i % 3, start_delay=(i % 5) * 0.2)
                    await trio.sleep(0.05)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                await trio.sleep(4)
                assert 0 < len(runs) < 200
                result = await manager.set_active_backend("memory", {"concurrency": 4})
                switched = True
            assert result.success
            assert result.migrated_pending_jobs > 0
            await trio.sleep(200)  # far more than the remaining work needs
            stats = await proxy.get_stats()
    assert sorted(runs) == list(range(200))
    assert peak_after_switch == 4  # the new config (concurrency 4) is the one running
    assert stats.pending == 0


async def test_every_consumer_of_a_group_is_replayed(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Two consumers in one group (and a second group) all still consume after a switch."""
    seen: dict[str, list[int]] = {"a": [], "b": [], "other": []}

    def make(label: str) -> Any:
        async def handler(job: QueueJob[int]) -> None:
            seen[label].append(job.data)

        return handler

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            await proxy.consume(make("a"), consumer_group="g")
            await proxy.consume(make("b"), consumer_group="g")
            await proxy.consume(make("other"), consumer_group="h")
            await manager.set_active_backend("memory2", {})
            for i in range(4):
                await proxy.enqueue(i)
            await trio.sleep(5)
            assert (await proxy.get_stats()).consumer_groups == 2
    assert sorted(seen["a"] + seen["b"]) == [0, 1, 2, 3]
    assert len(seen["a"]) == 2
    assert len(seen["b"]) == 2
    assert seen["other"] == [0, 1, 2, 3]


async def test_recurring_and_pending_jobs_move_with_their_timing(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Recurring jobs keep next_run_at; pending and delayed jobs keep id, data, priority, delay."""
    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            start = trio.current_time()
            await proxy.schedule_recurring(
                "tick", job_id="every-minute", interval_seconds=60, start_delay=30, priority=2
            )
            await proxy.schedule_recurring(
                "nightly", job_id="nightly", cron_pattern="0 3 * * *", timezone="Europe/Paris"
            )
            await proxy.enqueue("ready", job_id="ready-1", priority=5)
            await proxy.enqueue("later", job_id="later-1", start_delay=100)
            before = {
                job_id: await proxy.get_recurring_job_details(job_id)
                for job_id in ["every-minute", "nightly"]
            }
            await trio.sleep(10)
            # delay_multiplier 0.5 scales start_delay and interval: the first occurrence on
            # the new backend must still come at the recorded next_run_at
            result = await manager.set_active_backend(
                "memory2", InMemoryQueueConfig(delay_multiplier=0.5)
            )
            assert result.success
            assert result.migrated_recurring_jobs == 2
            assert result.migrated_pending_jobs == 2
            assert result.warnings == []
            assert sorted(await proxy.list_recurring_jobs()) == ["every-minute", "nightly"]
            after = {
                job_id: await proxy.get_recurring_job_details(job_id)
                for job_id in ["every-minute", "nightly"]
            }
            for job_id, old in before.items():
                new = after[job_id]
                assert isinstance(old, RecurringJobDetails)
                assert isinstance(new, RecurringJobDetails)
                assert new.next_run_at == old.next_run_at
                assert (new.data, new.priority, new.interval_seconds, new.cron_pattern) == (
                    old.data,
                    old.priority,
                    old.interval_seconds,
                    old.cron_pattern,
                )
            assert after["nightly"] is not None
            assert after["nightly"].timezone == "Europe/Paris"

            got: list[tuple[str, str, int, int, float]] = []

            async def handler(job: QueueJob[str]) -> None:
                got.append(
                    (job.id, job.data, job.priority, job.attempts, trio.current_time() - start)
                )

            await proxy.consume(handler, consumer_group="g")
            await trio.sleep(150)
    by_id = {entry[0]: entry for entry in got}
    assert by_id["ready-1"][1:4] == ("ready", 5, 0)
    assert by_id["ready-1"][4] == pytest.approx(10)
    assert by_id["later-1"][1:4] == ("later", 0, 0)
    assert by_id["later-1"][4] == pytest.approx(100)  # not early, not late
    ticks = sorted(entry[4] for entry in got if entry[0].startswith("every-minute:"))
    # the first occurrence at the recorded time (30 s), then every 60 s * 0.5
    assert ticks[:3] == pytest.approx([30, 60, 90])


async def test_recurring_occurrence_due_during_the_switch_fires_at_once(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """A tick that fell due while the old queue was stopping fires on the new backend at once."""
    starts: list[float] = []

    async def slow(job: QueueJob[str]) -> None:
        starts.append(trio.current_time())
        if len(starts) == 1:
            await trio.sleep(25)  # holds the old queue's stop past the 10 s tick

    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            t0 = trio.current_time()
            await proxy.consume(slow, consumer_group="g")
            await proxy.schedule_recurring("x", job_id="r", interval_seconds=10)
            await trio.sleep(1)
            result = await manager.set_active_backend("memory2", {})
            assert trio.current_time() - t0 == pytest.approx(25)
            assert result.migrated_recurring_jobs == 1
            assert any("running during the switch" in w for w in result.warnings)
            await trio.sleep(21)
    assert [s - t0 for s in starts] == pytest.approx([0, 25, 35, 45])


async def test_calls_from_running_handlers_reach_the_old_queue_without_deadlock(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Handlers finishing during the stop can enqueue, schedule and consume; nothing is lost."""
    log: list[str] = []

    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            other = manager.get_queue("other")

            async def late(job: QueueJob[str]) -> None:
                log.append(f"late:{job.data}")

            async def handler(job: QueueJob[str]) -> None:
                log.append(f"run:{job.data}")
                if job.data == "first":
                    await trio.sleep(5)  # still running when the switch starts
                    await proxy.enqueue("follow-up", job_id="follow-up")
                    await other.enqueue("cross-queue")
                    await proxy.schedule_recurring("r", job_id="rec", interval_seconds=1000)
                    await proxy.consume(late, consumer_group="late")
                    assert await proxy.get_in_flight_count() == 1

            await proxy.consume(handler, consumer_group="g")
            await other.consume(handler, consumer_group="g")
            await proxy.enqueue("first")
            await trio.sleep(1)
            result = await manager.set_active_backend("memory2", {})
            assert result.success
            assert await proxy.list_recurring_jobs() == ["rec"]
            await proxy.enqueue("after")
            await trio.sleep(5)
    assert log.count("run:first") == 1
    assert "run:follow-up" in log
    assert "run:cross-queue" in log
    assert "late:follow-up" in log  # the consumer added during the stop joined the new queue
    assert "late:after" in log
    assert "run:after" in log


async def test_calls_after_the_old_queue_stopped_wait_and_reach_the_new_backend(
    registry: QueuePluginRegistry,
    second_plugin: Any,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An enqueue made while the switch is migrating waits for it and lands on the new queue."""
    order: list[str] = []
    gate = trio.Event()

    async def handler(job: QueueJob[str]) -> None:
        order.append(job.data)
        if job.data == "blocker":
            await gate.wait()

    with trio.fail_after(600):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            await proxy.consume(handler, consumer_group="g")
            await proxy.enqueue("blocker")
            await proxy.enqueue("pending-before", start_delay=50)
            await trio.sleep(1)
            async with trio.open_nursery() as nursery:

                async def switch() -> None:
                    await manager.set_active_backend("memory2", {})
                    order.append("switched")

                nursery.start_soon(switch)
                await trio.testing.wait_all_tasks_blocked()
                gate.set()  # the old queue can now finish stopping
                # enqueues racing the switch: either reach the old queue before it stopped
                # (and are migrated) or wait and go to the new one
                for i in range(3):
                    await proxy.enqueue(f"racing-{i}")
            assert second_plugin.created == [PROBE, "q"]
            await trio.sleep(60)
    assert order.count("blocker") == 1
    assert sorted(x for x in order if x.startswith("racing")) == [
        "racing-0",
        "racing-1",
        "racing-2",
    ]
    assert "pending-before" in order
    assert order.index("switched") < order.index("pending-before")


async def test_get_queue_during_a_switch_lands_on_the_new_backend(
    registry: QueuePluginRegistry,
    second_plugin: Any,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A queue first asked for while a switch runs is created on the new backend."""
    release = trio.Event()
    seen: list[str] = []

    async def blocker(job: QueueJob[str]) -> None:
        await release.wait()

    async def handler(job: QueueJob[str]) -> None:
        seen.append(job.data)

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            old = manager.get_queue("old")
            await old.consume(blocker, consumer_group="g")
            await old.enqueue("x")
            await trio.sleep(1)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(manager.set_active_backend, "memory2", dict[str, Any]())
                await trio.testing.wait_all_tasks_blocked()
                late = manager.get_queue("late")
                assert manager.get_queue("late") is late
                with trio.move_on_after(1) as waited:
                    await late.enqueue("early-call")  # waits for the switch
                assert waited.cancelled_caught
                release.set()
                await late.consume(handler, consumer_group="g")
                await late.enqueue("y")
            await trio.sleep(1)
    assert seen == ["y"]
    assert second_plugin.created == [PROBE, "old", "late"]


async def test_proxy_lifetime_belongs_to_the_manager(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """``async with proxy`` and ``nursery.start(proxy.run)`` raise RuntimeError."""
    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            with pytest.raises(RuntimeError, match="run by its QueueManager"):
                async with proxy:
                    pass
            async with trio.open_nursery() as nursery:
                with pytest.raises(RuntimeError, match="run by its QueueManager"):
                    await nursery.start(proxy.run)
            await proxy.enqueue(1)  # still works


async def test_proxy_stop_stops_only_that_queue_and_switches_leave_it_alone(
    registry: QueuePluginRegistry,
    second_plugin: Any,
    autojump_clock: trio.testing.MockClock,
) -> None:
    """stop() on one proxy stops that queue for good; other queues and switches go on."""
    from checkqueue_actors import QueueStoppedError

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            a = manager.get_queue("a")
            b = manager.get_queue("b")
            await a.enqueue("kept", job_id="kept")
            await a.schedule_recurring("r", job_id="r", interval_seconds=60, start_delay=30)
            await a.stop()
            await a.stop()  # idempotent
            with pytest.raises(QueueStoppedError):
                await a.enqueue("x")
            # reads still answer from the stopped queue, as a stopped queue itself does
            assert (await a.get_stats()).pending == 1
            assert await a.get_in_flight_count() == 0
            assert await a.list_recurring_jobs() == ["r"]
            details = await a.get_recurring_job_details("r")
            assert details is not None
            assert details.interval_seconds == 60
            assert [job.id for job in await a.export_pending()] == ["kept"]
            await b.enqueue("y")
            await manager.set_active_backend("memory2", {})
            assert second_plugin.created == [PROBE, "b"]
            assert manager.get_queue("a") is a
            with pytest.raises(QueueStoppedError):
                await a.enqueue("x")
            assert (await b.get_stats()).pending == 1


async def test_concurrent_switches_run_one_at_a_time(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """Two switches started together both complete, one after the other, losing nothing."""
    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            for i in range(10):
                await proxy.enqueue(i, job_id=f"j{i}")
            results: list[Any] = []

            async def switch(concurrency: int) -> None:
                results.append(
                    await manager.set_active_backend("memory", {"concurrency": concurrency})
                )

            async with trio.open_nursery() as nursery:
                nursery.start_soon(switch, 2)
                nursery.start_soon(switch, 3)
            assert [r.migrated_pending_jobs for r in results] == [10, 10]
            assert manager.version == 2
            assert manager.get_active_config().concurrency in (2, 3)
            assert (await proxy.get_stats()).pending == 10


async def test_switch_keeps_monitoring_working(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """In-flight count, aggregated stats and the recurring list cover every queue."""
    release = trio.Event()

    async def handler(job: QueueJob[int]) -> None:
        if job.data == 0:
            await release.wait()

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            a = manager.get_queue("a")
            b = manager.get_queue("b")
            await a.consume(handler, consumer_group="g")
            await a.enqueue(0)
            await a.enqueue(1)
            await b.enqueue(2)
            await b.enqueue(3, start_delay=5)
            await b.schedule_recurring(9, job_id="r", interval_seconds=60, start_delay=30)
            await trio.sleep(1)
            assert await manager.get_in_flight_job_count() == 1
            stats = await manager.get_aggregated_stats()
            assert (stats.pending, stats.processing, stats.completed, stats.consumer_groups) == (
                2,
                1,
                1,
                1,
            )
            infos = await manager.list_all_recurring_jobs()
            assert len(infos) == 1
            info = infos[0]
            assert (info.queue_name, info.job_id, info.interval_seconds) == ("b", "r", 60)
            assert info.next_run_at is not None
            release.set()
            await manager.set_active_backend("memory2", {})
            infos_after = await manager.list_all_recurring_jobs()
            assert [(i.queue_name, i.job_id, i.next_run_at) for i in infos_after] == [
                ("b", "r", info.next_run_at)
            ]
            details = await b.get_recurring_job_details("r")
            assert details is not None
            assert details.next_run_at == info.next_run_at


async def test_switch_delegate_moves_one_proxy_to_a_given_queue(
    registry: QueuePluginRegistry, autojump_clock: trio.testing.MockClock
) -> None:
    """switch_delegate starts the new queue, replays consumers and moves the jobs over."""
    from checkqueue_actors import InMemoryQueue

    seen: list[tuple[str, float]] = []

    async def handler(job: QueueJob[str]) -> None:
        seen.append((job.data, trio.current_time()))

    with trio.fail_after(60):
        async with open_queue_manager(registry) as manager:
            proxy = manager.get_queue("q")
            t0 = trio.current_time()
            await proxy.enqueue("delayed", start_delay=20)
            await proxy.consume(handler, consumer_group="g")
            await trio.sleep(1)
            new: InMemoryQueue[Any] = InMemoryQueue("q", InMemoryQueueConfig(delay_multiplier=0.5))
            await proxy.switch_delegate(new)
            assert (await new.get_stats()).pending == 1  # the proxy now talks to `new`
            await proxy.enqueue("now")
            await trio.sleep(1)
            assert [d for d, _ in seen] == ["now"]
            # an already running queue is refused and nothing changes
            async with trio.open_nursery() as nursery:
                running: InMemoryQueue[Any] = InMemoryQueue("q")
                await nursery.start(running.run)
                with pytest.raises(RuntimeError, match="already running"):
                    await proxy.switch_delegate(running)
                await running.stop()
            await trio.sleep(30)
            assert (await new.get_stats()).completed == 2
    assert [(d, t - t0) for d, t in seen] == [("now", pytest.approx(1)), ("delayed", 20)]
