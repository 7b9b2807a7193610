"""``python -m checkqueue_actors inspect``: every subcommand against a real server, as a
table and as JSON; unknown queues and jobs exit 1 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

from checkqueue_actors._cli import main
from checkqueue_actors.redis import RedisQueue, RedisQueueConfig

if TYPE_CHECKING:
    from checkqueue_actors import QueueJob

    from ._server import RedisServer

pytestmark = pytest.mark.redis

_ROOT = Path(__file__).resolve().parents[2]


def _fill(url: str) -> None:
    """Queue "emails": three jobs done, one failed, one delayed, one waiting in a paused
    group, a cron schedule; queue "empty": nothing."""

    async def run() -> None:
        config = RedisQueueConfig(url=url, key_prefix="ti", delay_multiplier=0.001)
        async with RedisQueue[Any]("emails", config) as queue:

            async def handler(job: QueueJob[Any]) -> None:
                if job.data.get("fail"):
                    raise ValueError("no such mailbox")

            await queue.consume(handler, consumer_group="smtp", max_retries=0)
            for i in range(3):
                await queue.enqueue({"to": f"u{i}@example.com"}, job_id=f"mail-{i}")
            await queue.enqueue({"fail": True}, job_id="bad-1")
            await queue.enqueue({"to": "later"}, job_id="later", start_delay=3_600_000)
            await queue.schedule_recurring(
                {"digest": True}, job_id="digest", cron_pattern="0 8 * * *"
            )
            with trio.fail_after(20):
                # polling: the failure is recorded after its handler returned
                while (await queue.get_stats()).completed < 3 or not await queue.get_failed_jobs():  # noqa: ASYNC110
                    await trio.sleep(0.05)
            await queue.pause("smtp")
            await queue.enqueue({"to": "w"}, job_id="waiting-1", headers={"trace": "abc"})
        async with RedisQueue[Any]("empty", config):
            pass

    trio.run(run)


def _inspect(
    server: RedisServer, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    status = main(["inspect", "--url", server.url, "--key-prefix", "ti", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _json(server: RedisServer, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    status, out, err = _inspect(server, capsys, "--json", *args)
    assert status == 0, err
    return json.loads(out)


@pytest.fixture
def filled(redis_server: RedisServer) -> RedisServer:
    _fill(redis_server.url)
    return redis_server


def test_read_commands_as_tables_and_json(
    filled: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """queues, stats, jobs, job, failed, recurring: a table within 80 columns, and the
    same facts as JSON."""
    status, out, err = _inspect(filled, capsys, "queues")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["QUEUE", "PENDING", "RUNNING", "COMPLETED", "FAILED", "GROUPS"]
    assert lines[1].split() == ["emails", "2", "0", "3", "1", "1", "smtp:paused"]
    assert lines[2].split() == ["empty", "0", "0", "0", "0", "0"]
    queues = _json(filled, capsys, "queues")
    assert [(q["queue"], q["pending"], q["paused_groups"]) for q in queues] == [
        ("emails", 2, ["smtp"]),
        ("empty", 0, []),
    ]

    status, out, _ = _inspect(filled, capsys, "stats", "emails")
    assert status == 0
    assert "completed        3" in out
    assert "paused_groups    smtp" in out
    stats = _json(filled, capsys, "stats", "emails")
    assert (stats["failed"], stats["paused"], stats["paused_groups"]) == (1, False, ["smtp"])

    status, out, _ = _inspect(filled, capsys, "jobs", "emails")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(row[0], row[-1]) for row in rows] == [
        ("waiting-1", "smtp:waiting"),
        ("later", "smtp:delayed"),
    ]
    jobs = _json(filled, capsys, "jobs", "emails", "--state", "delayed", "--group", "smtp")
    assert [(j["id"], j["groups"]["smtp"]["state"]) for j in jobs] == [("later", "delayed")]
    assert _json(filled, capsys, "jobs", "emails", "--limit", "1")[0]["id"] == "waiting-1"

    status, out, _ = _inspect(filled, capsys, "job", "emails", "waiting-1")
    assert status == 0
    assert '"to": "w"' in out
    assert '{"trace": "abc"}' in out
    job = _json(filled, capsys, "job", "emails", "bad-1")
    traceback = job["groups"]["smtp"].pop("last_traceback")
    assert job["groups"]["smtp"] == {
        "state": "failed",
        "attempts": 0,
        "available_at": None,
        "last_error": "ValueError: no such mailbox",
    }
    assert 'raise ValueError("no such mailbox")' in traceback
    status, out, _ = _inspect(filled, capsys, "job", "emails", "bad-1")
    assert "traceback of the last failure in smtp:" in out

    status, out, _ = _inspect(filled, capsys, "failed", "emails")
    assert status == 0
    assert out.splitlines()[1].split()[:3] == ["bad-1", "smtp", "0"]
    assert "ValueError: no such mailbox" in out
    failed = _json(filled, capsys, "failed", "emails", "--group", "smtp")
    assert [(f["job_id"], f["error"]) for f in failed] == [("bad-1", "ValueError: no such mailbox")]

    status, out, _ = _inspect(filled, capsys, "recurring", "emails")
    assert status == 0
    assert out.splitlines()[1].split()[:5] == ["digest", "cron", "0", "8", "*"]
    recurring = _json(filled, capsys, "recurring", "emails")
    assert [(r["job_id"], r["cron_pattern"]) for r in recurring] == [("digest", "0 8 * * *")]

    for command in (["queues"], ["jobs", "emails"], ["failed", "emails"], ["recurring", "emails"]):
        _status, out, _ = _inspect(filled, capsys, *command)
        assert max(len(line) for line in out.splitlines()) <= 80, out


def test_write_commands(filled: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    """pause, resume, cancel, retry and drop change the queue, in both output forms."""
    assert _json(filled, capsys, "pause", "emails") == {"paused": True}
    status, out, _ = _inspect(filled, capsys, "resume", "emails")
    assert (status, out) == (0, "queue 'emails' runs\n")
    status, out, _ = _inspect(filled, capsys, "resume", "emails", "--group", "smtp")
    assert (status, out) == (0, "group 'smtp' of queue 'emails' runs\n")
    assert _json(filled, capsys, "pause", "emails", "--group", "smtp") == {"paused": True}

    assert _json(filled, capsys, "cancel", "emails", "later") == {"cancelled": True}
    status, out, _ = _inspect(filled, capsys, "cancel", "emails", "waiting-1")
    assert (status, out) == (0, "job 'waiting-1' cancelled\n")
    assert _json(filled, capsys, "jobs", "emails") == []

    status, out, _ = _inspect(filled, capsys, "retry", "emails", "bad-1", "--group", "smtp")
    assert (status, out) == (0, "job 'bad-1' runs again in group 'smtp'\n")
    assert _json(filled, capsys, "job", "emails", "bad-1")["groups"]["smtp"]["state"] == "waiting"
    status, out, _ = _inspect(filled, capsys, "drop", "emails")
    assert (status, out) == (0, "0 failed-jobs entries dropped\n")
    assert _json(filled, capsys, "drop", "emails", "--group", "smtp") == {"dropped": 0}


def test_unknown_names_exit_1_with_one_line(
    filled: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown queue, job or failed entry: status 1, one line on stderr, no output;
    the unknown queue is not created by asking."""
    cases = [
        (["stats", "nope"], "no queue 'nope' under key prefix 'ti'"),
        (["job", "emails", "nope"], "no job 'nope' in queue 'emails'"),
        (["cancel", "emails", "nope"], "no job 'nope' waiting or running in queue 'emails'"),
        (["retry", "emails", "nope", "--group", "smtp"], "no failed entry of job 'nope'"),
    ]
    for args, message in cases:
        status, out, err = _inspect(filled, capsys, *args)
        assert (status, out) == (1, ""), args
        assert err.count("\n") == 1, err
        assert message in err
    assert [q["queue"] for q in _json(filled, capsys, "queues")] == ["emails", "empty"]


def test_bad_arguments_and_an_unreachable_server(tmp_path: Path) -> None:
    """A bad limit or state is a usage error (2); a server that does not answer exits 4
    with one line that shows no password."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "checkqueue_actors", "inspect", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=_ROOT,
            check=False,
        )

    url = "redis://:hunter2@127.0.0.1:1/0"
    for args in (["jobs", "q", "--limit", "0"], ["jobs", "q", "--state", "done"]):
        done = run("--url", url, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1
    done = run("--url", url, "queues")
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1, done.stderr
    assert "hunter2" not in done.stderr
    assert "127.0.0.1:1" in done.stderr
