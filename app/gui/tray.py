"""The tray icon: its light (service/status.py decides it), its tooltip, its menu (rebuilt
each time it opens, so it always says what is true now) and its notifications."""

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QCursor
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.gui import icons
from app.gui.main_window import practice_authority
from app.service.status import Alert, Light, Snapshot, Verdict, verdict


class Tray(QObject):
    def __init__(self, shell: "Shell") -> None:  # noqa: F821 (gui/app.py)
        super().__init__()
        self.shell = shell
        self.icon = QSystemTrayIcon(icons.light_icon(Light.GREY), self)
        self.icon.setToolTip("RIMS Utility: starting…")
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.light: Light | None = None
        self.verdict: Verdict | None = None
        self.rebuild_menu()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    # ------------------------------------------------------------------ state

    def update(self, snapshot: Snapshot) -> None:
        v = verdict(snapshot, self.shell.settings.red_after_unreachable)
        self.verdict = v
        if v.light is not self.light:
            self.light = v.light
            self.icon.setIcon(icons.light_icon(v.light))
        self.icon.setToolTip(f"RIMS Utility: {v.tooltip}"[:1000])

    def notify(self, alert: Alert) -> None:
        kind = (QSystemTrayIcon.MessageIcon.Critical if alert.critical
                else QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(alert.title, alert.text, kind, 15_000)

    # ------------------------------------------------------------------- menu

    def rebuild_menu(self) -> None:
        """Called each time the menu opens: the status line and the toggles say what is true
        now."""
        shell, menu = self.shell, self.menu
        menu.clear()
        snapshot = shell.snapshot
        status = menu.addAction(self.verdict.headline if self.verdict else "Starting…")
        status.setEnabled(False)
        if snapshot is not None and snapshot.practice:
            practice = menu.addAction("Practice mode: nothing is sent to "
                                      + practice_authority(snapshot))
            practice.setEnabled(False)
        menu.addSeparator()
        self._add(menu, "Open dashboard", shell.open_dashboard, default=True)
        self._add(menu, "Show queue", shell.show_queue)
        failed = bool(snapshot and (snapshot.rejected or snapshot.held))
        self._add(menu, "Retry failed", shell.retry_failed, enabled=failed)
        paused = bool(snapshot and snapshot.paused)
        self._add(menu, "Resume sending" if paused else "Pause sending",
                  lambda: shell.set_paused(not paused))
        menu.addSeparator()
        self._add(menu, "Settings…", shell.show_settings)
        self._add(menu, "Open logs folder", shell.open_logs)
        autostart = self._add(menu, "Start at login", shell.toggle_autostart)
        autostart.setCheckable(True)
        autostart.setChecked(shell.autostart_enabled())
        menu.addSeparator()
        self._add(menu, "Quit", shell.quit)

    def _add(self, menu: QMenu, text: str, slot, *, enabled: bool = True,
             default: bool = False) -> QAction:
        action = menu.addAction(text)
        action.setEnabled(enabled)
        action.triggered.connect(lambda _checked=False: slot())
        if default:
            font = action.font()
            font.setBold(True)
            action.setFont(font)
        return action

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.shell.show_main()
        elif reason is QSystemTrayIcon.ActivationReason.MiddleClick:
            self.menu.popup(QCursor.pos())
