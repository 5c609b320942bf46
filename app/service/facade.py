"""The service as the tray app and its windows see it: plain data in, plain data out, every
call a coroutine on the core's loop (gui/runtime.py runs them there from the Qt thread). The
GUI never touches the store, the server or SQL; it gets the same dicts the dashboard's JSON
API answers (server/invoices_api.py), so the two can never disagree."""

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp

from app import keystore, settings
from app.domain import qr
from app.domain.states import State
from app.server.invoices_api import invoice_detail, invoice_row
from app.service.status import Snapshot
from app.settings import Settings
from app.store.listing import STATE_GROUPS, Cursor, InvoiceFilter

log = logging.getLogger(__name__)

GUI_WHO = "from the tray app"  # in the attempt log: "Sent again on request from the tray app."


class ServiceError(RuntimeError):
    """Something the user asked for could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, object]]
    next: Cursor | None


@dataclass(frozen=True)
class PosSetting:
    pos_id: str
    ntn: str
    has_key: bool
    held_reason: str | None


class Facade:
    def __init__(self, core: "Core") -> None:  # noqa: F821 (service.core imports this module)
        self.core = core
        self._unreachable_since: float | None = None

    # ------------------------------------------------------------------ status

    async def snapshot(self) -> Snapshot:
        core = self.core
        assert core.store is not None and core.forwarder is not None
        summary = await core.store.summary()
        status = core.forwarder.status()
        now = time.time()
        if status.reachable is False:
            if self._unreachable_since is None:
                self._unreachable_since = now
        else:
            self._unreachable_since = None
        rejected = ()
        if summary.counts.get(State.REJECTED.value):
            rejected = tuple((reason, n) for state, reason, n in await core.store.problems()
                             if state is State.REJECTED)
        registry = core.registry
        ready = registry.ready_count() if registry else 0
        if registry is not None and not ready:  # a POS set up meanwhile (rate-limited look)
            await registry.reload()
            ready = registry.ready_count()
        return Snapshot(
            at=now, counts=dict(summary.counts), oldest_pending_at=summary.oldest_pending_at,
            last_synced_at=summary.last_synced_at,
            held=tuple((p.pos_id, p.held_reason or "credentials refused") for p in summary.held),
            reachable=status.reachable, unreachable_since=self._unreachable_since,
            last_error=status.last_error, paused=status.paused, practice=core.settings.practice,
            upstream_name=core.upstream_name, base_url=core.base_url, rejected_reasons=rejected,
            pos_ready=ready)

    # ---------------------------------------------------------------- invoices

    async def invoices(self, *, state: str | None = None, search: str | None = None,
                       pos_id: str | None = None, limit: int = 200,
                       after: Cursor | None = None) -> Page:
        """A page of the queue, newest first. ``state``: a state or a group ("pending",
        "unconfirmed"); ``search``: the start of an invoice number."""
        store = self._store()
        f = InvoiceFilter(states=STATE_GROUPS[state] if state else (), pos_id=pos_id or None,
                          invoice_no=(search or "").strip() or None)
        records, cursor = await store.list_invoices(f, limit, after)
        return Page([invoice_row(r) for r in records], cursor)

    async def invoice(self, invoice_id: int) -> dict[str, object] | None:
        """One invoice with every attempt, its warnings and its QR URL (as the dashboard)."""
        found = await self._store().invoice_with_attempts(invoice_id)
        return None if found is None else invoice_detail(*found)

    async def retry(self, invoice_id: int) -> str:
        state, _ = await self._store().retry_invoice(invoice_id, GUI_WHO)
        self.core.forwarder.wake()
        return state

    async def retry_failed(self) -> tuple[int, list[str]]:
        """Send every rejected invoice again and release every held POS (after a fix)."""
        requeued, released = await self._store().retry_all(
            [State.HELD.value, State.REJECTED.value], GUI_WHO)
        self.core.forwarder.wake()
        return requeued, released

    async def set_paused(self, paused: bool) -> None:
        self.core.set_sending_paused(paused)

    async def qr_png(self, url: str) -> bytes:
        return await asyncio.to_thread(qr.qr_png, url)

    async def dashboard_url(self) -> str:
        """The dashboard's address, signed in already when a POS is set up (a one-time ticket
        the browser trades for a session cookie), else the sign-in page."""
        return self.core.dashboard_url()

    # ------------------------------------------------------------------- setup

    async def pos_settings(self) -> list[PosSetting]:
        poses = await self._store().list_pos()
        # all at once, by a helper process (keystore.read_keys): the tray's first-run check
        # asks this at every start, and the keyring would stay loaded here (10-20 MB)
        report = await asyncio.to_thread(keystore.read_keys, [
            (pos.upstream, pos.ntn, pos.pos_id) for pos in poses])
        return [PosSetting(pos.pos_id, pos.ntn, isinstance(key, str) and bool(key),
                           pos.held_reason) for pos, key in zip(poses, report.keys, strict=True)]

    async def save_pos(self, ntn: str, pos_id: str, key: str) -> int:
        """Key into the OS keyring, the POS into the database, its held invoices released;
        returns how many were released. Raises ServiceError (keyring refused) with nothing
        changed."""
        ntn, pos_id = ntn.strip(), pos_id.strip()
        try:
            await asyncio.to_thread(keystore.save_key, "kpra", ntn, pos_id, key)
        except keystore.KeystoreError as why:
            raise ServiceError(f"{why}. Nothing was changed: unlock or install the "
                               "computer's keyring, then try again.") from None
        store = self._store()
        await store.upsert_pos(ntn, pos_id)
        released = await store.release_pos(pos_id)
        await self.core.credentials_changed(ntn, pos_id, key)
        return released

    async def test_connection(self, upstream_url: str | None = None) -> tuple[bool, str]:
        """Can the authority be reached from here (DNS, TLS, an HTTP answer)? KPRA has no way to
        check a key without filing an invoice: the key is checked by the first one."""
        url = upstream_url or self.core.upstream_url
        # The sandbox's CA only for the sandbox: KPRA (live) tested from practice mode is
        # checked against the system's CAs, as it will be once the utility runs live.
        ssl = self.core.upstream_ssl() if url == self.core.upstream_url else True
        timeout = aiohttp.ClientTimeout(total=15)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url, ssl=ssl) as response:
                await response.read()
                return True, (f"{self.core.upstream_name} answered (HTTP {response.status}) at "
                              f"{url}. The key is checked with the first invoice.")
        except TimeoutError:
            return False, f"No answer from {url} within 15 s. Check the internet connection."
        except aiohttp.ClientError as why:
            return False, f"Cannot reach {url}: {why}. Check the internet connection."

    def keyring_warning(self) -> str | None:
        return keystore.backend_warning()

    def keyring_name(self) -> str:
        return keystore.backend_name()

    def settings(self) -> Settings:
        return self.core.settings

    def save_settings(self, **values: object) -> Settings:
        """Write settings to config.toml (validated first); most take effect at the next start."""
        try:
            return settings.save(self.core.settings.data_dir, **values)
        except settings.SettingsError as why:
            raise ServiceError(str(why)) from None

    def _store(self):
        store = self.core.store
        if store is None:
            raise ServiceError("The service is not running.")
        return store
