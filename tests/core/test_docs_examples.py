"""Every Python example of the README and of docs/ works as printed, or says why not.

Each fenced ``python`` block is preceded by an HTML comment that says how it is checked
(``test_every_python_block_is_checked`` fails for a block without one):

- ``<!-- doctest: run -->``: a complete program, run (in an empty directory) with
  ``trio.run`` patched to use ``MockClock(autojump_threshold=0)`` so its sleeps take no
  real time;
- ``<!-- doctest: output -->`` (on the block after a ``run`` block): its exact stdout;
- ``<!-- doctest: pytest -->``: a test module, run by pytest in a subprocess;
- ``<!-- doctest: module -->``: the ``module`` blocks of a page, in order, are one
  program the page builds piece by piece; together they run as one module;
- ``<!-- doctest: with queue -->``: statements (``await`` allowed) run as printed with
  ``queue`` a started ``InMemoryQueue`` and ``manager`` an open ``QueueManager``;
- ``<!-- testing-doc: pytest -->``, ``<!-- testing-doc: pytest with plugin -->``: run by
  ``tests/testing/test_docs.py`` (testing how-to pages only);
- ``<!-- doctest: fragment (why) -->``: part of a program the reader completes (the why
  is required); it must compile, ``await`` allowed;
- ``<!-- doctest: signature -->``: a signature listing, not code.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing

from checkqueue_actors import (
    InMemoryQueue,
    InMemoryQueuePlugin,
    QueuePluginRegistry,
    open_queue_manager,
)

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")))
TESTING_PAGES = ("docs/how-to/testing-your-handlers.md", "docs/how-to/certifying-a-backend.md")
"""The pages whose ``testing-doc`` blocks ``tests/testing/test_docs.py`` runs."""

_FENCE = re.compile(
    r"^(?:<!-- (?P<marker>[^\n]*?) -->\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_KIND = re.compile(
    r"doctest: (?P<kind>run|output|pytest|module|with queue|signature"
    r"|fragment \((?P<why>[^)]+)\))$"
    r"|testing-doc: (?P<testing>pytest|pytest with plugin)$"
)


@attrs.frozen
class Example:
    """One checked block of a Markdown page."""

    page: str
    line: int
    kind: str
    code: str
    output: str | None = None

    @property
    def name(self) -> str:
        """``page:line``, the test id."""
        return f"{self.page}:{self.line}"


@attrs.frozen
class Block:
    """A fenced block of a page and the comment before it."""

    page: str
    line: int
    lang: str
    marker: str | None
    code: str


def blocks(page: str) -> list[Block]:
    """Every fenced block of ``page``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start("code")) + 1, m["lang"], m["marker"], m["code"])
        for m in _FENCE.finditer(text)
    ]


def collect(page: str) -> list[Example]:
    """The checked blocks of ``page``, each ``run`` block with its expected output."""
    examples: list[Example] = []
    for block in blocks(page):
        found = _KIND.match(block.marker or "")
        if found is None or found["testing"]:
            continue
        kind = "fragment" if found["why"] else found["kind"]
        where = f"{page}:{block.line}"
        if kind == "output":
            assert examples, f"{where}: an output block needs a run block before it"
            assert examples[-1].kind == "run", f"{where}: output follows a non-run block"
            assert examples[-1].output is None, f"{where}: a second output block"
            examples[-1] = attrs.evolve(examples[-1], output=block.code)
        else:
            examples.append(Example(page, block.line, kind, block.code))
    return examples


ALL = [example for page in DOCS for example in collect(page)]


def _of(kind: str) -> list[Example]:
    return [example for example in ALL if example.kind == kind]


def test_every_python_block_is_checked() -> None:
    """No Python block of the README or docs/ goes unchecked: each is run, or marked
    a fragment with its reason, or a signature."""
    unchecked: list[str] = []
    for page in DOCS:
        for block in blocks(page):
            if block.lang != "python":
                continue
            where = f"{page}:{block.line}"
            found = _KIND.match(block.marker or "")
            if found is None or found["kind"] == "output":
                unchecked.append(f"{where}: {block.marker!r}")
            elif found["testing"] and page not in TESTING_PAGES:
                unchecked.append(f"{where}: testing-doc blocks are run on {TESTING_PAGES} only")
    assert unchecked == []


def test_pages_have_examples() -> None:
    """The README has one runnable example and the tutorial has several."""
    pages = [example.page for example in ALL if example.kind == "run"]
    assert pages.count("README.md") == 1
    assert pages.count("docs/tutorial.md") >= 8
    assert any(example.kind == "pytest" for example in ALL)


def _run_on_mock_clock(real_run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("clock", trio.testing.MockClock(autojump_threshold=0))
    return real_run(*args, **kwargs)


@pytest.mark.parametrize("example", _of("run"), ids=lambda e: e.name)
def test_run_example(
    example: Example,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The block runs to completion (on a virtual clock) and prints what the page says."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(trio, "run", functools.partial(_run_on_mock_clock, trio.run))
    code = compile(example.code, example.name, "exec")
    exec(code, {"__name__": "__main__"})
    if example.output is not None:
        assert capsys.readouterr().out == example.output


@pytest.mark.parametrize("example", _of("pytest"), ids=lambda e: e.name)
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


_MODULE_PAGES = sorted({example.page for example in _of("module")})


@pytest.mark.parametrize("page", _MODULE_PAGES)
def test_module_examples(page: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The ``module`` blocks of a page, put together in order, run as one module."""
    monkeypatch.chdir(tmp_path)
    source = "\n\n".join(e.code for e in collect(page) if e.kind == "module")
    exec(compile(source, page, "exec"), {"__name__": "docs_module"})


@pytest.mark.parametrize("example", _of("with queue"), ids=lambda e: e.name)
def test_statements_with_a_queue(example: Example) -> None:
    """The statements run as printed against a started queue and an open manager."""

    async def main() -> None:
        registry = QueuePluginRegistry()
        registry.register(InMemoryQueuePlugin())
        async with InMemoryQueue[Any]("q") as queue, open_queue_manager(registry) as manager:
            code = compile(example.code, example.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            namespace: dict[str, Any] = {"queue": queue, "manager": manager}
            result = eval(code, namespace)  # exec-mode code: None, or a coroutine
            if inspect.iscoroutine(result):
                await result

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("example", _of("fragment"), ids=lambda e: e.name)
def test_fragments_compile(example: Example) -> None:
    """A fragment is valid Python (top-level ``await`` allowed)."""
    compile(example.code, example.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
