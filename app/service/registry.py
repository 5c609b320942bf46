"""The POSes this utility serves: NTN + POS ID from the store, keys from the OS keyring, kept in
memory so a POS request never waits for the keyring. Picks up `rims-utility setup` run while the
service is up (the store's per-POS version changes). Every change is handed to the store's writer
process, which checks each POS request against it.

The keyring is read in a short-lived helper process (keystore.read_keys): all the keys a refresh
needs at once, and only those of POSes that are new or changed."""

import asyncio
import logging
import time
from dataclasses import dataclass

from app import keystore
from app.connectors.outcomes import Credentials
from app.domain.auth import CredentialTable
from app.service.upstreams import register_secrets, till_key
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
                 fixed: dict[str, Credentials] | None = None, *, check_keyring: bool = False):
        """``check_keyring``: look at the keyring at the first refresh even if no key is to be
        read (for ``backend_warning``)."""
        self._store = store
        self._upstream = upstream
        self._fixed = dict(fixed or {})  # practice mode's sample POS: never in the keyring
        self._entries: dict[str, _Entry] = {}
        self._last_refresh = 0.0
        self._last_pushed = False
        self._lock = asyncio.Lock()
        self._check_keyring = check_keyring
        self.backend_warning: str | None = None  # keystore.backend_warning(), once looked at
        for credentials in self._fixed.values():
            register_secrets(credentials.key)

    async def refresh(self, *, force: bool = True) -> bool:
        """Re-read the configuration; True if anything changed (and was handed to intake)."""
        async with self._lock:
            if not force and time.monotonic() - self._last_refresh < REFRESH_AT_MOST_EVERY:
                return False
            self._last_refresh = time.monotonic()
            entries: dict[str, _Entry] = {}
            to_read = []
            for pos in await self._store.list_pos():
                known = self._entries.get(pos.pos_id)
                if known and known.version == pos.version and known.ntn == pos.ntn:
                    entries[pos.pos_id] = known
                elif pos.pos_id in self._fixed:
                    entries[pos.pos_id] = _Entry(pos.ntn, self._fixed[pos.pos_id].key,
                                                 pos.version)
                else:
                    to_read.append(pos)
            for pos, key in zip(to_read, await self._load_keys(to_read), strict=True):
                entries[pos.pos_id] = _Entry(pos.ntn, key, pos.version)
            changed = entries != self._entries or not self._last_pushed
            self._entries = entries
            if changed:
                self._store.set_writer_context(credentials=self.table())
                self._last_pushed = True
            return changed

    async def reload(self) -> bool:
        """After a request that did not match: look again (rate-limited)."""
        return await self.refresh(force=False)

    def table(self) -> CredentialTable:
        """What intake checks a till's post against: pos_id → (NTN or KRA PIN, the till's key)."""
        return {pos_id: (e.ntn, till_key(self._upstream, e.key))
                for pos_id, e in self._entries.items()}

    async def _load_keys(self, poses: list) -> list[str | None]:
        """The keys of ``poses`` (store PosRecords), all read at once (keystore.read_keys)."""
        if not poses and not self._check_keyring:
            return []
        self._check_keyring = False
        report = await asyncio.to_thread(keystore.read_keys, [
            (self._upstream, pos.ntn, pos.pos_id) for pos in poses])
        self.backend_warning = report.warning
        keys: list[str | None] = []
        for pos, key in zip(poses, report.keys, strict=True):
            if isinstance(key, keystore.KeystoreError):
                log.error("POS %s: %s", pos.pos_id, key)
                key = None
            elif key is None:
                log.warning("POS %s is configured but its key is not in the keyring; run setup "
                            "again", pos.pos_id)
            else:
                register_secrets(key)
            keys.append(key)
        return keys

    def ready_count(self) -> int:
        """How many POS IDs have their key at hand (a till's invoice from any other is refused)."""
        return sum(1 for entry in self._entries.values()
                   if till_key(self._upstream, entry.key))

    def pos_ids(self) -> list[str]:
        return sorted(self._entries)

    async def credentials(self, pos_id: str, min_version: int) -> Credentials | None:
        """For the forwarder: the key as of at least ``min_version`` of this POS's record."""
        entry = self._entries.get(pos_id)
        if entry is None or entry.version < min_version:
            await self.refresh(force=True)
            entry = self._entries.get(pos_id)
        if entry is None or entry.key is None:
            return None
        return Credentials(entry.ntn, pos_id, entry.key)
