"""Run scenarios: one subprocess per measurement, medians, ratios, targets, table, JSON, SVG."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Row", "Scenario", "Target", "add_baseline_rows", "machine_info", "run_scenarios"]

REDIS_SERVER = "/usr/bin/redis-server"


@dataclass(frozen=True)
class Row:
    """One measured line: a driver running a workload."""

    label: str
    driver: str
    workload: str
    params: dict[str, Any]
    metrics: tuple[str, ...]
    """Metrics to show; the first one gets the ratio to the baseline."""
    section: str = ""
    """Rows of one section share a baseline (the first available of ``baselines``)."""
    needs_redis: bool = False
    root: Path | None = None
    """The checkout whose drivers (and so whose checkqueue_actors) run this row; None:
    this one. ``--baseline DIR`` adds rows run from another checkout, for side-by-side
    comparisons of two versions in one interleaved run."""


@dataclass(frozen=True)
class Target:
    """A goal: ``check(get)`` returns the measured text and whether it is met (None: unknown)."""

    text: str
    check: Callable[[Callable[[str, str], float | None]], tuple[str, bool | None]]


@dataclass
class Scenario:
    """A set of rows measured together, their baselines and targets."""

    key: str
    title: str
    rows: list[Row]
    baselines: dict[str, list[str]]
    """section -> labels to use as the ratio's baseline, first available wins."""
    higher_is_better: bool = True
    targets: list[Target] = field(default_factory=list[Target])
    notes: list[str] = field(default_factory=list[str])


@dataclass
class RowResult:
    """Every run of one row, and their medians."""

    row: Row
    runs: list[dict[str, float]] = field(default_factory=list[dict[str, float]])
    skipped: str | None = None
    median: dict[str, float] = field(default_factory=dict[str, float])
    ratio: float | None = None
    baseline: str | None = None


def add_baseline_rows(scenarios: list[Scenario], root: Path) -> None:
    """Beside every row of our own drivers, a twin row run from the checkout ``root``
    (labelled ``"... @ baseline"``), measured in the same interleaved runs."""
    for scenario in scenarios:
        rows: list[Row] = []
        for row in scenario.rows:
            rows.append(row)
            if row.driver.startswith("ours_"):
                rows.append(replace(row, label=f"{row.label} @ baseline", root=root))
        scenario.rows = rows


# -- processes --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A throwaway loopback redis-server without persistence; yields its URL (None: none)."""
    binary = shutil.which("redis-server") or (
        REDIS_SERVER if os.path.exists(REDIS_SERVER) else None
    )
    if binary is None:
        yield None
        return
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="cq-bench-redis-")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
         "no", "--dir", workdir, "--protected-mode", "yes", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if _redis_command(port, "PING") == b"+PONG":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                yield None
                return
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _redis_command(port: int, *words: str) -> bytes:
    payload = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload.encode())
        return sock.recv(64).strip()


def _flush(url: str) -> None:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    _redis_command(port, "FLUSHALL")


def _measure(
    row: Row, params: dict[str, Any], timeout: float
) -> tuple[dict[str, float] | None, str]:
    """Run one measurement in a fresh interpreter: (metrics, "") or (None, why skipped)."""
    cmd = [sys.executable, "-m", "benchmarks.peers", row.driver, row.workload, json.dumps(params)]
    # ``python -m`` puts the working directory first on sys.path: the row's checkout wins
    root = row.root if row.root is not None else Path(__file__).resolve().parent.parent
    try:
        proc = subprocess.run(
            cmd, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:]), ""
        if line.startswith("SKIP "):
            return None, line[5:]
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"failed (exit {proc.returncode}): {tail[:200]}"


# -- running ----------------------------------------------------------------------------------


def _derive(row: Row, metrics: dict[str, float]) -> dict[str, float]:
    out = dict(metrics)
    n = row.params.get("n")
    if "seconds" in out and n:
        out["jobs_per_s"] = n / out["seconds"] if out["seconds"] > 0 else float("inf")
        out["us_per_job"] = out["seconds"] / n * 1e6
    return out


def run_scenarios(
    scenarios: list[Scenario],
    *,
    runs: int,
    timeout: float,
    log: Callable[[str], None],
) -> list[list[RowResult]]:
    """Measure every scenario (rows interleaved run by run) and fill in medians and ratios."""
    need_redis = any(row.needs_redis for s in scenarios for row in s.rows)
    all_results: list[list[RowResult]] = []
    with redis_server() if need_redis else _nothing() as url:
        if need_redis and url is None:
            log("note: no redis-server found; Redis rows are skipped")
        for scenario in scenarios:
            log(f"\n== {scenario.key}: {scenario.title}")
            results = [RowResult(row) for row in scenario.rows]
            for result in results:
                if result.row.needs_redis and url is None:
                    result.skipped = "no redis-server"
            for run in range(runs):
                order = results[run % len(results) :] + results[: run % len(results)]
                for result in order:
                    if result.skipped is not None:
                        continue
                    row = result.row
                    params = dict(row.params)
                    if row.needs_redis:
                        assert url is not None
                        _flush(url)
                        params["redis_url"] = url
                    t0 = time.perf_counter()
                    metrics, why = _measure(row, params, timeout)
                    spent = time.perf_counter() - t0
                    if metrics is None:
                        result.skipped = why
                        log(f"  [{run + 1}/{runs}] {row.label:<38} skipped: {why}")
                        continue
                    metrics = _derive(row, metrics)
                    result.runs.append(metrics)
                    shown = ", ".join(f"{m}={_fmt(metrics.get(m))}" for m in row.metrics)
                    log(f"  [{run + 1}/{runs}] {row.label:<38} {shown}  ({spent:.1f} s)")
            _summarise(scenario, results)
            all_results.append(results)
            log(render_table(scenario, results))
    return all_results


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _summarise(scenario: Scenario, results: list[RowResult]) -> None:
    for result in results:
        if result.runs:
            keys = result.runs[0].keys()
            result.median = {k: statistics.median(r[k] for r in result.runs) for k in keys}
    by_label = {r.row.label: r for r in results}
    for result in results:
        if not result.median:
            continue
        for label in scenario.baselines.get(result.row.section, []):
            base = by_label.get(label)
            if base is not None and base.median:
                metric = result.row.metrics[0]
                value, ref = result.median.get(metric), base.median.get(metric)
                if value is not None and ref:
                    result.ratio = value / ref
                    result.baseline = label
                break


def getter(results: list[RowResult]) -> Callable[[str, str], float | None]:
    """``get(label, metric)``: a row's median, None when skipped."""
    by_label = {r.row.label: r for r in results}

    def get(label: str, metric: str) -> float | None:
        result = by_label.get(label)
        if result is None or not result.median:
            return None
        return result.median.get(metric)

    return get


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # nan
        return "nan"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"


def evaluate_targets(
    scenario: Scenario, results: list[RowResult]
) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the scenario."""
    get = getter(results)
    return [(t.text, *t.check(get)) for t in scenario.targets]


def render_table(scenario: Scenario, results: list[RowResult]) -> str:
    """The scenario's results as a Markdown table, then its targets."""
    metrics: list[str] = []
    for r in scenario.rows:
        for m in r.metrics:
            if m not in metrics:
                metrics.append(m)
    better = "higher" if scenario.higher_is_better else "lower"
    head = ["row", f"ratio ({better} is better)", *metrics, "vs"]
    lines = [
        f"### {scenario.key}. {scenario.title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|",
    ]
    for result in results:
        if result.skipped is not None and not result.median:
            lines.append(
                f"| {result.row.label} | skipped: {result.skipped} |" + " |" * (len(head) - 2)
            )
            continue
        ratio = "-" if result.ratio is None else f"{result.ratio:.2f}"
        cells = [_fmt(result.median.get(m)) if m in result.row.metrics else "" for m in metrics]
        lines.append(
            f"| {result.row.label} | {ratio} | "
            + " | ".join(cells)
            + f" | {result.baseline or ''} |"
        )
    targets = evaluate_targets(scenario, results)
    if targets:
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        for text, measured, met in targets:
            verdict = "n/a" if met is None else ("yes" if met else "**no**")
            lines.append(f"| {text} | {measured} | {verdict} |")
    for note in scenario.notes:
        lines += ["", f"_{note}_"]
    return "\n".join(lines) + "\n"


# -- output -----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, Python and platform."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


def to_json(
    scenarios: list[Scenario], all_results: list[list[RowResult]], meta: dict[str, Any]
) -> dict[str, Any]:
    """Everything measured, as plain data."""
    out: dict[str, Any] = {**meta, "scenarios": []}
    for scenario, results in zip(scenarios, all_results, strict=True):
        out["scenarios"].append(
            {
                "key": scenario.key,
                "title": scenario.title,
                "higher_is_better": scenario.higher_is_better,
                "rows": [
                    {
                        "label": r.row.label,
                        "section": r.row.section,
                        "driver": r.row.driver,
                        "workload": r.row.workload,
                        "params": r.row.params,
                        "metric": r.row.metrics[0],
                        "runs": r.runs,
                        "median": r.median,
                        "ratio": r.ratio,
                        "baseline": r.baseline,
                        "skipped": r.skipped,
                    }
                    for r in results
                ],
                "targets": [
                    {"target": t, "measured": m, "met": ok}
                    for t, m, ok in evaluate_targets(scenario, results)
                ],
            }
        )
    return out


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_svg(scenarios: list[Scenario], all_results: list[list[RowResult]]) -> str:
    """A hand-written SVG: per scenario, a bar per row of its ratio to the baseline (log scale)."""
    import math

    width, label_w, bar_w, row_h = 900, 330, 460, 20
    parts: list[str] = []
    y = 30
    for scenario, results in zip(scenarios, all_results, strict=True):
        better = "higher" if scenario.higher_is_better else "lower"
        parts.append(
            f'<text x="10" y="{y}" font-weight="bold">{_esc(scenario.key)}. '
            f"{_esc(scenario.title)} (ratio to baseline, log scale, {better} is better)</text>"
        )
        y += 10
        top = y
        for result in results:
            y += row_h
            parts.append(f'<text x="10" y="{y - 5}">{_esc(result.row.label)}</text>')
            if result.ratio is None or result.ratio <= 0:
                parts.append(f'<text x="{label_w}" y="{y - 5}" fill="#888">skipped</text>')
                continue
            # log10 scale from 1/100 to 100, 1.0 in the middle
            pos = (math.log10(max(1e-2, min(1e2, result.ratio))) + 2) / 4
            x1 = label_w + bar_w / 2
            x2 = label_w + pos * bar_w
            left, w = min(x1, x2), max(1.0, abs(x2 - x1))
            good = (result.ratio >= 1) == scenario.higher_is_better
            colour = "#3a7" if good or result.ratio == 1 else "#c54"
            parts.append(
                f'<rect x="{left:.1f}" y="{y - 15}" width="{w:.1f}" height="12" fill="{colour}"/>'
            )
            parts.append(f'<text x="{label_w + bar_w + 10}" y="{y - 5}">{result.ratio:.2f}x</text>')
        mid = label_w + bar_w / 2
        parts.append(
            f'<line x1="{mid}" y1="{top}" x2="{mid}" y2="{y}" stroke="#333" stroke-dasharray="3"/>'
        )
        y += 30
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
        f'font-family="sans-serif" font-size="12">\n' + "\n".join(parts) + "\n</svg>\n"
    )
