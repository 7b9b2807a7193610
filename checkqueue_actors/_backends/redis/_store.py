"""RedisConfigStore: the managers' shared, versioned settings in the same Redis server."""

from __future__ import annotations

import json
from typing import Any, final

import trio

from ._clients import backend_error, is_backend_error, make_client
from ._settings import RedisQueueConfig, endpoint_of, require_config

__all__ = ["RedisConfigStore"]

# get and set are single-key commands on one hash, so each is atomic on its own
_FIELD_VERSION = "version"
_FIELD_VALUE = "value"


@final
class RedisConfigStore:
    """A ``ConfigStore`` kept in Redis under ``f"{key_prefix}:config:{key}"``.

    Each call opens a short-lived connection, so the store needs no lifetime of
    its own and works from any task.
    """

    def __init__(self, config: RedisQueueConfig | None = None) -> None:
        config = require_config(config)
        self._config = config
        self._address = endpoint_of(config).address

    def _key(self, key: str) -> str:
        return f"{self._config.key_prefix}:config:{key}"

    async def get(self, key: str) -> tuple[int, dict[str, Any]] | None:
        """The stored ``(version, value)`` of ``key``, or ``None``.

        Raises:
          BackendUnavailableError: Redis cannot be reached.
        """
        try:
            async with make_client(self._config) as client:
                version, value = await client.hmget(self._key(key), [_FIELD_VERSION, _FIELD_VALUE])
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc) from exc
            raise
        if version is None or value is None:
            return None
        decoded = json.loads(value)
        assert isinstance(decoded, dict)
        return int(version), decoded  # pyright: ignore[reportUnknownVariableType]

    async def set(self, key: str, version: int, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` with ``version`` (one atomic HSET).

        Raises:
          TypeError: ``value`` is not JSON-encodable.
          BackendUnavailableError: Redis cannot be reached.
        """
        text = json.dumps(value, allow_nan=False)
        await trio.lowlevel.checkpoint()
        try:
            async with make_client(self._config) as client:
                await client.hset(
                    self._key(key), {_FIELD_VERSION: str(version), _FIELD_VALUE: text}
                )
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc) from exc
            raise
