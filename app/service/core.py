"""The core service: store + forwarder + HTTP server on one asyncio loop. Runs the same
headless (`rims-utility serve`) or inside the tray app's background thread."""

import asyncio
import gc
import logging
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from app import __version__, relaunch
from app.connectors.outcomes import Connector, Credentials
from app.server.app import make_app
from app.server.deps import ServerDeps
from app.server.security import SecurityPolicy, handler_args
from app.server.session_api import TICKET_PATH
from app.server.sessions import SessionStore
from app.service import instance, upstreams
from app.service.backup_schedule import keep_daily_backups
from app.service.facade import Facade
from app.service.registry import PosRegistry
from app.service.upstreams import PRACTICE_POS
from app.settings import Settings
from app.store.database import StoreError
from app.store.gateway import Store
from app.store.integrity import DamagedDatabase
from app.store.writer import WriterStartError
from app.sync.forwarder import Forwarder
from app.sync.retry import RetryPolicy

log = logging.getLogger(__name__)

__all__ = ["PRACTICE_POS", "Core", "StartupError"]

FORWARDER_RESTART_DELAY = 5.0
GC_FREEZE_AFTER = 2.0  # seconds after start-up (freeze_startup_objects)
NO_KENYA_ADDRESS = ("The KRA Agent's address is not set: run the setup wizard (or "
                    "`rims-utility setup --upstream kra-agent --url …`).")


class StartupError(RuntimeError):
    """Something the user must fix before the service can run; the message says what."""


class Core:
    def __init__(self, settings: Settings, listener: socket.socket | None = None):
        """``listener``: the POS port, already bound (see instance.listen); bound here if None."""
        self.settings = settings
        self._listener = listener
        self.port: int | None = None
        self.sandbox = None
        self.store: Store | None = None
        self.registry: PosRegistry | None = None
        self.forwarder: Forwarder | None = None
        self._connector: Connector | None = None
        self._runner: web.AppRunner | None = None
        self._security: SecurityPolicy | None = None
        self._forwarder_task: asyncio.Task | None = None
        self._backup_task: asyncio.Task | None = None
        self.sessions = SessionStore(settings.session_lifetime)
        self.upstream_url = settings.upstream_url
        self.upstream_ca = settings.upstream_ca
        self.facade = Facade(self)

    @property
    def upstream_name(self) -> str:
        return upstreams.display_name(self.settings.upstream)

    def upstream_ssl(self) -> ssl.SSLContext | bool:
        """TLS verification for a direct check of the upstream (Test connection, Kenya setup,
        ProTax's customer look-up): on, with the extra CA (the practice sandbox's) if any."""
        return upstreams.upstream_ssl(self.upstream_ca)

    def dashboard_url(self) -> str:
        """The dashboard, already signed in as the first POS set up (a one-time ticket valid
        for a minute, traded by the browser for its session cookie), else the sign-in page."""
        pos_ids = self.registry.pos_ids() if self.registry is not None else []
        if not pos_ids:
            return f"{self.base_url}/login.html"
        return f"{self.base_url}{TICKET_PATH}/{self.sessions.issue_ticket(pos_ids[0])}"

    async def credentials_changed(self, ntn: str, pos_id: str, key: str) -> None:
        """After the setup window saved a key: use it from now on (and in practice mode, the
        sandbox accepts it too), and look at the queue again (held invoices were released)."""
        assert self.registry is not None and self.forwarder is not None
        await self.registry.refresh(force=True)  # (reload() is rate-limited: not after a save)
        if self.sandbox is not None and self.settings.upstream == "kpra":
            self.sandbox.add_credentials(ntn, pos_id, key)
        self.forwarder.wake()

    @property
    def base_url(self) -> str:
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        try:  # LAN mode without an allow-list is refused before anything is opened
            self._security = SecurityPolicy.build(
                s.host, allowed_clients=s.allowed_clients, allowed_hosts=s.allowed_hosts,
                body_timeout=s.body_timeout)
        except ValueError as why:
            await self._cleanup()
            raise StartupError(str(why)) from None
        if self._listener is None:  # the port before anything else: taken means nothing done
            try:
                self._listener = instance.listen(s.host, s.port)
            except instance.PortInUse as why:
                raise StartupError(str(why)) from None
        upstream_url, upstream_ca = s.upstream_base, s.upstream_ca
        if s.kenya and not s.practice and not upstream_url:  # before the store is opened
            await self._cleanup()
            raise StartupError(NO_KENYA_ADDRESS)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        certificates = None
        if s.practice:
            self.sandbox = upstreams.make_sandbox(s)
            # made (the first time) while the store opens
            certificates = asyncio.ensure_future(
                asyncio.to_thread(_make_sandbox_certificates, self.sandbox.tls_dir))
        try:  # a damaged file is refused before anything opens it for writing
            self.store = await asyncio.to_thread(Store, s.db_path, loop)
        except (DamagedDatabase, StoreError) as why:
            await self._cleanup()
            raise StartupError(str(why)) from None
        try:
            await self.store.start()
        except WriterStartError as why:
            await self._cleanup()
            raise StartupError(str(why)) from None
        if self.sandbox is not None and certificates is not None:
            try:
                await certificates
                await self.sandbox.start(port=0, http_port=0)
            except BaseException:
                await self._cleanup()
                raise
            upstream_url = upstreams.sandbox_address(s, self.sandbox)
            upstream_ca = self.sandbox.ca_file
        self.upstream_url, self.upstream_ca = upstream_url, upstream_ca
        fixed: dict[str, Credentials] = {}
        account = None
        if s.practice:
            try:
                practice, account = await upstreams.practice_pos(s, self.sandbox)
            except Exception as why:
                await self._cleanup()
                raise StartupError(f"Practice mode could not set up its sample POS with the "
                                   f"{self.upstream_name} sandbox: {why}") from None
            fixed[practice.pos_id] = practice
            if practice.pos_id not in {p.pos_id for p in await self.store.list_pos()}:
                await self.store.upsert_pos(practice.ntn, practice.pos_id, s.upstream)
        self.registry = PosRegistry(self.store, s.upstream, fixed=fixed,
                                    check_keyring=not s.practice)
        await self.registry.refresh()
        if self.sandbox is not None and s.upstream == "kpra":
            for pos_id in self.registry.pos_ids():
                credentials = await self.registry.credentials(pos_id, 0)
                if credentials:
                    self.sandbox.add_credentials(credentials.ntn, pos_id, credentials.key)
        if s.kenya and not upstream_url:  # (practice: the sandbox's, known only now)
            await self._cleanup()
            raise StartupError(NO_KENYA_ADDRESS)
        self._connector = upstreams.make_connector(s, upstream_url, upstream_ca, account)
        self.store.set_writer_context(upstream_name=self.upstream_name, upstream=s.upstream,
                                      tax=_tax_config(s))
        self.forwarder = Forwarder(
            self.store, self._connector, self.registry.credentials, RetryPolicy(s.retry),
            concurrency=s.send_concurrency, paused=s.sending_paused, name=self.upstream_name)
        deps = ServerDeps(
            store=self.store, auth=self.registry, forwarder_status=self.forwarder.status,
            invoice_saved=self.forwarder.wake, upstream_name=self.upstream_name,
            upstream_url=upstream_url, version=__version__, practice=s.practice,
            security=self._security, sessions=self.sessions,
            set_sending_paused=self.set_sending_paused, upstream=s.upstream,
            key_mode=await self.facade.protax_key_mode() if s.upstream == "protax" else None,
            lookup_customer=self.facade.lookup_customer if s.upstream == "protax" else None)
        self._runner = web.AppRunner(make_app(deps), access_log=None, handle_signals=False,
                                     shutdown_timeout=5.0, **handler_args(s.idle_timeout))
        await self._runner.setup()
        site = web.SockSite(self._runner, self._listener)
        await site.start()
        self.port = self._listener.getsockname()[1]
        self._security.listening_on(self.port)
        self._forwarder_task = asyncio.create_task(self._keep_forwarding(), name="rims-forwarder")
        self._backup_task = asyncio.create_task(
            keep_daily_backups(s.db_path, s.backup_interval, s.backup_keep), name="rims-backups")
        self._log_started(upstream_url)
        loop.call_later(GC_FREEZE_AFTER, freeze_startup_objects)

    def set_sending_paused(self, paused: bool) -> None:
        """Pause / resume from the dashboard or the tray (until the next start:
        settings.sending_paused)."""
        assert self.forwarder is not None
        if paused:
            self.forwarder.pause()
        else:
            self.forwarder.resume()
        log.info("sending to the tax authority %s",
                 "paused" if paused else "resumed")

    async def _keep_forwarding(self) -> None:
        """The sending loop must never stop silently while intake goes on answering 201: an
        unexpected error is logged and the loop starts again (its state is in the database)."""
        assert self.forwarder is not None
        while True:
            try:
                await self.forwarder.run()
                return  # stopped on purpose
            except Exception:
                log.exception("the sending loop stopped unexpectedly; it starts again in %.0f s "
                              "(invoices stay queued)", FORWARDER_RESTART_DELAY)
                await asyncio.sleep(FORWARDER_RESTART_DELAY)

    async def stop(self) -> None:
        """Stop intake (answers already in progress are finished), then sending, then storage."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.forwarder is not None:
            await self.forwarder.stop()
        if self._forwarder_task is not None:
            self._forwarder_task.cancel()
            await asyncio.gather(self._forwarder_task, return_exceptions=True)
            self._forwarder_task = None
        if self._backup_task is not None:  # a backup already copying finishes in its thread
            self._backup_task.cancel()
            await asyncio.gather(self._backup_task, return_exceptions=True)
            self._backup_task = None
        await self._cleanup()

    async def _cleanup(self) -> None:
        if self._listener is not None:
            self._listener.close()  # (the runner's cleanup closes it too; closing twice is fine)
            self._listener = None
        if self._connector is not None:
            await self._connector.close()
            self._connector = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self.sandbox is not None:
            await self.sandbox.stop()
            self.sandbox = None

    def _log_started(self, upstream_url: str) -> None:
        s = self.settings
        log.info("RIMS Utility %s: POS endpoint %s/api/invoice", __version__, self.base_url)
        log.info("sending to %s; data in %s", upstream_url, s.data_dir)
        if self._security is not None and self._security.lan:
            log.warning("%s", self._security.describe())
        elif s.allowed_clients:
            log.info("allowed_clients has no effect: listening on %s accepts only this computer "
                     "(listen on a LAN address with --host to accept other computers)", s.host)
        assert self.registry is not None
        if s.practice and s.upstream == "kpra":
            log.info("PRACTICE MODE: nothing reaches KPRA. The seed's test user works: NTN %s, "
                     "POS ID %s, with the seed's published test key (see README)",
                     PRACTICE_POS.ntn, PRACTICE_POS.pos_id)
        elif s.practice:
            log.info("PRACTICE MODE: nothing reaches %s. The sample till: KRA PIN %s, POS ID %s, "
                     "key %s (see README)", self.upstream_name, upstreams.KENYA_PRACTICE_PIN,
                     upstreams.KENYA_PRACTICE_POS_ID, upstreams.KENYA_PRACTICE_TILL_KEY
                     if s.upstream == "kra-agent" else "the sandbox's test API key")
        if not self.registry.pos_ids():
            log.warning("No POS is configured: run `rims-utility setup --ntn NTN --pos-id POS_ID`"
                        " (every invoice is refused with 401 until then)")
        if self.registry.backend_warning and not s.practice:  # (its sample POS: never there)
            log.warning(self.registry.backend_warning)


_frozen_once = False


def freeze_startup_objects() -> None:
    """Once per process, after start-up: collect, then move every object alive (modules,
    classes, the app's long-lived state) out of the garbage collector's view (gc.freeze).
    A full collection then walks only what was made since, about 0.2 ms instead of 35-45 ms in
    the service, which otherwise stalls every request in flight (bench/drain.py, intake during a
    drain) and the tray's window (bench/gui_responsiveness.py)."""
    global _frozen_once
    if _frozen_once:
        return
    _frozen_once = True
    gc.collect()
    gc.freeze()


def _tax_config(settings: Settings) -> object:
    """The Kenya modes' tax settings (a kenya_tax.TaxConfig, pickled once to the writer
    process with its context); None for KPRA (which never loads kenya_tax)."""
    if not settings.kenya:
        return None
    from app.domain.kenya_tax import tax_config
    return tax_config(settings.upstream, **settings.tax_settings())  # type: ignore[arg-type]


def _make_sandbox_certificates(folder: Path) -> None:
    """Practice mode's first start: the sandbox's certificates are made by a helper process
    (app/relaunch.py), so that trustme and cryptography, which the service would keep (~12 MB),
    are never loaded here. Should the helper fail, the sandbox makes them itself as it starts."""
    from app.sandbox import tls

    if tls.certificates_ready(folder):
        return
    try:
        done = subprocess.run(
            relaunch.command(relaunch.SANDBOX_TLS, str(folder)), env=relaunch.environment(),
            stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
            creationflags=subprocess.CREATE_NO_WINDOW if sys.platform == "win32" else 0)
    except (OSError, subprocess.SubprocessError) as why:
        log.info("practice sandbox: certificates made here instead (%s)", why)
        return
    if done.returncode != 0:
        log.info("practice sandbox: certificates made here instead (the helper exited with "
                 "%s: %s)", done.returncode, done.stderr.decode(errors="replace")[-500:])


async def run_until_stopped(core: Core, stop: asyncio.Event,
                            started: Callable[[], None] | None = None) -> None:
    await core.start()
    if started is not None:
        started()
    try:
        await stop.wait()
    finally:
        await core.stop()


