"""The record of queue names under a key prefix (read by the dashboard).

Every queue adds its name to the set ``f"{key_prefix}:queues"`` when it opens, so
that a tool looking at a server can list the queues of a prefix without scanning
keys. The set lies outside every queue's hash-tagged keys (on a Redis Cluster it
lives in a slot of its own). Recording is best effort: a server that refuses it
(an ACL user without that key) or cannot be reached does not fail the queue.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._clients import is_backend_error, mapped_errors

if TYPE_CHECKING:
    from ._clients import Client
    from ._settings import RedisQueueConfig

__all__ = ["list_queue_names", "queue_names", "queues_key", "record_queue_name"]

logger = logging.getLogger("checkqueue_actors.redis")


def queues_key(key_prefix: str) -> str:
    """``"<key_prefix>:queues"``: the set of the queue names of a prefix."""
    return f"{key_prefix}:queues"


async def record_queue_name(client: Client, key_prefix: str, name: str) -> None:
    """Add ``name`` to the prefix's set of queue names; a backend error is logged, not
    raised (the queue works without the record)."""
    try:
        await client.sadd(queues_key(key_prefix), [name])
    except Exception as exc:
        if not is_backend_error(exc):
            raise
        # the exception's type only: its text might name the connection
        logger.info(
            "queue %r: its name was not recorded in %r (%s)",
            name,
            queues_key(key_prefix),
            type(exc).__name__,
        )


async def queue_names(
    client: Client, key_prefix: str, address: str, secret: str | None = None
) -> list[str]:
    """The queue names recorded under ``key_prefix``, sorted.

    Raises:
      BackendUnavailableError: the server cannot be reached (naming ``address``).
      BackendRefusedError: the server refused the read.
    """
    with mapped_errors(address, secret):
        members = await client.smembers(queues_key(key_prefix))
    return sorted(m.decode() for m in members)


async def list_queue_names(config: RedisQueueConfig) -> list[str]:
    """The names of the queues that ran under ``config.key_prefix`` on ``config``'s
    server (each queue records its name when it opens), sorted.

    Raises:
      BackendUnavailableError: the server cannot be reached (naming the address, never
        a password).
      BackendRefusedError: the server refused the read.
    """
    from ._clients import make_client
    from ._settings import endpoint_of

    endpoint = endpoint_of(config)
    client = make_client(config)
    with mapped_errors(endpoint.address, endpoint.password):
        async with client:
            return await queue_names(client, config.key_prefix, endpoint.address, endpoint.password)
