"""The demo's backend-switch scene."""

from __future__ import annotations

import trio
import trio.testing

from checkqueue_actors._demo_switch import switch_scene


async def test_switch_scene_loses_nothing(autojump_clock: trio.testing.MockClock) -> None:
    """The scene switches mid-flow, prints the SwitchResult and every job runs exactly once."""
    lines: list[str] = []
    with trio.fail_after(60):
        await switch_scene(lines.append)
    assert any(line.startswith("[switch] SwitchResult(success=True") for line in lines)
    assert "concurrency=5" in lines[3]
    assert lines[-1].startswith("[switch] 40/40 jobs ran; run twice: none; lost: none;")
