"""A web dashboard for checkqueue_actors queues (needs the ``dashboard`` extra).

``create_app(source, token=..., read_only=...)`` returns an ASGI app: pages for
people, a JSON API under ``/api/``, actions (pause and resume, retry and drop failed
jobs, cancel a job or a schedule) that need the token, and ``/metrics``. Serve it
with ``python -m checkqueue_actors dashboard`` or with hypercorn inside your own
trio application; see docs/dashboard.md.
"""

from __future__ import annotations

from ._app import create_app
from ._sources import GroupPresence, Presence, RedisSource, Source

__all__ = ["GroupPresence", "Presence", "RedisSource", "Source", "create_app"]
