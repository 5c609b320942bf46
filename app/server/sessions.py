"""Dashboard sign-in sessions, in memory only. Pure logic (no aiohttp; the clock is injected).

- A session token is 256 random bits. Only its SHA-256 is kept here, so a memory dump or a debug
  print of this object does not hand out a usable cookie. The token lives in the browser's
  HttpOnly cookie and nowhere else; it is never logged or written to disk.
- Each session has its own CSRF token (also 256 random bits). State-changing dashboard requests
  must echo it in the ``X-CSRF-Token`` header; it is compared in constant time.
- Sessions expire ``lifetime`` seconds after sign-in (no sliding renewal), are pruned as they are
  met and on every sign-in, and at most ``max_sessions`` are kept (the oldest go first).
- A restart of the service forgets every session: the shopkeeper signs in again.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

LIFETIME = 12 * 3600.0  # a shop's working day
MAX_SESSIONS = 64  # browsers on this computer (or the allowed LAN clients); bounds memory
TOKEN_BYTES = 32  # 256 bits
TICKET_LIFETIME = 60.0  # the tray's "Open dashboard": the browser opens it within seconds


@dataclass(frozen=True)
class Session:
    pos_id: str
    csrf_token: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class NewSession:
    token: str  # for the cookie only: not kept here
    session: Session


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    def __init__(self, lifetime: float = LIFETIME, *, clock: Callable[[], float] = time.time,
                 max_sessions: int = MAX_SESSIONS):
        if lifetime <= 0 or max_sessions < 1:
            raise ValueError("session lifetime and max_sessions must be positive")
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: dict[str, Session] = {}  # sha256(token) -> session, oldest first
        self._tickets: dict[str, tuple[str, float]] = {}  # sha256(ticket) -> (pos_id, until)

    def create(self, pos_id: str) -> NewSession:
        now = self.clock()
        self.prune()
        while len(self._sessions) >= self.max_sessions:
            del self._sessions[next(iter(self._sessions))]
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = Session(pos_id=pos_id, csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
                          created_at=now, expires_at=now + self.lifetime)
        self._sessions[_digest(token)] = session
        return NewSession(token, session)

    def get(self, token: str | None) -> Session | None:
        """The live session for this cookie value, or None (unknown, ended or expired)."""
        if not token:
            return None
        digest = _digest(token)
        session = self._sessions.get(digest)
        if session is None:
            return None
        if session.expires_at <= self.clock():
            del self._sessions[digest]
            return None
        return session

    def end(self, token: str | None) -> bool:
        """Sign out: True if there was such a session."""
        return bool(token) and self._sessions.pop(_digest(token or ""), None) is not None

    def end_all(self, pos_id: str | None = None) -> int:
        """Forget every session (of one POS, if given); how many were ended."""
        doomed = [d for d, s in self._sessions.items() if pos_id is None or s.pos_id == pos_id]
        for digest in doomed:
            del self._sessions[digest]
        return len(doomed)

    def prune(self) -> int:
        now = self.clock()
        expired = [d for d, s in self._sessions.items() if s.expires_at <= now]
        for digest in expired:
            del self._sessions[digest]
        return len(expired)

    def issue_ticket(self, pos_id: str) -> str:
        """A one-time sign-in for the tray app's "Open dashboard": the browser trades it (GET
        /api/session/ticket/…) for a session within TICKET_LIFETIME seconds, once. Only the
        tray app, in this process, can ask for one; only its digest is kept."""
        now = self.clock()
        self._tickets = {d: t for d, t in self._tickets.items() if t[1] > now}
        while len(self._tickets) >= self.max_sessions:
            del self._tickets[next(iter(self._tickets))]
        ticket = secrets.token_urlsafe(TOKEN_BYTES)
        self._tickets[_digest(ticket)] = (pos_id, now + TICKET_LIFETIME)
        return ticket

    def redeem_ticket(self, ticket: str) -> NewSession | None:
        """A new session for a live, unused ticket (which is used up), else None."""
        entry = self._tickets.pop(_digest(ticket), None)
        if entry is None or entry[1] <= self.clock():
            return None
        return self.create(entry[0])

    def __len__(self) -> int:
        return len(self._sessions)

    @staticmethod
    def csrf_ok(session: Session, header: str | None) -> bool:
        """The X-CSRF-Token header carries this session's token (constant-time comparison)."""
        if not header:
            return False
        return hmac.compare_digest(header.encode("utf-8", "surrogatepass"),
                                   session.csrf_token.encode())
