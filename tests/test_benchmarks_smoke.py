"""Every benchmark scenario runs in a tiny mode, so the suite cannot rot (no speed asserted).

Peers that are not installed (CI installs only ``.[test]``) become skipped rows; Redis
rows run against a throwaway loopback redis-server when the binary is there.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from benchmarks.__main__ import main
from benchmarks.scenarios import SCENARIO_KEYS

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.slow
def test_every_scenario_runs_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the peers' drivers are exercised by --quick; here only ours and the baseline run
    ours = "trio_channel,ours_memory,ours_redis"
    status = main(["--tiny", "--drivers", ours, "--runs", "1", "--out", str(tmp_path)])
    assert status == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert [s["key"] for s in data["scenarios"]] == list(SCENARIO_KEYS)
    rows = {row["driver"]: row for s in data["scenarios"] for row in s["rows"]}
    # our own drivers and the trio baseline must always produce numbers
    for scenario in data["scenarios"]:
        for row in scenario["rows"]:
            if row["driver"] in ("ours_memory", "trio_channel"):
                assert row["skipped"] is None, row
                assert row["median"], row
            if row["driver"] == "ours_redis" and row["skipped"] != "no redis-server":
                assert row["median"], row  # bulk enqueue included
    assert "ours_memory" in rows
    assert (tmp_path / "results.svg").read_text().startswith("<svg")
    assert "| target | measured | met |" in (tmp_path / "results.md").read_text()
    assert "checkqueue memory" in capsys.readouterr().out


def test_unknown_scenario_is_refused(tmp_path: Path) -> None:
    assert main(["--tiny", "--scenario", "Z", "--out", str(tmp_path)]) == 2


def test_unknown_driver_is_refused(tmp_path: Path) -> None:
    assert main(["--tiny", "--drivers", "nope", "--out", str(tmp_path)]) == 2


def test_list_jobs_benchmark_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.list_jobs import main as list_jobs

    if list_jobs(["--jobs", "10000", "--runs", "1"]) == 1:
        pytest.skip("no redis-server binary")
    out = capsys.readouterr().out
    assert "| `get_job(id)` | 1 |" in out
    for state in ("waiting", "delayed", "retrying", "running"):
        assert f'`list_jobs(state="{state}")` | 100 |' in out
    assert "`list_jobs() (any state)` | 100 |" in out


@pytest.mark.parametrize("workload", ["enqueue", "concurrent", "live", "drain"])
def test_per_job_cost_runs_tiny(workload: str, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.per_job_cost import main as per_job_cost

    assert per_job_cost([workload, "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{workload} n=50: ")
    assert "client CPU" in out
    assert "server CPU" in out
    assert "evalsha" in out


def test_per_job_cost_roundtrip_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.per_job_cost import main as per_job_cost

    assert per_job_cost(["roundtrip", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "blocking socket, no event loop",
        "fast client under trio, busy_poll_us=0",
        "fast client under trio, busy_poll_us=100",
        "RedisQueue.enqueue, busy_poll_us=100",
        "RedisQueue.enqueue, busy_poll_us=0",
    ]
    assert all(" us/call, CPU " in line for line in lines)


@pytest.mark.parametrize("workload", ["single", "live"])
def test_busy_poll_benchmark_runs_tiny(workload: str, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.busy_poll import main as busy_poll

    assert busy_poll([workload, "--jobs", "20", "--rounds", "2", "--settings", "0,100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        f"{workload} busy_poll_us=0",
        f"{workload} busy_poll_us=100",
    ]
    assert "paired ratio to busy_poll_us=0: median 1.000 (range 1.000-1.000)" in lines[0]


@pytest.mark.parametrize("workload", ["live", "drain"])
def test_instruments_benchmark_runs_tiny(workload: str, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.instruments import main as instruments

    assert (
        instruments(
            [
                "--workload",
                workload,
                "--jobs",
                "200",
                "--processes",
                "1",
                "--rounds",
                "2",
                "--setups",
                "prometheus,otel_unset",
            ]
        )
        == 0
    )
    rows = [line.split(" | ")[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows == ["| none", "| prometheus", "| otel_unset"]


def test_instruments_benchmark_refuses_an_unknown_setup() -> None:
    from benchmarks.instruments import main as instruments

    with pytest.raises(SystemExit):
        instruments(["--setups", "nope"])


def test_per_job_cost_wake_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.per_job_cost import main as per_job_cost

    assert per_job_cost(["wake", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["two hops", "one hop"]
    assert all(line.endswith("(20 samples)") for line in lines)
