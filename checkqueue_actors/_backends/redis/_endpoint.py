"""Where a Redis server is: ``Endpoint``, URL parsing, and addresses without passwords.

A leaf module: it imports nothing from the package, so the RESP client
(``_wire``) and the config (``_settings``) can both depend on it.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import attrs

__all__ = ["Endpoint", "parse_url", "redact_url"]


@attrs.frozen
class Endpoint:
    """A parsed server address (the password never shows in ``repr``)."""

    tls: bool
    host: str
    port: int
    db: int
    username: str | None
    password: str | None = attrs.field(repr=False)

    @property
    def address(self) -> str:
        """The URL without credentials (safe for messages and logs)."""
        scheme = "rediss" if self.tls else "redis"
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{host}:{self.port}/{self.db}"

    def with_credentials(self, username: str | None, password: str | None) -> Endpoint:
        """This endpoint with ``username`` and ``password`` applied where not ``None``."""
        endpoint = self
        if username is not None:
            endpoint = attrs.evolve(endpoint, username=username)
        if password is not None:
            endpoint = attrs.evolve(endpoint, password=password)
        return endpoint


def parse_url(url: str) -> Endpoint:
    """Parse ``redis://`` / ``rediss://`` URLs.

    Raises:
      ValueError: for another scheme, a missing host, a bad port or db, or query options.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        msg = f"invalid Redis URL: {exc}"
        raise ValueError(msg) from None
    if parts.scheme not in ("redis", "rediss"):
        msg = f"Redis URL must start with redis:// or rediss://, not {parts.scheme or url!r}"
        raise ValueError(msg)
    if not parts.hostname:
        msg = "Redis URL has no host"
        raise ValueError(msg)
    path = parts.path.strip("/")
    if path and not path.isdigit():
        msg = f"Redis URL path must be a database number, not {path!r}"
        raise ValueError(msg)
    if parts.query or parts.fragment:
        msg = "Redis URL options are not supported; use RedisQueueConfig fields"
        raise ValueError(msg)
    return Endpoint(
        tls=parts.scheme == "rediss",
        host=parts.hostname,
        port=port if port is not None else 6379,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def redact_url(url: str) -> str:
    """The URL's address in quotes, without its password (for ``repr``)."""
    try:
        return repr(parse_url(url).address)
    except ValueError:
        return "'<invalid url>'"
