"""A web dashboard for checkqueue_actors queues (needs the ``dashboard`` extra).

``create_app(source, token=..., read_only=...)`` returns an ASGI app: pages for
people, a JSON API under ``/api/``, actions (pause and resume, retry and drop failed
jobs, cancel a job or a schedule) that need the token, and ``/metrics``. Serve it
with ``python -m checkqueue_actors dashboard`` or with hypercorn inside your own
trio application; see docs/dashboard.md.

The names are imported on first use, so that the command can tell when the extra
(starlette, jinja2, hypercorn) is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app as create_app
    from ._sources import GroupPresence as GroupPresence
    from ._sources import Presence as Presence
    from ._sources import RedisSource as RedisSource
    from ._sources import Source as Source

__all__ = ["GroupPresence", "Presence", "RedisSource", "Source", "create_app"]

_HOMES = {
    "create_app": "._app",
    "GroupPresence": "._sources",
    "Presence": "._sources",
    "RedisSource": "._sources",
    "Source": "._sources",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
