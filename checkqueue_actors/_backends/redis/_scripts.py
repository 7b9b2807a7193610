"""The Lua scripts (package data ``*.lua``): loaded once, run by EVALSHA with EVAL fallback.

Every state change that touches more than one key is one script, so a crash
between two commands can never leave a job half moved; each script checks
everything before its first write. Script bodies are constants: nothing from a
caller is ever spliced into them. The scripts store decisions: the rules
(backoff, the next tick of a schedule, occurrence ids) are computed in Python
with ``_state/policy.py`` and passed in ``ARGV``.

Each script file but ``probe.lua`` starts with its Redis 7 flags, a ``#!lua``
line (the first line of the body sent to the server):

- ``#!lua flags=allow-oom``: scripts that free memory or keep it about constant
  (settle, claim, renew, reap, promote, refreshing a group, ...) run even when the
  server's memory is full, so leases and acks hold then;
- ``#!lua``: scripts that grow the data set (enqueue, a new group, a schedule, a
  recurring occurrence) are refused by Redis with OOM before they run when memory
  is full, so they write nothing;
- ``#!lua flags=no-writes``: reads.

Redis 6.2 knows no flags: ``LEGACY_SCRIPTS`` are the same scripts without the
``#!lua`` line; the storage picks a set by the server's version, which
``probe.lua`` (flagless, so it runs on either) reports.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, final

from coredis.exceptions import NoScriptError, ReplicationError

from ._wire import ScriptClient

if TYPE_CHECKING:
    from ._clients import Client

__all__ = ["LEGACY_SCRIPTS", "PROBE", "SCRIPTS", "Script"]

_NAMES: Final = (
    "alive",
    "cancel",
    "claim",
    "enqueue",
    "enqueue_many",
    "export",
    "failed_drop",
    "failed_read",
    "failed_retry",
    "job_info",
    "leave",
    "list_jobs",
    "now",
    "pause",
    "promote",
    "reap",
    "register",
    "register_new",
    "renew",
    "resume",
    "sched_cancel",
    "sched_fire",
    "sched_set",
    "server_info",
    "settle",
    "stats",
    "wake",
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

    async def replicated(
        self,
        client: Client | ScriptClient,
        base: str,
        replicas: int,
        timeout_ms: int,
        *args: str | float | bytes,
    ) -> Any:
        """Run as ``__call__`` does, then wait (``WAIT``, on the same connection, so on the
        node that ran it) until ``replicas`` replicas have its writes.

        Raises:
          coredis.exceptions.ReplicationError: fewer replicas within ``timeout_ms`` (the
            script has run on the master).
          coredis.exceptions.RedisError: a server or connection failure.
        """
        if not isinstance(client, ScriptClient):
            with client.ensure_replication(replicas, timeout_ms):
                return await self(client, base, *args)
        try:
            reply, acked = await client.execute_wait(
                ("EVALSHA", self.sha, 1, base, *args), replicas, timeout_ms
            )
        except NoScriptError:
            reply, acked = await client.execute_wait(
                ("EVAL", self.body, 1, base, *args), replicas, timeout_ms
            )
        if acked < replicas:
            command = self.name.encode()
            raise ReplicationError(command, replicas, timeout_ms)
        return reply


_DEFINITION: Final = re.compile(r"^local (?:function )?(\w+)", re.MULTILINE)


def _definitions(common: str) -> tuple[str, list[tuple[str, str]]]:
    """Split the helpers into their header and top-level definitions, each
    ``(name, text)`` with the comment lines just above it."""
    begins: list[int] = []
    names: list[str] = []
    for match in _DEFINITION.finditer(common):
        begin = match.start()
        while begin > 0:  # take the definition's own comment lines
            line_start = common.rfind("\n", 0, begin - 1) + 1
            if not common.startswith("--", line_start):
                break
            begin = line_start
        begins.append(begin)
        names.append(match.group(1))
    if not begins:
        return common, []
    ends = [*begins[1:], len(common)]
    return common[: begins[0]], [
        (name, common[begin:end]) for name, begin, end in zip(names, begins, ends, strict=True)
    ]


_COMMENT: Final = re.compile(r"--[^\n]*")


def _needed(body: str, definitions: list[tuple[str, str]]) -> str:
    """The helpers ``body`` uses, directly or through other helpers, in their order.

    Lua creates a closure for every ``local function`` each time a script runs:
    with all the helpers prepended, that costs every call a few microseconds of
    server time (measured in docs/redis.md), so each script carries only its own.
    """
    wanted: set[str] = set()
    texts = [body]
    while texts:
        text = _COMMENT.sub("", texts.pop())
        for name, definition in definitions:
            if name not in wanted and re.search(rf"\b{name}\b", text):
                wanted.add(name)
                texts.append(definition)
    return "".join(text for name, text in definitions if name in wanted)


def _load() -> tuple[dict[str, Script], dict[str, Script], Script]:
    package = resources.files(__name__.rpartition(".")[0])
    header, definitions = _definitions((package / "common.lua").read_text(encoding="utf-8"))
    flagged: dict[str, Script] = {}
    legacy: dict[str, Script] = {}
    for name in (*_NAMES, "probe"):
        text = (package / f"{name}.lua").read_text(encoding="utf-8")
        flags, newline, body = text.partition("\n") if text.startswith("#!") else ("", "", text)
        if bool(flags) == (name == "probe"):
            msg = f"{name}.lua: every script but probe.lua starts with its #!lua flags line"
            raise RuntimeError(msg)
        code = header + _needed(body, definitions) + "\n" + body
        flagged[name] = Script(name, flags + newline + code)
        legacy[name] = Script(name, code)
    return flagged, legacy, flagged.pop("probe")


SCRIPTS, LEGACY_SCRIPTS, PROBE = _load()
"""Every script by name, with its flags (Redis 7.0 and later); the same without them
(Redis 6.2); and the start-up probe (no flags, for any server)."""
