"""The scenarios, their sizes per profile (full, quick, tiny) and their targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks._runner import Row, Scenario, Target

__all__ = ["PROFILES", "SCENARIO_KEYS", "build"]

Get = Callable[[str, str], float | None]

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "e2e_n": 100_000,
        "noop_n": 20_000,
        "redis_n": 20_000,
        "enqueue_n": 20_000,
        "latency_samples": 2_000,
        "redis_latency_samples": 1_000,
        "arq_n": 2_000,
        "arq_latency_samples": 20,
        "backlogs": [1_000, 100_000, 1_000_000],
        "backlog_window": 10_000,
        "drain_memory_n": 1_000_000,
        "fanout_n": 20_000,
        "timers": {"n": 100_000, "gap": 2.0, "spread": 3.0},
        "memory_n": 100_000,
        "churn": 2_000_000,
        "runs": 5,
        "timeout": 900.0,
    },
    "quick": {
        "e2e_n": 20_000,
        "noop_n": 5_000,
        "redis_n": 1_000,
        "enqueue_n": 5_000,
        "latency_samples": 300,
        "redis_latency_samples": 50,
        "arq_n": 300,
        "arq_latency_samples": 3,
        "backlogs": [1_000, 100_000],
        "backlog_window": 5_000,
        "drain_memory_n": 100_000,
        "fanout_n": 3_000,
        "timers": {"n": 10_000, "gap": 0.5, "spread": 0.5},
        "memory_n": 20_000,
        "churn": 50_000,
        "runs": 3,
        "timeout": 120.0,
    },
    "tiny": {
        "e2e_n": 300,
        "noop_n": 100,
        "redis_n": 50,
        "enqueue_n": 100,
        "latency_samples": 10,
        "redis_latency_samples": 5,
        "arq_n": 50,
        "arq_latency_samples": 2,
        "backlogs": [100, 1_000],
        "backlog_window": 100,
        "drain_memory_n": 1_000,
        "fanout_n": 50,
        "timers": {"n": 100, "gap": 0.1, "spread": 0.1},
        "memory_n": 200,
        "churn": 20_000,
        "runs": 1,
        "timeout": 120.0,
    },
}

TRIO = "trio channel (baseline)"
OURS = "checkqueue memory"
OURS_REDIS = "checkqueue redis"
MEMORY_PEERS = {"taskiq_memory": "taskiq InMemoryBroker", "dramatiq_stub": "dramatiq StubBroker"}
REDIS_PEERS = {
    "taskiq_redis": "taskiq-redis ListQueueBroker",
    "dramatiq_redis": "dramatiq RedisBroker",
    "arq": "arq",
    "saq": "saq",
    "bullmq": "BullMQ (node)",
}
CONCURRENT_TASKS = 100
"""Producers enqueueing at once in scenario 2's concurrent rows."""
PYTHON_REDIS_PEERS = [label for key, label in REDIS_PEERS.items() if key != "bullmq"]


def _redis_n(p: dict[str, Any], driver: str) -> int:
    """Jobs per Redis row: arq polls every 0.5 s, so its rows are capped (``arq_n``)."""
    n = int(p["redis_n"])
    return min(n, int(p["arq_n"])) if driver == "arq" else n


def _ratio(get: Get, a: str, b: str, metric: str) -> float | None:
    x, y = get(a, metric), get(b, metric)
    return None if x is None or not y else x / y


def _at_least(
    label: str, base: str, metric: str, factor: float
) -> Callable[[Get], tuple[str, bool | None]]:
    def check(get: Get) -> tuple[str, bool | None]:
        r = _ratio(get, label, base, metric)
        return ("-", None) if r is None else (f"{r:.2f}x", r >= factor)

    return check


def _ahead_of_all(
    label: str, others: list[str], metric: str, factor: float = 1.0
) -> Callable[[Get], tuple[str, bool | None]]:
    def check(get: Get) -> tuple[str, bool | None]:
        ours = get(label, metric)
        theirs = {o: get(o, metric) for o in others}
        present = {o: v for o, v in theirs.items() if v}
        if ours is None or not present:
            return ("-", None)
        best = max(present, key=lambda o: present[o])
        r = ours / present[best]
        return (f"{r:.2f}x the best ({best})", r >= factor)

    return check


def _below(
    label: str, metric: str, limit: float, unit: str
) -> Callable[[Get], tuple[str, bool | None]]:
    def check(get: Get) -> tuple[str, bool | None]:
        v = get(label, metric)
        return ("-", None) if v is None else (f"{v:.3g} {unit}", v < limit)

    return check


def _ratio_at_most(
    label: str, base: str, metric: str, limit: float
) -> Callable[[Get], tuple[str, bool | None]]:
    def check(get: Get) -> tuple[str, bool | None]:
        r = _ratio(get, label, base, metric)
        return ("-", None) if r is None else (f"{r:.2f}", r <= limit)

    return check


def _scenario_a(p: dict[str, Any]) -> Scenario:
    n = p["e2e_n"]
    m = p["drain_memory_n"]
    rows = [
        Row(TRIO, "trio_channel", "live", {"n": n}, ("jobs_per_s", "us_per_job"), "e2e"),
        Row(OURS, "ours_memory", "live", {"n": n}, ("jobs_per_s", "us_per_job"), "e2e"),
        Row(
            f"{OURS}: {m:,}-job backlog drained",
            "ours_memory",
            "drain_memory",
            {"n": m},
            ("drain_jobs_per_s", "start_mb", "full_mb", "peak_mb", "drained_mb", "kept_mb"),
            "memory",
        ),
    ]

    def kept(get: Get) -> tuple[str, bool | None]:
        label = rows[2].label
        start, full, drained = (get(label, k) for k in ("start_mb", "full_mb", "drained_mb"))
        if start is None or full is None or drained is None or full <= start:
            return ("-", None)
        share = (drained - start) / (full - start)
        return (f"{share:.0%} of the backlog's RSS kept", share <= 0.1)

    return Scenario(
        "A",
        f"End to end: {n:,} no-op jobs, one group, vs a bare trio channel (issue 2)",
        rows,
        {"e2e": [TRIO]},
        targets=[
            Target(
                "throughput ≥ 0.5x the bare trio channel", _at_least(OURS, TRIO, "jobs_per_s", 0.5)
            ),
            Target("RSS back near the start once drained (≤ 10% kept)", kept),
        ],
        notes=["Issue 2's backlog ratio (1M vs 1k, enqueue and dispatch) is scenario 4."],
    )


def _scenario_1(p: dict[str, Any]) -> Scenario:
    n, rn = p["noop_n"], p["redis_n"]
    rows: list[Row] = []
    for workload, tag in (("live", "1a live"), ("drain", "1b backlog")):
        section = f"{workload}-memory"
        rows.append(
            Row(f"{tag}: {TRIO}", "trio_channel", workload, {"n": n}, ("jobs_per_s",), section)
        )
        rows.append(
            Row(f"{tag}: {OURS}", "ours_memory", workload, {"n": n}, ("jobs_per_s",), section)
        )
        for driver, label in MEMORY_PEERS.items():
            rows.append(
                Row(f"{tag}: {label}", driver, workload, {"n": n}, ("jobs_per_s",), section)
            )
    for workload, tag in (("live", "1a live"), ("drain", "1b backlog")):
        section = f"{workload}-redis"
        # the worker's process CPU time per job (ours and BullMQ report it)
        metrics = ("jobs_per_s", "cpu_us_per_job")
        rows.append(
            Row(f"{tag}: {OURS_REDIS}", "ours_redis", workload, {"n": rn}, metrics, section, True)
        )
        for driver, label in REDIS_PEERS.items():
            params = {"n": _redis_n(p, driver)}
            rows.append(Row(f"{tag}: {label}", driver, workload, params, metrics, section, True))
    mem_peers = [f"1a live: {label}" for label in MEMORY_PEERS.values()]
    redis_first = [f"1a live: {OURS_REDIS}", *(f"1a live: {v}" for v in REDIS_PEERS.values())]
    return Scenario(
        "1",
        f"No-op throughput ({n:,} jobs in memory, {rn:,} on Redis ({p['arq_n']:,} for arq); "
        "concurrency 10, one process)",
        rows,
        {
            "live-memory": [f"1a live: {TRIO}"],
            "drain-memory": [f"1b backlog: {TRIO}"],
            "live-redis": redis_first,
            "drain-redis": [r.replace("1a live", "1b backlog") for r in redis_first],
        },
        targets=[
            Target(
                "memory 1a ≥ 0.5x the bare trio channel",
                _at_least(f"1a live: {OURS}", f"1a live: {TRIO}", "jobs_per_s", 0.5),
            ),
            Target(
                "memory 1a ≥ 3x the fastest in-memory peer",
                _ahead_of_all(f"1a live: {OURS}", mem_peers, "jobs_per_s", 3.0),
            ),
            Target(
                "Redis 1b ahead of every Python peer",
                _ahead_of_all(
                    f"1b backlog: {OURS_REDIS}",
                    [f"1b backlog: {x}" for x in PYTHON_REDIS_PEERS],
                    "jobs_per_s",
                ),
            ),
            Target(
                "Redis 1a ≥ 2x BullMQ",
                _at_least(
                    f"1a live: {OURS_REDIS}",
                    f"1a live: {REDIS_PEERS['bullmq']}",
                    "jobs_per_s",
                    2.0,
                ),
            ),
            Target(
                "Redis 1b ≥ 2x BullMQ",
                _at_least(
                    f"1b backlog: {OURS_REDIS}",
                    f"1b backlog: {REDIS_PEERS['bullmq']}",
                    "jobs_per_s",
                    2.0,
                ),
            ),
            Target(
                "Redis 1b worker CPU per job ≤ 0.5x BullMQ's",
                _ratio_at_most(
                    f"1b backlog: {OURS_REDIS}",
                    f"1b backlog: {REDIS_PEERS['bullmq']}",
                    "cpu_us_per_job",
                    0.5,
                ),
            ),
        ],
        notes=[
            "Redis rows: ratios to checkqueue redis when it ran, else to the first peer that did."
        ],
    )


def _scenario_2(p: dict[str, Any]) -> Scenario:
    n, rn = p["enqueue_n"], p["redis_n"]
    rows = [
        Row(f"single: {OURS}", "ours_memory", "enqueue", {"n": n}, ("jobs_per_s",), "memory"),
        Row(f"bulk: {OURS}", "ours_memory", "enqueue_bulk", {"n": n}, ("jobs_per_s",), "memory"),
        Row(f"single: {TRIO}", "trio_channel", "enqueue", {"n": n}, ("jobs_per_s",), "memory"),
    ]
    for driver, label in MEMORY_PEERS.items():
        rows.append(Row(f"single: {label}", driver, "enqueue", {"n": n}, ("jobs_per_s",), "memory"))
    rows.append(
        Row(
            f"single: {OURS_REDIS}",
            "ours_redis",
            "enqueue",
            {"n": rn},
            ("jobs_per_s",),
            "redis",
            True,
        )
    )
    rows.append(
        Row(
            f"bulk: {OURS_REDIS}",
            "ours_redis",
            "enqueue_bulk",
            {"n": rn},
            ("jobs_per_s",),
            "redis",
            True,
        )
    )
    tasks = CONCURRENT_TASKS
    for driver, label in (("ours_redis", OURS_REDIS), ("bullmq", REDIS_PEERS["bullmq"])):
        rows.append(
            Row(
                f"concurrent: {tasks} tasks: {label}",
                driver,
                "enqueue_concurrent",
                {"n": rn, "tasks": tasks},
                ("jobs_per_s",),
                "redis",
                True,
            )
        )
    for driver, label in REDIS_PEERS.items():
        params = {"n": _redis_n(p, driver)}
        rows.append(
            Row(f"single: {label}", driver, "enqueue", params, ("jobs_per_s",), "redis", True)
        )
    rows.append(
        Row(
            f"bulk: {REDIS_PEERS['bullmq']}",
            "bullmq",
            "enqueue_bulk",
            {"n": rn},
            ("jobs_per_s",),
            "redis",
            True,
        )
    )
    return Scenario(
        "2",
        f"Enqueue rate, single and bulk ({n:,} jobs in memory, {rn:,} on Redis "
        f"({p['arq_n']:,} for arq); no consumer)",
        rows,
        {
            "memory": [f"single: {OURS}"],
            "redis": [f"single: {OURS_REDIS}", *(f"single: {v}" for v in REDIS_PEERS.values())],
        },
        targets=[
            Target(
                "Redis single ahead of every Python peer",
                _ahead_of_all(
                    f"single: {OURS_REDIS}",
                    [f"single: {x}" for x in PYTHON_REDIS_PEERS],
                    "jobs_per_s",
                ),
            ),
            Target(
                "Redis single ≥ 1.3x BullMQ single",
                _at_least(
                    f"single: {OURS_REDIS}", f"single: {REDIS_PEERS['bullmq']}", "jobs_per_s", 1.3
                ),
            ),
            Target(
                f"Redis concurrent ({CONCURRENT_TASKS} tasks) ≥ 5x single",
                _at_least(
                    f"concurrent: {CONCURRENT_TASKS} tasks: {OURS_REDIS}",
                    f"single: {OURS_REDIS}",
                    "jobs_per_s",
                    5.0,
                ),
            ),
            Target(
                f"Redis concurrent ({CONCURRENT_TASKS} tasks) ≥ BullMQ's",
                _at_least(
                    f"concurrent: {CONCURRENT_TASKS} tasks: {OURS_REDIS}",
                    f"concurrent: {CONCURRENT_TASKS} tasks: {REDIS_PEERS['bullmq']}",
                    "jobs_per_s",
                    1.0,
                ),
            ),
            Target(
                "Redis bulk ≥ 5x single",
                _at_least(f"bulk: {OURS_REDIS}", f"single: {OURS_REDIS}", "jobs_per_s", 5.0),
            ),
            Target(
                "Redis bulk ≥ BullMQ addBulk",
                _at_least(
                    f"bulk: {OURS_REDIS}", f"bulk: {REDIS_PEERS['bullmq']}", "jobs_per_s", 1.0
                ),
            ),
            Target(
                # the issue sets the 5x for Redis, where a call is a round trip; in memory
                # single enqueue is already a few µs, so this one is informative
                "memory bulk ≥ 5x single (informative: the issue's 5x is for Redis)",
                _at_least(f"bulk: {OURS}", f"single: {OURS}", "jobs_per_s", 5.0),
            ),
        ],
    )


def _scenario_3(p: dict[str, Any]) -> Scenario:
    s, rs = p["latency_samples"], p["redis_latency_samples"]
    metrics = ("p50_ms", "p99_ms")
    rows = [
        Row(TRIO, "trio_channel", "latency", {"samples": s}, metrics, "memory"),
        Row(OURS, "ours_memory", "latency", {"samples": s}, metrics, "memory"),
    ]
    for driver, label in MEMORY_PEERS.items():
        rows.append(Row(label, driver, "latency", {"samples": s}, metrics, "memory"))
    rows.append(Row(OURS_REDIS, "ours_redis", "latency", {"samples": rs}, metrics, "redis", True))
    for driver, label in REDIS_PEERS.items():
        samples = min(rs, p["arq_latency_samples"]) if driver == "arq" else rs
        rows.append(Row(label, driver, "latency", {"samples": samples}, metrics, "redis", True))
    return Scenario(
        "3",
        f"Latency, enqueue to handler start, idle queue ({s:,} samples in memory, {rs:,} on Redis "
        f"({p['arq_latency_samples']} for arq))",
        rows,
        {"memory": [TRIO], "redis": [OURS_REDIS, *REDIS_PEERS.values()]},
        higher_is_better=False,
        targets=[
            Target("memory p99 < 1 ms", _below(OURS, "p99_ms", 1.0, "ms")),
            Target("Redis p50 < 2 ms", _below(OURS_REDIS, "p50_ms", 2.0, "ms")),
            Target(
                "Redis p50 ≤ BullMQ's",
                _ratio_at_most(OURS_REDIS, REDIS_PEERS["bullmq"], "p50_ms", 1.0),
            ),
            Target("Redis p99 < 2 ms", _below(OURS_REDIS, "p99_ms", 2.0, "ms")),
        ],
    )


def _scenario_4(p: dict[str, Any]) -> Scenario:
    window = p["backlog_window"]
    backlogs = p["backlogs"]
    rows = [
        Row(
            f"{OURS}: backlog {b:,}",
            "ours_memory",
            "backlog",
            {"backlog": b, "window": window},
            ("dispatch_us", "enqueue_us"),
            "backlog",
        )
        for b in backlogs
    ]
    first, last = rows[0].label, rows[-1].label
    return Scenario(
        "4",
        f"Backlog scaling: µs per job over {window:,} jobs at each backlog (flat is best)",
        rows,
        {"backlog": [first]},
        higher_is_better=False,
        targets=[
            Target(
                f"dispatch per job, {backlogs[-1]:,} vs {backlogs[0]:,} backlog ≤ 1.5",
                _ratio_at_most(last, first, "dispatch_us", 1.5),
            ),
            Target(
                f"enqueue per job, {backlogs[-1]:,} vs {backlogs[0]:,} backlog ≤ 1.5",
                _ratio_at_most(last, first, "enqueue_us", 1.5),
            ),
        ],
    )


def _scenario_5(p: dict[str, Any]) -> Scenario:
    n = p["fanout_n"]
    rows = [
        Row(
            f"{OURS}: {g} group(s)",
            "ours_memory",
            "fanout",
            {"n": n, "groups": g},
            ("per_job_us", "per_delivery_us"),
            "fanout",
        )
        for g in (1, 4, 16)
    ]
    return Scenario(
        "5",
        f"Fan-out: µs per job ({n:,} jobs) to 1, 4 and 16 broadcast groups",
        rows,
        {"fanout": [rows[0].label]},
        higher_is_better=False,
        notes=["Per delivery (job x group) flat means fan-out costs only the extra handler runs."],
    )


def _scenario_6(p: dict[str, Any]) -> Scenario:
    t = p["timers"]
    metrics = ("late_p99_ms", "late_p50_ms", "cpu_idle_share", "cpu_per_timer_us")
    rows = [
        Row(f"{TRIO}: a task per timer", "trio_channel", "timers", dict(t), metrics, "timers"),
        Row(OURS, "ours_memory", "timers", dict(t), metrics, "timers"),
    ]

    def idle(get: Get) -> tuple[str, bool | None]:
        v = get(OURS, "cpu_idle_share")
        return ("-", None) if v is None else (f"{v:.2%} of a core", v < 0.01)

    return Scenario(
        "6",
        f"Timers: {t['n']:,} delayed jobs, delays in [{t['gap']}, {t['gap'] + t['spread']}] s",
        rows,
        {"timers": [rows[0].label]},
        higher_is_better=False,
        targets=[Target("CPU while waiting between deadlines near zero (< 1% of a core)", idle)],
        notes=["cpu_idle_share: CPU seconds per wall second before the first deadline."],
    )


def _scenario_7(p: dict[str, Any]) -> Scenario:
    n, churn = p["memory_n"], p["churn"]
    rows = [
        Row(
            f"{TRIO}: items in the buffer",
            "trio_channel",
            "memory",
            {"n": n},
            ("bytes_per_pending", "bytes_after_drain"),
            "memory",
        ),
        Row(
            OURS,
            "ours_memory",
            "memory",
            {"n": n, "churn": churn},
            ("bytes_per_pending", "bytes_after_drain", "churn_bytes_per_job"),
            "memory",
        ),
    ]

    def growth(get: Get) -> tuple[str, bool | None]:
        v = get(OURS, "churn_bytes_per_job")
        return ("-", None) if v is None else (f"{v:.3g} B/job", v <= 1.0)

    return Scenario(
        "7",
        f"Memory: traced bytes per pending job ({n:,} jobs, payload {{'i': i}}) "
        f"and RSS growth over {churn:,} jobs",
        rows,
        {"memory": [rows[0].label]},
        higher_is_better=False,
        targets=[Target("RSS growth per job through a live queue = 0 (≤ 1 B/job)", growth)],
    )


_BUILDERS = {
    "A": _scenario_a,
    "1": _scenario_1,
    "2": _scenario_2,
    "3": _scenario_3,
    "4": _scenario_4,
    "5": _scenario_5,
    "6": _scenario_6,
    "7": _scenario_7,
}
SCENARIO_KEYS = tuple(_BUILDERS)


def build(
    keys: list[str],
    profile: str,
    *,
    redis: bool = True,
    node: bool = True,
    drivers: set[str] | None = None,
) -> list[Scenario]:
    """The scenarios named by ``keys``, sized for ``profile``, without Redis/node rows if
    asked, and only the rows of ``drivers`` when given."""
    sizes = PROFILES[profile]
    out: list[Scenario] = []
    for key in keys:
        scenario = _BUILDERS[key](sizes)
        scenario.rows = [
            r
            for r in scenario.rows
            if (redis or not r.needs_redis)
            and (node or r.driver != "bullmq")
            and (drivers is None or r.driver in drivers)
        ]
        if scenario.rows:
            out.append(scenario)
    return out
