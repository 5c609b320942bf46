"""The running core: wires store, forwarder and server on one asyncio loop. No Qt here."""

from app.service.core import Core

__all__ = ["Core"]
