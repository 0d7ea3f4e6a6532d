"""Console sessions: a signed cookie that names an API token, and the CSRF token that goes with it.

Signing in exchanges an API token (``edoc token create``) for a session cookie.
The cookie carries no secret: only the token's id, role and name, when it was
issued and a random session id, signed with HMAC-SHA256 under
``EDOC_CONSOLE_SECRET``. Every request checks the signature, the age
(``EDOC_CONSOLE_SESSION_MINUTES``) and that the token is still active in the
database, so revoking a token ends its sessions at once.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other
site's page sends it) and ``Secure`` with ``EDOC_CONSOLE_SECURE_COOKIES``.
State-changing forms also carry a CSRF token derived from the session id, so a
request forged without the page cannot act (defence in depth next to SameSite).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass

from hub.store.tokens import TokenInfo

#: Name of the session cookie.
COOKIE = "edoc_session"
#: Name of the language cookie (not secret, readable by scripts).
LANG_COOKIE = "edoc_lang"
#: Form field that carries the CSRF token.
CSRF_FIELD = "csrf_token"
_CONTEXT = b"edoc-console-session-v1|"
_CSRF_CONTEXT = b"edoc-console-csrf-v1|"


@dataclass(frozen=True)
class Session:
    """Who is signed in: the API token behind the session, and the session's own id."""

    token_id: int
    role: str
    name: str
    issued_at: int
    sid: str

    @property
    def is_operator(self) -> bool:
        """Operators may change things (reprocess); auditors only look."""
        return self.role == "operator"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Issues and checks session cookies and CSRF tokens under one secret."""

    def __init__(self, secret: bytes | None, max_age_seconds: int) -> None:
        # Without a configured secret, sessions are valid for this process only.
        self._secret = secret or secrets.token_bytes(32)
        self.max_age = max_age_seconds
        # Sessions ended by signing out, until they would have expired anyway (this process).
        self._ended: dict[str, float] = {}

    def _mac(self, context: bytes, data: bytes) -> bytes:
        return hmac.new(self._secret, context + data, hashlib.sha256).digest()

    def issue(self, token: TokenInfo, now: float | None = None) -> tuple[Session, str]:
        """A new session for ``token`` and its cookie value."""
        session = Session(
            token_id=token.id,
            role=token.role,
            name=token.name,
            issued_at=int(now if now is not None else time.time()),
            sid=secrets.token_urlsafe(16),
        )
        payload = _b64(json.dumps(asdict(session), separators=(",", ":")).encode())
        return session, f"{payload}.{_b64(self._mac(_CONTEXT, payload.encode()))}"

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in ``cookie`` if its signature holds and it has not expired."""
        # base64url is ASCII: a cookie with anything else in it was not issued here
        if not cookie or cookie.count(".") != 1 or not cookie.isascii():
            return None
        payload, mac = cookie.split(".")
        try:
            given = _unb64(mac)
            if not hmac.compare_digest(given, self._mac(_CONTEXT, payload.encode())):
                return None
            session = Session(**json.loads(_unb64(payload)))
        except (ValueError, TypeError, binascii.Error):
            return None
        current = now if now is not None else time.time()
        if not 0 <= current - session.issued_at <= self.max_age:
            return None
        if session.sid in self._ended:
            return None
        return session

    def end(self, session: Session, now: float | None = None) -> None:
        """Refuse ``session`` from now on (signing out), even if its cookie was copied."""
        current = now if now is not None else time.time()
        self._ended = {sid: exp for sid, exp in self._ended.items() if exp > current}
        self._ended[session.sid] = session.issued_at + self.max_age

    def csrf(self, session: Session) -> str:
        """The CSRF token of ``session`` (stable for the session's life)."""
        return _b64(self._mac(_CSRF_CONTEXT, session.sid.encode()))

    def check_csrf(self, session: Session, value: str | None) -> bool:
        """True when ``value`` is the CSRF token of ``session``.

        Compared as bytes: ``hmac.compare_digest`` raises ``TypeError`` on a ``str`` with
        non-ASCII characters, and a forged form may carry any text.
        """
        if not value:
            return False
        given = str(value).encode("utf-8", "surrogatepass")
        return hmac.compare_digest(given, self.csrf(session).encode())
