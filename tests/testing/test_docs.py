"""The examples of the testing how-to pages run and pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DOCS = Path(__file__).parents[2] / "docs" / "how-to"
BLOCK = re.compile(r"<!-- testing-doc: pytest -->\n```python\n(.*?)```", re.DOTALL)
PAGES = ["testing-your-handlers.md", "certifying-a-backend.md"]


def _examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for page in PAGES:
        text = (DOCS / page).read_text()
        found.extend((f"{page}#{i}", code) for i, code in enumerate(BLOCK.findall(text)))
    return found


def test_every_page_has_examples() -> None:
    """Each page has at least one runnable example."""
    names = [name for name, _ in _examples()]
    for page in PAGES:
        assert any(name.startswith(page) for name in names)


@pytest.mark.parametrize(("name", "code"), _examples(), ids=[n for n, _ in _examples()])
def test_example_passes(pytester: pytest.Pytester, name: str, code: str) -> None:
    """The example, as a test module, passes under pytest (with the plugin enabled)."""
    pytester.makeconftest('pytest_plugins = ["checkqueue_actors.testing.pytest_plugin"]\n')
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(**{"test_example": code})
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
