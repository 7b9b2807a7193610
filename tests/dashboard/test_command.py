"""``python -m checkqueue_actors dashboard``: its argument checks (serving is exercised by
the browser tests through the same ``serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checkqueue_actors.__main__ import main as cli
from checkqueue_actors.dashboard._command import (
    _is_loopback,  # pyright: ignore[reportPrivateUsage]
)

if TYPE_CHECKING:
    import pytest


def test_needs_a_url(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHECKQUEUE_URL", raising=False)
    assert cli(["dashboard"]) == 2
    assert "CHECKQUEUE_URL" in capsys.readouterr().err


def test_bad_url_is_refused_without_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["dashboard", "--url", "http://user:hunter2@host:6379/0"]) == 2
    err = capsys.readouterr().err
    assert "bad argument" in err
    assert "hunter2" not in err


def test_bad_port_and_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["dashboard", "--url", "redis://127.0.0.1:1/0", "--port", "70000"]) == 2
    assert cli(["dashboard", "--url", "redis://127.0.0.1:1/0", "--key-prefix", "a{b}"]) == 2
    assert capsys.readouterr().err.count("\n") == 2  # one line each


def test_loopback_hosts() -> None:
    assert _is_loopback("127.0.0.1")
    assert _is_loopback("::1")
    assert _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0")
    assert not _is_loopback("192.168.1.10")
    assert not _is_loopback("example.org")
