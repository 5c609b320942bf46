"""`rims-utility` with no command: the tray app. The core runs on its own thread (runtime.py);
this module wires the tray, the status window and the other windows to it, and keeps one
instance per data folder."""

import contextlib
import logging
import signal
import socket
import sys
import webbrowser

from PySide6.QtCore import QSocketNotifier, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon, QWidget

from app import logs
from app.gui import icons, single
from app.gui.main_window import MainWindow
from app.gui.runtime import Runtime
from app.gui.tray import Tray
from app.service import autostart, instance
from app.service.status import Alert, Snapshot, invoices, retried_text
from app.settings import Settings

log = logging.getLogger(__name__)


class Shell:
    """The running tray app: one runtime, the tray (if the desktop has one), the status window,
    and the other windows opened on demand (one of each, brought forward if already open)."""

    def __init__(self, settings: Settings, runtime: Runtime, *, use_tray: bool | None = None,
                 confirm_quit: bool = True) -> None:
        self.settings = settings
        self.runtime = runtime
        self.snapshot: Snapshot | None = None
        self.confirm_quit = confirm_quit
        self.quitting = False
        if use_tray is None:
            use_tray = QSystemTrayIcon.isSystemTrayAvailable()
        self.main = MainWindow(self)
        self.tray: Tray | None = Tray(self) if use_tray else None
        self.windows: dict[str, QWidget] = {}
        bridge = runtime.bridge
        bridge.snapshot.connect(self._snapshot)
        bridge.alert.connect(self._alert)
        bridge.failed.connect(self._failed)
        bridge.started.connect(self._started)

    def start(self) -> None:
        if self.tray is not None:
            self.tray.show()
        else:  # no tray on this desktop (or offscreen): the window is the app
            self.main.show()
        self.runtime.start()

    # ------------------------------------------------------------ core events

    def _snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        if self.tray is not None:
            self.tray.update(snapshot)
        self.main.update(snapshot)

    def _alert(self, alert: Alert) -> None:
        log.info("notification: %s: %s", alert.title, alert.text.replace("\n", " "))
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            self.tray.notify(alert)
        else:
            self.main.show_notice(alert)

    def _failed(self, message: str) -> None:
        self.main.show_failure(message)
        self.show_main()

    def _started(self, base_url: str) -> None:
        log.info("tray app: the service runs at %s", base_url)
        if not self.settings.practice:
            self.runtime.call(lambda facade: facade.has_pos(), self._first_run_check)

    def _first_run_check(self, has_pos: bool) -> None:
        if not has_pos:
            self.show_setup()

    # ---------------------------------------------------------------- actions

    def show_main(self) -> None:
        _bring_forward(self.main)

    def open_dashboard(self) -> None:
        def opened(url: str) -> None:
            if not QDesktopServices.openUrl(QUrl(url)):
                webbrowser.open(url)
        self.runtime.call(lambda facade: facade.dashboard_url(), opened, self._error)

    def show_queue(self) -> None:
        from app.gui.queue_window import QueueWindow
        self._open("queue", lambda: QueueWindow(self.runtime))

    def show_settings(self) -> None:
        from app.gui.settings_window import SettingsWindow
        self._open("settings", lambda: SettingsWindow(self.runtime))

    def show_setup(self) -> None:
        from app.gui.setup_wizard import SetupWizard
        self._open("setup", lambda: SetupWizard(self.runtime))

    def retry_failed(self) -> None:
        def done(result: tuple[int, list[str]]) -> None:
            text = retried_text(*result)
            self._alert(Alert("Retry failed", text))
            self.runtime.refresh()
        self.runtime.call(lambda facade: facade.retry_failed(), done, self._error)

    def set_paused(self, paused: bool) -> None:
        self.runtime.call(lambda facade: facade.set_paused(paused),
                          lambda _: self.runtime.refresh(), self._error)

    def open_logs(self) -> None:
        folder = self.settings.log_dir
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def autostart_enabled(self) -> bool:
        try:
            return autostart.is_enabled()
        except autostart.AutostartError:
            return False

    def toggle_autostart(self) -> None:
        try:
            if autostart.is_enabled():
                autostart.disable()
            else:
                autostart.enable()
        except autostart.AutostartError as why:
            self._error(why)

    def quit(self) -> bool:
        """Ask (the till cannot send while the utility is closed), then stop everything.
        Returns False if the user changed their mind."""
        if self.confirm_quit:
            waiting = self.snapshot.pending if self.snapshot else 0
            kept = (f"The {invoices(waiting)} waiting are kept safely and will be sent the next "
                    "time it starts." if waiting else "Nothing is waiting to be sent.")
            answer = QMessageBox.question(
                self.main if self.main.isVisible() else None, "Quit RIMS Utility?",
                "While RIMS Utility is closed, the till cannot hand it new invoices.\n\n"
                f"{kept}", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self.quitting = True
        for window in self.windows.values():
            window.close()
        if self.tray is not None:
            self.tray.hide()
        QApplication.quit()
        return True

    def _open(self, name: str, make) -> None:
        window = self.windows.get(name)
        if window is None:
            window = make()
            window.setWindowIcon(icons.app_icon())
            window.destroyed.connect(lambda *_: self.windows.pop(name, None))
            self.windows[name] = window
        _bring_forward(window)

    def _error(self, error: BaseException) -> None:
        QMessageBox.warning(self.main if self.main.isVisible() else None, "RIMS Utility",
                            str(error))


def _bring_forward(window: QWidget) -> None:
    window.show()
    window.setWindowState(window.windowState() & ~window.windowState().WindowMinimized)
    window.raise_()
    window.activateWindow()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def stop_on_signals(app: QApplication, shell: Shell) -> tuple | None:
    """SIGTERM (the desktop session ending, `kill`, an uninstaller) and Ctrl+C quit cleanly,
    without the confirmation: queued invoices stay on disk and the lock is released. Python runs
    signal handlers only between bytecodes, which an idle Qt event loop never reaches, so the
    handler's wake-up byte goes through a socket that Qt watches."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    try:
        signal.set_wakeup_fd(theirs.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread (tests drive Shell themselves)
        ours.close()
        theirs.close()
        return None
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)  # the wake-up byte carries the signal number
    notifier = QSocketNotifier(ours.fileno(), QSocketNotifier.Type.Read, app)

    def woke() -> None:
        with contextlib.suppress(BlockingIOError):
            received = ours.recv(64)
            log.info("%s received: quitting", ", ".join(map(_signal_name, received)))
            shell.confirm_quit = False
            shell.quit()

    notifier.activated.connect(woke)
    app.aboutToQuit.connect(lambda: (notifier.setEnabled(False), signal.set_wakeup_fd(-1)))
    return ours, theirs, notifier  # the caller keeps them alive while the app runs


def run(settings: Settings) -> int:
    """The tray app until Quit; the exit status."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RIMS Utility")
    app.setOrganizationName("RIMS Utility")
    app.setDesktopFileName("rims-utility")  # matches the menu entry (Wayland, task bars)
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(icons.app_icon())
    if single.ask_first_to_show(settings.data_dir):
        print("RIMS Utility is already running: its window was brought forward.")
        return 0
    try:
        listener = instance.listen(settings.host, settings.port)
    except instance.PortInUse as why:
        QMessageBox.critical(None, "RIMS Utility cannot start", str(why))
        return 1
    try:
        lock = instance.InstanceLock(settings.data_dir).acquire()
    except instance.AlreadyRunning as why:
        listener.close()
        QMessageBox.critical(None, "RIMS Utility is already running", str(why))
        return 1
    logs.setup(settings.log_dir)
    runtime = Runtime(settings, listener)
    shell = Shell(settings, runtime)
    first = single.FirstInstance(settings.data_dir, shell.show_main)
    watching = stop_on_signals(app, shell)  # noqa: F841 - alive until app.exec() returns
    runtime.bridge.started.connect(lambda url: lock.update(url=url))
    try:
        shell.start()
        status = app.exec()
    finally:
        first.close()
        stopped = runtime.stop()
        lock.release()
    if not stopped:
        log.error("the service did not stop in time")
        return 1
    log.info("tray app stopped; queued invoices are kept and will be sent on the next start")
    return status


