"""The examples of the testing how-to pages run and pass, exactly as printed.

``<!-- testing-doc: pytest -->`` marks a test module that passes in a bare project
(pytest and pytest-trio installed, no conftest, no ``trio_mode``);
``<!-- testing-doc: pytest with plugin -->`` one that needs only the plugin enabled in
``conftest.py``, as "Enable the plugin" shows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOCS = Path(__file__).parents[2] / "docs" / "how-to"
BLOCK = re.compile(
    r"<!-- testing-doc: pytest(?P<plugin> with plugin)? -->\n```python\n(?P<code>.*?)```", re.DOTALL
)
PAGES = ["testing-your-handlers.md", "certifying-a-backend.md"]


def _examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in PAGES:
        text = (DOCS / page).read_text()
        for i, match in enumerate(BLOCK.finditer(text)):
            setup = "plugin" if match["plugin"] else "bare"
            found.append((f"{page}#{i}:{setup}", match["code"]))
    return found


def test_every_page_has_examples() -> None:
    """Each page has at least one runnable example."""
    names = [name for name, _ in _examples()]
    for page in PAGES:
        assert any(name.startswith(page) for name in names)


@pytest.mark.parametrize(("name", "code"), _examples(), ids=[n for n, _ in _examples()])
def test_example_passes(pytester: pytest.Pytester, name: str, code: str) -> None:
    """The example, as a test module, passes under pytest in the setup its page gives."""
    if name.endswith(":plugin"):
        pytester.makeconftest('pytest_plugins = ["checkqueue_actors.testing.pytest_plugin"]\n')
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(**{"test_example": code})
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
