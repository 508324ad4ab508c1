"""Dashboard sessions: one encrypted cookie holding who is logged in, the CSRF token and flashes.

The cookie is a Fernet token (AES-CBC + HMAC-SHA256, from ``cryptography``)
under a key derived with HKDF from the hub's master key, so it can be neither
read nor forged without that key, and every ``hub serve`` process sharing the
key accepts it (no server-side session table). It is ``HttpOnly``,
``SameSite=Lax`` and ``Secure`` when the dashboard is served over HTTPS.

Every visitor gets a session, logged in or not, so the login form carries a
CSRF token too. Logging in issues a fresh session id and CSRF token (no session
fixation); a session ends ``MAX_AGE`` after login whatever happens in between.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.auth import Principal, Role

__all__ = ["COOKIE", "MAX_AGE", "Session", "SessionCodec"]

COOKIE = "hub_session"
MAX_AGE = timedelta(hours=12)
_INFO = b"hub dashboard session cookie v1"


@dataclass
class Session:
    """One browser's session; ``dirty`` tells the response to send the cookie again."""

    sid: str
    csrf: str
    name: str | None = None
    role: str | None = None
    via: str | None = None
    login_at: float | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)
    dirty: bool = False

    @classmethod
    def fresh(cls) -> Session:
        """An anonymous session with its own CSRF token (sent back on the next response)."""
        return cls(sid=secrets.token_urlsafe(18), csrf=secrets.token_urlsafe(32), dirty=True)

    @property
    def principal(self) -> Principal | None:
        """Who is logged in, as recorded at login (``access`` re-checks it against the store)."""
        if self.name is None or self.role is None or self.via not in ("token", "password"):
            return None
        return Principal(name=self.name, role=Role(self.role), via=self.via)  # type: ignore[arg-type]

    def login(self, who: Principal) -> None:
        """Start a logged-in session: new id and CSRF token, so a planted cookie is worthless."""
        self.sid = secrets.token_urlsafe(18)
        self.csrf = secrets.token_urlsafe(32)
        self.name, self.role, self.via = who.name, who.role.value, who.via
        self.login_at = time.time()
        self.dirty = True

    def logout(self) -> None:
        """Forget the principal and rotate the id and CSRF token."""
        self.sid = secrets.token_urlsafe(18)
        self.csrf = secrets.token_urlsafe(32)
        self.name = self.role = self.via = None
        self.login_at = None
        self.dirty = True

    def flash(self, kind: str, text: str) -> None:
        """A one-time message for the next page (``kind``: ok, error, info)."""
        self.flashes.append((kind, text))
        self.dirty = True

    def pop_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        if out:
            self.dirty = True
        return out

    def as_doc(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "csrf": self.csrf,
            "name": self.name,
            "role": self.role,
            "via": self.via,
            "login_at": self.login_at,
            "flashes": [list(f) for f in self.flashes[-5:]],
        }


class SessionCodec:
    """Turns sessions into cookie values and back; a tampered, foreign or stale cookie is None."""

    def __init__(self, master_key: bytes, max_age: timedelta = MAX_AGE) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            master_key
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self.max_age = max_age

    def dumps(self, session: Session) -> str:
        payload = json.dumps(session.as_doc(), separators=(",", ":")).encode()
        return self._fernet.encrypt(payload).decode("ascii")

    def loads(self, value: str, now: float | None = None) -> Session | None:
        """The session in ``value``; None when it was not made by this key or is too old.

        A logged-in session older than ``max_age`` since login comes back logged out.
        """
        seconds = int(self.max_age.total_seconds())
        try:
            doc = json.loads(self._fernet.decrypt(value.encode("ascii"), ttl=seconds))
            session = Session(
                sid=str(doc["sid"]),
                csrf=str(doc["csrf"]),
                name=doc.get("name"),
                role=doc.get("role"),
                via=doc.get("via"),
                login_at=doc.get("login_at"),
                flashes=[(str(k), str(t)) for k, t in doc.get("flashes") or []],
            )
        except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError):
            return None
        now = time.time() if now is None else now
        if session.login_at is not None and now - float(session.login_at) > seconds:
            session.logout()
        return session
