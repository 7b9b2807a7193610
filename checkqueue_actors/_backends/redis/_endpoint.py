"""Where a Redis server is: ``Endpoint``, URL parsing, and addresses without passwords.

A leaf module: it imports nothing from the package, so the RESP client
(``_wire``) and the config (``_settings``) can both depend on it.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import SplitResult, unquote, urlsplit

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


_HINT: Final = (
    "; expected redis://[[user]:password@]host[:port][/db] or rediss://... (percent-encode "
    "any of : / ? # @ [ ] % in a user name or password)"
)
"""Ends every URL error: how a valid URL looks."""
_DB_MAX: Final = 2**31 - 1
"""The largest database number (the server's ``databases`` setting is an int)."""


def _split(url: str) -> tuple[SplitResult, int | None] | str:
    """The URL's parts and port, or why they cannot be read (never a part of the URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return "its host cannot be read (an unclosed or misplaced '[' or ']'?)"
    try:
        port = parts.port
    except ValueError:  # urllib's message quotes the port, which may be a password's piece
        return "its port is not a number in 0..65535"
    return parts, port


def _parse(url: str) -> Endpoint | str:
    """The endpoint, or why the URL is invalid (never quoting a part of it)."""
    split = _split(url)
    if isinstance(split, str):
        return split
    parts, port = split
    scheme = parts.scheme
    if scheme not in ("redis", "rediss") or url[: len(scheme) + 3].lower() != f"{scheme}://":
        return "it must start with redis:// or rediss://"
    host = parts.hostname
    if not host:
        return "it has no host"
    if any(char.isspace() or not char.isprintable() for char in host):
        return "its host holds spaces or control characters"
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("[") and hostport.partition("]")[2][:1] not in ("", ":"):
        return "its host cannot be read (text after ']')"
    path = parts.path.strip("/")
    if path and not (path.isascii() and path.isdigit() and len(path) <= 10):
        return "its path must be a database number"
    db = int(path) if path else 0
    if db > _DB_MAX:
        return f"its database number must be at most {_DB_MAX}"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "options are not supported (?... or #...); use RedisQueueConfig fields"
    return Endpoint(
        tls=scheme == "rediss",
        host=host,
        port=port if port is not None else 6379,
        db=db,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def parse_url(url: str) -> Endpoint:
    """Parse ``redis://`` / ``rediss://`` URLs.

    No error message quotes the URL or any part of it: in a malformed URL the
    password may sit anywhere (in the place of the port, the path, the scheme...).

    Raises:
      ValueError: for another scheme, a missing or malformed host, a bad port or db,
        or query options.
    """
    parsed = _parse(url)
    if isinstance(parsed, str):
        # raised outside any except block: no context that could hold the URL
        msg = f"invalid Redis URL: {parsed}{_HINT}"
        raise ValueError(msg)
    return parsed


def redact_url(url: str) -> str:
    """The URL's address in quotes, without its password (for ``repr``)."""
    try:
        return repr(parse_url(url).address)
    except ValueError:
        return "'<invalid url>'"
