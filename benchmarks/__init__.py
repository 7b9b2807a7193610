"""Benchmarks of checkqueue_actors, side by side with peer job queues.

Run ``python -m benchmarks`` (``--help`` for the options); see ``benchmarks/README.md``.
"""

from __future__ import annotations
