"""The service as the tray app and its windows see it: plain data in, plain data out, every
call a coroutine on the core's loop (gui/runtime.py runs them there from the Qt thread). The
GUI never touches the store, the server or SQL; it gets the same dicts the dashboard's JSON
API answers (server/invoices_api.py), so the two can never disagree."""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from app import keystore, settings
from app.domain import qr
from app.domain.states import State
from app.server.invoices_api import invoice_detail, invoice_row
from app.service import upstreams
from app.service.status import Snapshot
from app.settings import Settings
from app.store.listing import STATE_GROUPS, Cursor, InvoiceFilter

if TYPE_CHECKING:  # (imported when a Kenya setup runs: a KPRA installation never loads it)
    from app.service.kenya_setup import KenyaSetupResult, ProTaxCheck

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
        return None if found is None else invoice_detail(*found, self.core.settings.upstream)

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

    async def has_pos(self) -> bool:
        """Is any POS set up? (The tray's first-run check, at every start: no keyring read.)"""
        return bool(await self._store().list_pos())

    async def pos_settings(self) -> list[PosSetting]:
        poses = await self._store().list_pos()
        # all at once, by a helper process (keystore.read_keys): the keyring would stay loaded
        # here (10-20 MB)
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

    # ------------------------------------------------------------ Kenya setup
    # (service/kenya_setup.py does the work; these give it the core's store, settings and TLS)

    def _practice_address(self, base_url: str) -> bool:
        """Set up against the practice sandbox running now: config.toml is left as it is."""
        return bool(self.core.settings.practice and self.core.upstream_url
                    and base_url.strip().rstrip("/") == self.core.upstream_url.rstrip("/"))

    async def kra_agent_sign_in(self, base_url: str, email: str, password: str) -> dict:
        """Check a KRA Agent account (nothing saved). Raises ServiceError saying why not."""
        from app.service import kenya_setup

        try:
            return await kenya_setup.sign_in_kra_agent(
                base_url=base_url, email=email, password=password, ssl=self.core.upstream_ssl())
        except kenya_setup.KenyaSetupError as why:
            raise ServiceError(str(why)) from None

    async def setup_kra_agent(self, **fields: str) -> "KenyaSetupResult":
        """Sign in, set up the POS and initialise its device (kenya_setup.setup_kra_agent), then
        use the new POS at once."""
        from app.service import kenya_setup

        try:
            result = await kenya_setup.setup_kra_agent(
                self._store(), self.core.settings, ssl=self.core.upstream_ssl(),
                save_settings=not self._practice_address(fields.get("base_url", "")), **fields)
        except kenya_setup.KenyaSetupError as why:
            raise ServiceError(str(why)) from None
        await self.core.credentials_changed(result.kra_pin, result.pos_id,
                                            fields["integration_token"].strip())
        return result

    async def protax_check(self, base_url: str, api_key: str) -> "ProTaxCheck":
        """ProTax's /health with this key (Test connection). Raises ServiceError."""
        from app.service import kenya_setup

        try:
            return await kenya_setup.check_protax(base_url=base_url, api_key=api_key,
                                                  ssl=self.core.upstream_ssl())
        except kenya_setup.KenyaSetupError as why:
            raise ServiceError(str(why)) from None

    async def setup_protax(self, **fields: str) -> "KenyaSetupResult":
        from app.service import kenya_setup

        try:
            result = await kenya_setup.setup_protax(
                self._store(), self.core.settings, ssl=self.core.upstream_ssl(),
                save_settings=not self._practice_address(fields.get("base_url", "")), **fields)
        except kenya_setup.KenyaSetupError as why:
            raise ServiceError(str(why)) from None
        await self.core.credentials_changed(result.kra_pin, result.pos_id,
                                            fields["api_key"].strip())
        return result

    async def kenya_account(self) -> dict[str, object]:
        """For the settings window (nothing secret): the authority, its address, the KRA Agent
        account's email, and each ProTax POS's key kind ("test" / "live" / None)."""
        from app.service import kenya_setup

        settings = self.core.settings
        kinds = {pos_id: kenya_setup.key_kind(api_key) if api_key else None
                 for pos_id, api_key in await self._protax_keys()}
        return {"upstream": settings.upstream, "name": self.core.upstream_name,
                "base_url": self.core.upstream_url, "practice": settings.practice,
                "email": settings.kra_agent_email if settings.upstream == "kra-agent" else "",
                "key_kinds": kinds}

    async def test_kenya_connection(self) -> tuple[bool, str]:
        """Test connection for the Kenya upstream running now: ProTax /health with a POS's key;
        the KRA Agent: sign in with the account in the keyring (reachability in practice)."""
        from app.service import kenya_setup
        from app.service.upstreams import AccountStore

        settings, url = self.core.settings, self.core.upstream_url
        try:
            if settings.upstream == "protax":
                for pos_id, api_key in await self._protax_keys():
                    if api_key:
                        check = await kenya_setup.check_protax(base_url=url, api_key=api_key,
                                                               ssl=self.core.upstream_ssl())
                        kind = "TEST key: invoices are not real" if check.key_kind == "test" \
                            else "LIVE key"
                        return True, (f"ProTax answered at {url}: version {check.version}, "
                                      f"{check.environment}, KRA eTIMS {check.etims_status}; "
                                      f"POS {pos_id}: {kind}." +
                                      (f" {check.warning}" if check.warning else ""))
                return await self.test_connection(url)
            account = None if settings.practice else await asyncio.to_thread(
                AccountStore(settings.kra_agent_email).load)
            if not account or not account.get("password"):
                return await self.test_connection(url)
            await kenya_setup.sign_in_kra_agent(
                base_url=url, email=settings.kra_agent_email,
                password=str(account["password"]), ssl=self.core.upstream_ssl())
            return True, (f"The KRA Agent answered at {url} and signed in "
                          f"{settings.kra_agent_email}.")
        except kenya_setup.KenyaSetupError as why:
            return False, str(why)
        except keystore.KeystoreError as why:
            return False, f"{why}. Unlock the computer's keyring, then test again."

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

    # ------------------------------------------------- ProTax customer look-up (dashboard)

    async def _protax_keys(self) -> list[tuple[str, str | None]]:
        """Each configured POS with its ProTax API key (None: none in the keyring); empty when
        the upstream is not ProTax."""
        registry = self.core.registry
        if self.core.settings.upstream != "protax" or registry is None:
            return []
        keys = []
        for pos_id in registry.pos_ids():
            credentials = await registry.credentials(pos_id, 0)
            keys.append((pos_id, upstreams.till_key(
                "protax", credentials.key if credentials is not None else None)))
        return keys

    async def _protax_key(self) -> str:
        """The API key of a configured ProTax POS (every POS of a shop has the same account)."""
        if self.core.settings.upstream != "protax" or self.core.registry is None:
            raise ServiceError("Customer PIN look-up is ProTax's; this utility reports to "
                               f"{self.core.upstream_name}.")
        for _, key in await self._protax_keys():
            if key:
                return key
        raise ServiceError("No POS with a ProTax API key is set up yet: run the setup wizard.")

    async def lookup_customer(self, pin: str) -> dict | None:
        """ProTax's GET /customers?pin=: the business registered under a buyer's KRA PIN, None
        when ProTax knows no such PIN. Raises ServiceError (not ProTax, no key, ProTax refused
        or unreachable) saying why."""
        from app.connectors import protax

        key = await self._protax_key()
        try:
            return await protax.lookup_customer(self.core.upstream_url, key, pin,
                                                ssl=self.core.upstream_ssl())
        except Exception as why:  # the connector's refusal, or aiohttp's / TLS's error
            raise ServiceError(str(why) or type(why).__name__) from None

    async def protax_key_mode(self) -> str | None:
        """"test" (ptx_test_…) or "live" (ptx_live_…) for ProTax's API key; None otherwise."""
        from app.service import kenya_setup

        try:
            key = await self._protax_key()
        except ServiceError:
            return None
        return kenya_setup.key_kind(key)

    def _store(self):
        store = self.core.store
        if store is None:
            raise ServiceError("The service is not running.")
        return store

