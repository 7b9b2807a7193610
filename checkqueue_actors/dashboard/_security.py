"""Who may act: the token, login sessions, and the checks against cross-site requests.

- An action (a POST) needs the token, either as ``Authorization: Bearer <token>`` or
  through a session cookie set by the login form; with no token configured, or in
  read-only mode, every action is refused.
- A POST a browser marks as coming from another site (``Sec-Fetch-Site`` other than
  ``same-origin``/``none``, or an ``Origin`` other than the app's own) is refused.
- A session's POST must also carry that session's CSRF token (a form field or the
  ``X-CSRF-Token`` header); a script sending the Bearer token needs none.
- Tokens are compared in constant time; no token or session id is ever logged or
  shown in a page (the CSRF token, which grants nothing on its own, is in forms).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["SESSION_COOKIE", "Refusal", "Security", "Session"]

SESSION_COOKIE: Final = "checkqueue_session"
SESSION_SECONDS: Final = 12 * 3600.0
"""A login lasts this long."""
MAX_SESSIONS: Final = 1000
"""Sessions kept at most (the oldest is forgotten first)."""


@attrs.frozen
class Session:
    """A logged-in browser."""

    csrf: str
    expires: float


class Refusal(Exception):
    """Why a request may not act (an HTTP status and a message without secrets)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Security:
    """The app's token, read-only flag and sessions."""

    def __init__(self, token: str | None, *, read_only: bool) -> None:
        if token is not None and not token:
            msg = "token must be a non-empty str or None"
            raise ValueError(msg)
        self._token = _digest(token) if token is not None else None
        self.read_only = read_only
        self._sessions: dict[str, Session] = {}

    @property
    def actions_enabled(self) -> bool:
        """True when some request may act (a token is set and the app is not read-only)."""
        return self._token is not None and not self.read_only

    def token_matches(self, candidate: str) -> bool:
        """Constant-time comparison with the configured token (False when none is)."""
        if self._token is None:
            return False
        return hmac.compare_digest(_digest(candidate), self._token)

    # -- sessions -----------------------------------------------------------------------------

    def open_session(self) -> str:
        """A new session's id (for the cookie)."""
        now = time.time()
        for sid in [sid for sid, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[sid]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(secrets.token_urlsafe(32), now + SESSION_SECONDS)
        return sid

    def close_session(self, request: Request) -> None:
        """Forget the request's session, if any."""
        sid = request.cookies.get(SESSION_COOKIE)
        if sid is not None:
            self._sessions.pop(sid, None)

    def session(self, request: Request) -> Session | None:
        """The request's live session, if it has one."""
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None or session.expires <= time.time():
            return None
        return session

    # -- checks -------------------------------------------------------------------------------

    def check_same_origin(self, request: Request) -> None:
        """Refuse (403) a request a browser says comes from another site.

        Raises:
          Refusal: 403.
        """
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise Refusal(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin is not None:
            own = f"{request.url.scheme}://{request.url.netloc}"
            if origin != own:
                raise Refusal(403, "cross-origin request refused")

    def check_action(self, request: Request, csrf: str | None) -> None:
        """Refuse an action the request may not take.

        Args:
          csrf: The CSRF token the request carries (form field or header), if any.
        Raises:
          Refusal: 403 read-only, no token configured, cross-site, or a bad CSRF
            token; 401 without (valid) credentials.
        """
        if self.read_only:
            raise Refusal(403, "this dashboard is read-only")
        if self._token is None:
            raise Refusal(403, "actions are disabled: the dashboard has no token configured")
        self.check_same_origin(request)
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not self.token_matches(value.strip()):
                raise Refusal(401, "invalid token")
            return
        session = self.session(request)
        if session is None:
            raise Refusal(401, "log in, or send the token as 'Authorization: Bearer <token>'")
        if csrf is None or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            raise Refusal(403, "missing or invalid CSRF token")
