"""What the server needs from the rest of the core, as small protocols (server/ never imports
service/: the service composes the server and hands these in)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.server.security import SecurityPolicy
from app.store.gateway import Store
from app.sync.forwarder import ForwarderStatus


class Authenticator(Protocol):
    async def reload(self) -> bool:
        """Re-read the configured POSes (rate-limited); True if anything changed."""
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
