"""Several worker processes on one server: competing and broadcast groups, one
occurrence per tick across schedulers, and faults (worker SIGKILL, poison job,
server restart with AOF under load, server SIGSTOP). Figures use Jepsen's
``total-queue`` words: lost (acknowledged, never done) must be empty;
duplicates are reported, not failed on (at-least-once)."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors import BackendUnavailableError
from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

from ._agents import Agent, read_ledgers, wait_for
from ._server import RedisServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.redis


class Cluster:
    """Agents of one test, all stopped at the end."""

    def __init__(self, server: RedisServer, tmp_path: Path) -> None:
        self.server = server
        self.prefix = f"m{uuid.uuid4().hex[:8]}"
        self.dir = tmp_path
        self.agents: list[Agent] = []

    def spawn(self, *args: str) -> Agent:
        agent = Agent(self.server, self.prefix, self.dir / f"ledger-{len(self.agents)}", *args)
        self.agents.append(agent.start())
        return agent

    @property
    def ledgers(self) -> list[Path]:
        return [a.ledger for a in self.agents]

    def read(self) -> Any:
        return read_ledgers(self.ledgers)

    def wait_ready(self, n: int, timeout: float = 30.0) -> None:
        assert wait_for(lambda: self.read().ready >= n, timeout), self._stderr()

    def _stderr(self) -> str:
        return "\n".join(a.stderr_text() for a in self.agents if not a.alive())

    def config(self, **overrides: Any) -> RedisQueueConfig:
        return RedisQueueConfig(
            url=self.server.url,
            key_prefix=self.prefix,
            delay_multiplier=0.01,
            connect_timeout=1.0,
            stream_timeout=1.0,
            **overrides,
        )

    def enqueue(self, items: list[tuple[str, Any]]) -> None:
        async def run() -> None:
            async with RedisQueue[Any]("q", self.config()) as queue:
                for job_id, data in items:
                    await queue.enqueue(data, job_id=job_id)

        trio.run(run)

    def stat(self, field: str) -> int:
        value = self.server.command("HGET", f"{self.prefix}:{{q}}:stats", field)
        return int(value) if value is not None else 0

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()


@pytest.fixture
def cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    """Agents on the test's redis-server."""
    c = Cluster(redis_server, tmp_path)
    try:
        yield c
    finally:
        c.stop()


def _report(name: str, **figures: Any) -> None:
    print(f"[{name}] " + " ".join(f"{k}={v}" for k, v in figures.items()))


def test_competing_consumers_in_two_processes_complete_each_job_once(cluster: Cluster) -> None:
    """One group in two processes: 200 jobs, each done once, both processes take part."""
    for _ in range(2):
        cluster.spawn("--group", "W", "--concurrency", "4", "--work", "0.01")
    cluster.wait_ready(2)
    ids = [f"job-{i}" for i in range(200)]
    cluster.enqueue([(i, {"n": i}) for i in ids])
    assert wait_for(lambda: cluster.read().done_ids("W") == set(ids), 60)
    ledger = cluster.read()
    pids = {pid for pids in ledger.start_pids.values() for pid in pids}
    _report("competing", done=len(ledger.done_ids("W")), dup=ledger.duplicated_done("W"))
    assert ledger.duplicated_starts("W") == 0
    assert pids == {a.pid for a in cluster.agents}


def test_broadcast_groups_in_different_processes_each_get_every_job(cluster: Cluster) -> None:
    """Groups B1 and B2 live in different processes; each completes all 100 jobs."""
    cluster.spawn("--group", "B1")
    cluster.spawn("--group", "B2")
    cluster.wait_ready(2)
    ids = {f"job-{i}" for i in range(100)}
    cluster.enqueue([(i, i) for i in sorted(ids)])
    assert wait_for(
        lambda: cluster.read().done_ids("B1") == ids and cluster.read().done_ids("B2") == ids, 60
    )
    ledger = cluster.read()
    assert ledger.duplicated_starts("B1") == ledger.duplicated_starts("B2") == 0
    # a handler logs "done" before its ack is written (acks ride on the next claim or go
    # out in a batch), so the global counter catches up a moment later
    assert wait_for(lambda: cluster.stat("completed") == 200, 10)


def test_three_schedulers_enqueue_one_occurrence_per_tick(cluster: Cluster) -> None:
    """Three processes declare the same interval job: each tick runs once, on the grid."""
    for _ in range(3):
        cluster.spawn("--group", "g", "--schedule-interval", "20")  # 0.2 s with m=0.01
    cluster.wait_ready(3)
    assert wait_for(lambda: len(cluster.read().done_ids("g")) >= 8, 30)
    cluster.stop()
    ledger = cluster.read()
    ticks = sorted(ledger.done_ids("g"))
    assert all(t.startswith("tick:") for t in ticks)
    assert ledger.duplicated_starts("g") == 0
    times = [datetime.fromisoformat(t.removeprefix("tick:").replace("Z", "+00:00")) for t in ticks]
    steps_ms = [round((b - a).total_seconds() * 1000) for a, b in itertools.pairwise(times)]
    _report("schedulers", ticks=len(ticks), dup=ledger.duplicated_done("g"), steps_ms=steps_ms)
    assert all(step > 0 and step % 200 == 0 for step in steps_ms), steps_ms


def test_sigkill_of_a_worker_mid_job_loses_nothing(cluster: Cluster) -> None:
    """Jobs held by a SIGKILLed worker are redelivered after the lease; none is lost."""
    args = ("--group", "W", "--concurrency", "4", "--work", "0.3", "--lease", "1.0")
    victim = cluster.spawn(*args)
    cluster.spawn(*args)
    cluster.wait_ready(2)
    ids = {f"job-{i}" for i in range(40)}
    cluster.enqueue([(i, i) for i in sorted(ids)])

    def victim_busy() -> bool:
        ledger = cluster.read()
        held = [k for k, pids in ledger.start_pids.items() if victim.pid in pids]
        return sum(1 for k in held if k not in ledger.dones) >= 2

    assert wait_for(victim_busy, 30)
    in_flight = [k for k, pids in cluster.read().start_pids.items() if victim.pid in pids]
    in_flight = [k for k in in_flight if k not in cluster.read().dones]
    victim.kill()
    time.sleep(0.5)
    cluster.spawn(*args)
    assert wait_for(lambda: cluster.read().done_ids("W") >= ids, 60)
    ledger = cluster.read()
    lost = ids - ledger.done_ids("W")
    unexpected = ledger.done_ids("W") - ids
    _report(
        "worker-sigkill",
        lost=len(lost),
        unexpected=len(unexpected),
        in_flight_at_kill=len(in_flight),
        dup_starts=ledger.duplicated_starts("W"),
        dup_done=ledger.duplicated_done("W"),
    )
    assert not lost
    assert not unexpected
    assert cluster.stat("failed") == 0
    assert all(k in ledger.dones for k in in_flight)


def test_a_job_that_kills_its_worker_every_time_ends_failed(cluster: Cluster) -> None:
    """A poison job is delivered max_stalls + 1 times, then failed; the others all complete.

    Workers run one job at a time: a job held next to the poison when it kills the
    process stalls too, and could reach the stall limit itself (documented).
    """
    args = ("--group", "W", "--lease", "0.5", "--max-stalls", "2", "--concurrency", "1")
    workers = [cluster.spawn(*args), cluster.spawn(*args)]
    cluster.wait_ready(2)
    ids = {f"job-{i}" for i in range(20)}
    cluster.enqueue([("poison", {"kill": True}), *[(i, i) for i in sorted(ids)]])
    deadline = time.monotonic() + 90
    while cluster.stat("failed") < 1 or not cluster.read().done_ids("W") >= ids:
        assert time.monotonic() < deadline, (cluster.stat("failed"), cluster.read())
        for i, worker in enumerate(workers):
            if not worker.alive():
                workers[i] = cluster.spawn(*args)  # a supervisor restarts dead workers
        time.sleep(0.1)
    ledger = cluster.read()
    deliveries = ledger.starts[("poison", "W")]
    _report("poison", deliveries=deliveries, lost=len(ids - ledger.done_ids("W")))
    assert deliveries == 3
    assert cluster.stat("failed") == 1
    assert ledger.done_ids("W") == ids


def test_server_restart_with_aof_loses_no_acknowledged_enqueue(tmp_path: Path) -> None:
    """SIGKILL + restart of redis-server (appendfsync always) under load: lost = 0."""
    from .conftest import _require_binary  # pyright: ignore[reportPrivateUsage]

    _require_binary()
    server = RedisServer(tmp_path / "aof", appendonly=True, appendfsync="always").start()
    c = Cluster(server, tmp_path)
    try:
        for _ in range(2):
            c.spawn("--group", "W", "--concurrency", "8")
        c.wait_ready(2)
        acked: list[str] = []
        unknown: list[str] = []

        async def restart_soon() -> None:
            await trio.sleep(0.8)
            await trio.to_thread.run_sync(lambda: server.restart(down_for=0.3))

        async def produce() -> None:
            async with RedisQueue[Any]("q", c.config()) as queue, trio.open_nursery() as nursery:
                nursery.start_soon(restart_soon)
                start = trio.current_time()
                i = 0
                while trio.current_time() - start < 2.5:
                    job_id = f"p-{i}"
                    i += 1
                    try:
                        await queue.enqueue(i, job_id=job_id)
                        acked.append(job_id)
                    except BackendUnavailableError:
                        unknown.append(job_id)
                        await trio.sleep(0.05)

        trio.run(produce)
        assert wait_for(lambda: c.read().done_ids("W") >= set(acked), 60)
        ledger = c.read()
        done = ledger.done_ids("W")
        lost = set(acked) - done
        _report(
            "aof-restart",
            acknowledged=len(acked),
            unknown=len(unknown),
            recovered=len(set(unknown) & done),
            lost=len(lost),
            dup_done=ledger.duplicated_done("W"),
        )
        assert acked
        assert unknown  # the outage was seen by the producer
        assert not lost
        assert done <= set(acked) | set(unknown)
    finally:
        c.stop()
        server.stop()


def test_clients_recover_after_the_server_was_sigstopped(cluster: Cluster) -> None:
    """SIGSTOP the server for 3 s (longer than every timeout): workers resume, nothing lost."""
    for _ in range(2):
        cluster.spawn("--group", "W", "--work", "0.05", "--lease", "10")
    cluster.wait_ready(2)
    ids = {f"job-{i}" for i in range(60)}
    cluster.enqueue([(i, i) for i in sorted(ids)])
    assert wait_for(lambda: len(cluster.read().done_ids("W")) >= 5, 30)
    cluster.server.pause()
    try:
        time.sleep(3.0)
    finally:
        cluster.server.resume()
    assert wait_for(lambda: cluster.read().done_ids("W") >= ids, 60)
    ledger = cluster.read()
    _report("server-sigstop", lost=0, dup_done=ledger.duplicated_done("W"))
    assert all(a.alive() for a in cluster.agents)


def test_a_killed_workers_deliveries_come_back_within_two_seconds(cluster: Cluster) -> None:
    """SIGKILL a worker holding two long jobs under a 30 s lease: at default liveness
    (1 s) another process starts both again within 2 s of the kill."""
    args = ("--group", "W", "--concurrency", "2", "--work", "600", "--lease", "30")
    victim = cluster.spawn(*args)
    cluster.wait_ready(1)
    cluster.enqueue([("a", 1), ("b", 2)])
    assert wait_for(lambda: cluster.read().starts[("b", "W")] == 1, 30)
    survivor = cluster.spawn(*args)
    cluster.wait_ready(2)
    killed_at = time.monotonic()
    victim.kill()

    def back() -> bool:
        pids = cluster.read().start_pids
        return all(survivor.pid in pids.get((job, "W"), []) for job in ("a", "b"))

    assert wait_for(back, 30, interval=0.01)
    recovery = time.monotonic() - killed_at
    _report("crash-recovery", seconds=f"{recovery:.2f}", liveness=1.0, lease=30)
    assert recovery < 2.0


def test_a_healthy_long_handler_is_never_redelivered(cluster: Cluster) -> None:
    """Handlers running 6 s (12 liveness periods, 3 leases) in live processes are
    never started twice."""
    args = ("--group", "W", "--concurrency", "2", "--work", "6", "--lease", "2")
    for _ in range(2):
        cluster.spawn(*args, "--liveness", "0.5")
    cluster.wait_ready(2)
    ids = {f"job-{i}" for i in range(4)}
    cluster.enqueue([(i, i) for i in sorted(ids)])
    assert wait_for(lambda: cluster.read().done_ids("W") >= ids, 60)
    ledger = cluster.read()
    _report("long-handlers", dup_starts=ledger.duplicated_starts("W"))
    assert ledger.duplicated_starts("W") == 0
    assert cluster.stat("failed") == 0


def test_a_server_paused_for_ten_seconds_causes_no_duplicate(cluster: Cluster) -> None:
    """SIGSTOP the server for 10 s while every job runs (and still runs after): no
    process is taken for dead when it resumes (nobody could speak), so nothing starts
    twice and no process reports another as gone."""
    for _ in range(2):
        cluster.spawn("--group", "W", "--concurrency", "4", "--work", "13", "--lease", "30")
    cluster.wait_ready(2)
    ids = {f"job-{i}" for i in range(4)}
    cluster.enqueue([(i, i) for i in sorted(ids)])
    assert wait_for(lambda: all(cluster.read().starts[(i, "W")] for i in ids), 30)
    cluster.server.pause()
    try:
        time.sleep(10.0)
    finally:
        cluster.server.resume()
    assert wait_for(lambda: cluster.read().done_ids("W") >= ids, 60)
    ledger = cluster.read()
    assert all(a.alive() for a in cluster.agents)
    cluster.stop()
    verdicts = sum(a.stderr_text().count("stopped answering") for a in cluster.agents)
    _report("server-pause-10s", dup_starts=ledger.duplicated_starts("W"), dead_verdicts=verdicts)
    assert ledger.duplicated_starts("W") == 0
    assert verdicts == 0
