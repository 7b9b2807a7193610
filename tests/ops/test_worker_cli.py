"""``worker``'s refusals: each is one clear line and a non-zero status, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
import tomllib

import pytest

from checkqueue_actors._cli import main
from checkqueue_actors._cli._parser import EXIT_SETUP, EXIT_UNREACHABLE, EXIT_USAGE

from ._process import ROOT, run_worker


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_module_that_cannot_be_imported() -> None:
    """A bad MODULE: status 3 and one line naming it."""
    result = run_worker("tests.ops.no_such_module:setup")
    assert result.returncode == EXIT_SETUP
    line = _one_line(result)
    assert "cannot import 'tests.ops.no_such_module'" in line
    assert "ModuleNotFoundError" in line


def test_a_function_the_module_lacks() -> None:
    """A bad FUNCTION: status 3 and one line naming it."""
    result = run_worker("tests.ops.worker_app:no_such_function")
    assert result.returncode == EXIT_SETUP
    assert "has no 'no_such_function'" in _one_line(result)


def test_a_function_that_is_not_async() -> None:
    """A plain function: status 3."""
    result = run_worker("tests.ops.worker_app:not_async")
    assert result.returncode == EXIT_SETUP
    assert "must be an async function" in _one_line(result)


def test_a_target_without_a_colon() -> None:
    """MODULE alone is a usage error."""
    result = run_worker("tests.ops.worker_app")
    assert result.returncode == EXIT_USAGE
    assert "MODULE:NAME" in _one_line(result)


def test_a_setup_that_raises() -> None:
    """A setup that fails: status 3, its error in one line, the worker stops."""
    result = run_worker("tests.ops.worker_app:broken_setup", "--log-format", "json")
    assert result.returncode == EXIT_SETUP
    assert "RuntimeError: no database configured" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--grace-period", "-1"], "argument --grace-period"),
        (["--metrics-port", "99999"], "argument --metrics-port"),
        (["--backend", "sqlite"], "argument --backend"),
        (["--backend", "memory", "--url", "redis://127.0.0.1"], "--url applies to"),
        (["--backend", "redis"], "--backend redis needs --url"),
        (["--url", "http://127.0.0.1"], "invalid Redis URL"),
    ],
)
def test_a_bad_argument(args: list[str], expected: str) -> None:
    """A bad flag or value: status 2, one line."""
    result = run_worker("tests.ops.worker_app:setup", *args)
    assert result.returncode == EXIT_USAGE
    assert expected in _one_line(result)


def test_an_unreachable_backend_hides_the_password() -> None:
    """Nothing listens at the URL: status 4, one line naming the address, no password."""
    port = _closed_port()
    url = f"redis://user:s3cret-pw@127.0.0.1:{port}/0"
    result = run_worker("tests.ops.worker_app:setup", "--url", url)
    assert result.returncode == EXIT_UNREACHABLE
    line = _one_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "s3cret-pw" not in result.stderr


def test_the_url_comes_from_the_environment() -> None:
    """CHECKQUEUE_URL stands in for --url (and selects the redis backend)."""
    port = _closed_port()
    url = f"rediss://:hunter2@127.0.0.1:{port}/0"
    result = run_worker("tests.ops.worker_app:setup", env={"CHECKQUEUE_URL": url})
    assert result.returncode == EXIT_UNREACHABLE
    assert "hunter2" not in _one_line(result)


def test_the_demo_still_runs_from_the_same_entry(capsys: pytest.CaptureFixture[str]) -> None:
    """``demo`` is one subcommand among others; the parser lists both."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out
    assert "worker" in out


def test_the_console_script_is_declared() -> None:
    """``checkqueue`` points at the same command line."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = project["project"]["scripts"]["checkqueue"]
    assert target == "checkqueue_actors._cli:console_main"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from checkqueue_actors._cli import console_main; console_main()",
            "worker",
            "--help",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "--grace-period" in result.stdout
