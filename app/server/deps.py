"""What the server needs from the rest of the core, as small protocols (server/ never imports
service/: the service composes the server and hands these in)."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from app.domain.auth import CredentialTable
from app.server.security import SecurityPolicy
from app.server.sessions import SessionStore
from app.server.throttle import FailureThrottle
from app.store.gateway import Store
from app.sync.forwarder import ForwarderStatus


class Authenticator(Protocol):
    async def reload(self) -> bool:
        """Re-read the configured POSes (rate-limited); True if anything changed."""
        ...

    def table(self) -> CredentialTable:
        """pos_id → (ntn, key) of every configured POS (dashboard sign-in checks against it)."""
        ...


@dataclass
class ServerDeps:
    store: Store
    auth: Authenticator
    forwarder_status: Callable[[], ForwarderStatus]
    invoice_saved: Callable[[], None]  # wakes the forwarder
    upstream_name: str
    upstream_url: str
    version: str
    practice: bool = False
    security: SecurityPolicy | None = None  # None: loopback only, default limits
    # The dashboard (server/session_api.py, dashboard_api.py): sign-in sessions (in memory),
    # failed sign-ins per client (its own count: a till with a wrong key never locks the
    # shopkeeper out of the dashboard), and pausing / resuming sending.
    sessions: SessionStore = field(default_factory=SessionStore)
    signin_throttle: FailureThrottle = field(
        default_factory=lambda: FailureThrottle(time.monotonic))
    set_sending_paused: Callable[[bool], None] | None = None  # None: not available
