"""The Lua scripts (package data ``*.lua``): loaded once, run by EVALSHA with EVAL fallback.

Every state change that touches more than one key is one script, so a crash
between two commands can never leave a job half moved (RELIABILITY.md §3.3).
Script bodies are constants: nothing from a caller is ever spliced into them.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, final

from coredis.exceptions import NoScriptError

if TYPE_CHECKING:
    from ._settings import Client
    from ._wire import ScriptClient

__all__ = ["SCRIPTS", "Script"]

_NAMES: Final = (
    "ack",
    "claim",
    "enqueue",
    "enqueue_many",
    "export",
    "failed_drop",
    "failed_retry",
    "nack",
    "now",
    "promote",
    "reap",
    "register",
    "release",
    "renew",
    "sched_cancel",
    "sched_fire",
    "sched_set",
    "server_info",
    "stats",
)


@final
class Script:
    """One Lua script: the common helpers followed by its own body."""

    __slots__ = ("body", "name", "sha")

    def __init__(self, name: str, body: str) -> None:
        self.name = name
        self.body = body
        self.sha = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, client: Client | ScriptClient, base: str, *args: str | float | bytes
    ) -> Any:
        """Run with ``KEYS = [base]`` and ``ARGV = args``; loads the script when missing.

        The key routes the call: on a Redis Cluster it runs on the node that holds
        the queue's hash slot, which every key of the script shares.

        Raises:
          coredis.exceptions.RedisError: a server or connection failure.
        """
        try:
            return await client.evalsha(self.sha, keys=[base], args=args)
        except NoScriptError:
            return await client.eval(self.body, keys=[base], args=args)


def _load() -> dict[str, Script]:
    package = resources.files(__name__.rpartition(".")[0])
    common = (package / "common.lua").read_text(encoding="utf-8")
    return {
        name: Script(name, common + "\n" + (package / f"{name}.lua").read_text(encoding="utf-8"))
        for name in _NAMES
    }


SCRIPTS: Final = _load()
"""Every script by name."""
