"""RedisConfigStore: the managers' shared, versioned settings in the same Redis server."""

from __future__ import annotations

import json
from typing import Any, Final, final

import trio

from ..._stores import StaleVersionError, check_version
from ._clients import backend_error, is_backend_error, make_client
from ._scripts import Script
from ._settings import RedisQueueConfig, endpoint_of, require_config

__all__ = ["RedisConfigStore"]

# get is one HMGET and set one script on one hash, so each is atomic on its own
_FIELD_VERSION = "version"
_FIELD_VALUE = "value"

_SET: Final = Script(
    "config_set",
    """-- KEYS[1]: the entry; ARGV: version, value (JSON), expected version ('' for none)
-- writes unless the entry holds a higher version, or not the expected one (0: none)
-- returns {1, version written} or {0, the version the entry holds (0: none)}
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local v = tonumber(ARGV[1])
if cur > v or (ARGV[3] ~= '' and cur ~= tonumber(ARGV[3])) then
  return {0, cur}
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'value', ARGV[2])
return {1, v}
""",
)


@final
class RedisConfigStore:
    """A ``ConfigStore`` kept in Redis under ``f"{key_prefix}:config:{key}"``.

    Each call opens a short-lived connection, so the store needs no lifetime of
    its own and works from any task.
    """

    def __init__(self, config: RedisQueueConfig | None = None) -> None:
        config = require_config(config)
        self._config = config
        endpoint = endpoint_of(config)
        self._address = endpoint.address
        self._secret = endpoint.password

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
                raise backend_error(self._address, exc, self._secret) from exc
            raise
        if version is None or value is None:
            return None
        decoded = json.loads(value)
        assert isinstance(decoded, dict)
        return int(version), decoded  # pyright: ignore[reportUnknownVariableType]

    async def set(
        self,
        key: str,
        version: int,
        value: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> None:
        """Store ``value`` under ``key`` with ``version`` (one atomic script).

        Args:
          key: The key.
          version: The version to store; never lower than the stored one.
          value: A JSON-encodable dict.
          expected_version: When given, write only if the key holds exactly this
            version (0 for a key never set).
        Raises:
          StaleVersionError: the key holds a higher version, or not the expected
            one; nothing is written.
          ValueError: for a version or expected version that is not an int.
          TypeError: ``value`` is not JSON-encodable.
          BackendUnavailableError: Redis cannot be reached.
        """
        for name, number in (("version", version), ("expected_version", expected_version)):
            if number is not None and type(number) is not int:
                msg = f"{name} must be an int, not {number!r}"
                raise ValueError(msg)
        text = json.dumps(value, allow_nan=False)
        await trio.lowlevel.checkpoint()
        expected = "" if expected_version is None else str(expected_version)
        try:
            async with make_client(self._config) as client:
                written, current = await _SET(client, self._key(key), version, text, expected)
        except BaseException as exc:
            if is_backend_error(exc):
                raise backend_error(self._address, exc, self._secret) from exc
            raise
        if int(written) != 1:
            check_version(key, version, expected_version, int(current))
            raise StaleVersionError(key, version, expected_version, int(current))
