"""The demo runs end to end (on a virtual clock here) and shows what it claims."""

from __future__ import annotations

import io
import re

import trio
import trio.testing

from checkqueue_actors._demo import _demo  # pyright: ignore[reportPrivateUsage]


def test_demo_output() -> None:
    """Every scene prints its result: round-robin, broadcast, priority jump, backoff."""
    out = io.StringIO()
    trio.run(_demo, out, clock=trio.testing.MockClock(autojump_threshold=0))
    text = out.getvalue()
    assert "runs per worker: {'worker-1': 2, 'worker-2': 2}" in text
    assert text.count("refreshed ['alice', 'bob']") == 3
    match = re.search(r"the urgent export started as number (\d+)", text)
    assert match is not None
    assert int(match.group(1)) < 9
    assert "gaps between attempts: ['0.50s', '1.00s']" in text
    assert re.search(r"webhooks\s+0\s+0\s+1\s+0\s+1", text)
    assert "SwitchResult(success=True" in text
    assert "40/40 jobs ran; run twice: none; lost: none" in text
