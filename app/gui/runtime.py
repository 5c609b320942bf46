"""The core service on its own asyncio loop in a named background thread ("rims-core"), and the
one Bridge through which it reaches Qt (DESIGN.md, "Threads"; the Electrum pattern).

GUI → core: ``Runtime.call(fn, done, failed)`` runs ``fn(facade)`` (a coroutine) on the core's
loop and hands its result to ``done`` (or the exception to ``failed``) back on the Qt thread.
Core → GUI: the Bridge's signals, emitted from the core thread, queued into the Qt thread.
Nothing here blocks the Qt thread on the core, so a window or dialog never slows intake and
intake never freezes a window."""

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.service.core import Core, StartupError
from app.service.facade import Facade
from app.service.status import Snapshot, alerts
from app.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
STATUS_INTERVAL = 1.0  # seconds between status snapshots


class Bridge(QObject):
    """Core → GUI. Connect before Runtime.start(); every signal arrives in the Qt thread."""

    started = Signal(str)  # the POS endpoint's base URL
    failed = Signal(str)  # the core could not start: what to do about it
    snapshot = Signal(object)  # service.status.Snapshot, every STATUS_INTERVAL
    alert = Signal(object)  # service.status.Alert, when a snapshot brings news
    stopped = Signal()
    _deliver = Signal(object, object)  # (callback, value): results of Runtime.call


class Runtime:
    def __init__(self, settings: Settings, listener: socket.socket | None = None) -> None:
        self.settings = settings
        self.bridge = Bridge()
        self.bridge._deliver.connect(lambda callback, value: callback(value))
        self.core = Core(settings, listener)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.last_snapshot: Snapshot | None = None

    @property
    def facade(self) -> Facade:
        return self.core.facade

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rims-core", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self.bridge.stopped.emit()

    async def _main(self) -> None:
        assert self._stop is not None
        try:
            await self.core.start()
        except StartupError as why:
            log.error("%s", why)
            self.bridge.failed.emit(str(why))
            return
        except Exception as why:  # a bug: say so rather than sit there without a core
            log.exception("the service could not start")
            self.bridge.failed.emit(f"The service could not start: {type(why).__name__}: {why}")
            return
        self.bridge.started.emit(self.core.base_url)
        stuck_after = self.settings.stuck_alert_hours * 3600
        try:
            while not self._stop.is_set():
                try:
                    snapshot = await self.core.facade.snapshot()
                except Exception:
                    log.exception("status snapshot failed")
                else:
                    news = alerts(self.last_snapshot, snapshot, stuck_after)
                    self.last_snapshot = snapshot
                    # The windows show the new state before the notification about it
                    # arrives, so a notice never sits next to stale advice.
                    self.bridge.snapshot.emit(snapshot)
                    for alert in news:
                        self.bridge.alert.emit(alert)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), STATUS_INTERVAL)
        finally:
            await self.core.stop()

    def call(self, fn: Callable[[Facade], Awaitable[T]],
             done: Callable[[T], Any] | None = None,
             failed: Callable[[BaseException], Any] | None = None
             ) -> concurrent.futures.Future[T] | None:
        """Run ``fn(facade)`` on the core's loop; ``done(result)`` or ``failed(exception)`` then
        run in the Qt thread. Returns the future (None when the core is not running)."""
        loop = self.loop
        if loop is None or loop.is_closed() or self.core.store is None:
            if failed is not None:
                failed(RuntimeError("The service is not running."))
            return None
        future = asyncio.run_coroutine_threadsafe(fn(self.core.facade), loop)

        def finished(f: concurrent.futures.Future[T]) -> None:
            if f.cancelled():
                return
            error = f.exception()
            if error is not None:
                if failed is not None:
                    self.bridge._deliver.emit(failed, error)
                else:
                    log.error("a request from the window failed", exc_info=error)
            elif done is not None:
                self.bridge._deliver.emit(done, f.result())

        future.add_done_callback(finished)
        return future

    def refresh(self) -> None:
        """Take a snapshot now (after an action), not at the next tick."""
        def snap(facade: Facade) -> Awaitable[Snapshot]:
            return facade.snapshot()
        self.call(snap, self._emit_snapshot)

    def _emit_snapshot(self, snapshot: Snapshot) -> None:
        self.last_snapshot = snapshot
        self.bridge.snapshot.emit(snapshot)

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the core (intake first, then sending, then storage); True if it stopped."""
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True
