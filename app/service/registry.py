"""The POSes this utility serves: NTN + POS ID from the store, keys from the OS keyring, kept in
memory so a POS request never waits for the keyring. Picks up `rims-utility setup` run while the
service is up (the store's per-POS version changes)."""

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass

from app import keystore
from app.connectors.outcomes import Credentials
from app.logs import redactor
from app.store.gateway import Store

log = logging.getLogger(__name__)

REFRESH_AT_MOST_EVERY = 2.0  # seconds; an unknown key cannot make us hammer the keyring


@dataclass(frozen=True)
class _Entry:
    ntn: str
    key: str | None
    version: int


class PosRegistry:
    def __init__(self, store: Store, upstream: str = "kpra",
                 fixed: dict[str, Credentials] | None = None):
        self._store = store
        self._upstream = upstream
        self._fixed = dict(fixed or {})  # practice mode's sample POS: never in the keyring
        self._entries: dict[str, _Entry] = {}
        self._last_refresh = 0.0
        self._lock = asyncio.Lock()
        for credentials in self._fixed.values():
            redactor.register(credentials.key)

    async def refresh(self, *, force: bool = True) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._last_refresh < REFRESH_AT_MOST_EVERY:
                return
            self._last_refresh = time.monotonic()
            entries: dict[str, _Entry] = {}
            for pos in await self._store.list_pos():
                known = self._entries.get(pos.pos_id)
                if known and known.version == pos.version and known.ntn == pos.ntn:
                    entries[pos.pos_id] = known
                    continue
                entries[pos.pos_id] = _Entry(pos.ntn, await self._load_key(pos), pos.version)
            self._entries = entries

    async def _load_key(self, pos: object) -> str | None:
        fixed = self._fixed.get(pos.pos_id)  # type: ignore[attr-defined]
        if fixed is not None:
            return fixed.key
        try:
            key = await asyncio.to_thread(keystore.load_key, self._upstream, pos.ntn, pos.pos_id)  # type: ignore[attr-defined]
        except keystore.KeystoreError as why:
            log.error("POS %s: %s", pos.pos_id, why)  # type: ignore[attr-defined]
            return None
        if key is None:
            log.warning("POS %s is configured but its key is not in the keyring; run setup again",
                        pos.pos_id)  # type: ignore[attr-defined]
        else:
            redactor.register(key)
        return key

    def pos_ids(self) -> list[str]:
        return sorted(self._entries)

    async def authenticate(self, ntn: str, pos_id: str, key: str) -> bool:
        """Constant-time check of what a POS sent; re-reads the configuration (rate-limited)
        when it does not match, so a POS added by `setup` works without a restart."""
        if self._matches(ntn, pos_id, key):
            return True
        await self.refresh(force=False)
        return self._matches(ntn, pos_id, key)

    def _matches(self, ntn: str, pos_id: str, key: str) -> bool:
        entry = self._entries.get(pos_id)
        expected = entry.key if entry and entry.key is not None else "\x00unknown-pos\x00"
        key_ok = hmac.compare_digest(key.encode(), expected.encode())
        ntn_ok = hmac.compare_digest(ntn.encode(), (entry.ntn if entry else "").encode())
        return bool(entry) and entry.key is not None and key_ok and ntn_ok

    async def credentials(self, pos_id: str, min_version: int) -> Credentials | None:
        """For the forwarder: the key as of at least ``min_version`` of this POS's record."""
        entry = self._entries.get(pos_id)
        if entry is None or entry.version < min_version:
            await self.refresh(force=True)
            entry = self._entries.get(pos_id)
        if entry is None or entry.key is None:
            return None
        return Credentials(entry.ntn, pos_id, entry.key)
