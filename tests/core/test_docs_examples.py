"""Run the runnable code blocks of the README, the tutorial and the how-to guides.

A fenced block preceded by an HTML comment is picked up:

- ``<!-- doctest: run -->``: a complete program, run with ``trio.run`` patched
  to use ``MockClock(autojump_threshold=0)`` so its sleeps take no real time;
- ``<!-- doctest: output -->``: the exact stdout of the ``run`` block before it;
- ``<!-- doctest: pytest -->``: a test module, run by pytest in a subprocess.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/tutorial.md", "docs/how-to/writing-a-backend-plugin.md")

_BLOCK = re.compile(
    r"^<!-- doctest: (?P<kind>run|output|pytest) -->\n"
    r"```[a-z]*\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@attrs.frozen
class Example:
    """One runnable block of a Markdown page."""

    page: str
    line: int
    kind: str
    code: str
    output: str | None = None

    @property
    def name(self) -> str:
        """``page:line``, the test id."""
        return f"{self.page}:{self.line}"


def collect(page: str) -> list[Example]:
    """The marked blocks of ``page``, each ``run`` block with its expected output."""
    text = (ROOT / page).read_text(encoding="utf-8")
    examples: list[Example] = []
    for match in _BLOCK.finditer(text):
        kind, code = match["kind"], match["code"]
        line = text.count("\n", 0, match.start()) + 2
        if kind == "output":
            assert examples, f"{page}:{line}: an output block needs a run block before it"
            assert examples[-1].kind == "run", f"{page}:{line}: output follows a non-run block"
            assert examples[-1].output is None, f"{page}:{line}: a second output block"
            examples[-1] = attrs.evolve(examples[-1], output=code)
        else:
            examples.append(Example(page, line, kind, code))
    return examples


ALL = [example for page in DOCS for example in collect(page)]


def test_pages_have_examples() -> None:
    """The README has one runnable example and the tutorial has several."""
    pages = [example.page for example in ALL if example.kind == "run"]
    assert pages.count("README.md") == 1
    assert pages.count("docs/tutorial.md") >= 8
    assert any(example.kind == "pytest" for example in ALL)


def _run_on_mock_clock(real_run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("clock", trio.testing.MockClock(autojump_threshold=0))
    return real_run(*args, **kwargs)


@pytest.mark.parametrize("example", [e for e in ALL if e.kind == "run"], ids=lambda e: e.name)
def test_run_example(
    example: Example, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The block runs to completion (on a virtual clock) and prints what the page says."""
    monkeypatch.setattr(trio, "run", functools.partial(_run_on_mock_clock, trio.run))
    code = compile(example.code, example.name, "exec")
    exec(code, {"__name__": "__main__"})
    if example.output is not None:
        assert capsys.readouterr().out == example.output


@pytest.mark.parametrize("example", [e for e in ALL if e.kind == "pytest"], ids=lambda e: e.name)
def test_pytest_example(example: Example, tmp_path: Path) -> None:
    """The block is a test module that passes under pytest-trio."""
    (tmp_path / "test_example.py").write_text(example.code, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
