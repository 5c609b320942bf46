"""What the server needs from the rest of the core, as small protocols (server/ never imports
service/: the service composes the server and hands these in)."""

import time
from collections.abc import Awaitable, Callable
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
    # Which authority (settings.upstream: kpra | kra-agent | protax): the dashboard shows Kenya's
    # kinds, lines, tax bands and receipt links in the two Kenya modes (docs/KENYA.md).
    upstream: str = "kpra"
    # ProTax: whether the API key is a test key (ptx_test_…) or a live one; None: unknown.
    key_mode: str | None = None
    # ProTax's GET /customers?pin= (service.facade.Facade.lookup_customer): the registered
    # business of a KRA PIN as a dict, None when ProTax knows no such PIN. None: not offered.
    lookup_customer: Callable[[str], Awaitable[dict | None]] | None = None
