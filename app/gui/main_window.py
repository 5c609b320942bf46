"""The status window: the tray's light, large, with what it means and what to do, the facts
behind it, and every action of the tray menu as a button. It is the whole app where there is
no system tray (and what a left click on the tray icon opens)."""

import datetime as dt
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.gui import icons
from app.gui.banner import NOTICE, PROBLEM, banner_style
from app.service.status import Alert, Light, Snapshot, age_text, invoices, verdict

_LIGHT_WORDS = {Light.GREEN: "All good", Light.AMBER: "Sending", Light.RED: "Needs attention",
                Light.GREY: "Paused"}


def _when(timestamp: float | None, now: float) -> str:
    if timestamp is None:
        return "Never"
    local = dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
    return f"{age_text(now - timestamp)} ago ({local})"


def practice_authority(snapshot: Snapshot) -> str:
    """Who practice mode keeps invoices from: KPRA, or KRA (whichever way Kenya files)."""
    return "KPRA" if snapshot.upstream_name == "KPRA" else "KRA"


class MainWindow(QMainWindow):
    def __init__(self, shell: "Shell") -> None:  # noqa: F821 (gui/app.py)
        super().__init__()
        self.shell = shell
        self.setWindowTitle("RIMS Utility")
        self.setWindowIcon(icons.app_icon())
        self.resize(720, 520)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(14)

        head = QHBoxLayout()
        self.light_label = QLabel()
        self.light_label.setFixedSize(64, 64)
        head.addWidget(self.light_label, 0, Qt.AlignmentFlag.AlignTop)
        words = QVBoxLayout()
        self.state_label = QLabel("Starting…")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.6)
        big.setBold(True)
        self.state_label.setFont(big)
        self.headline_label = QLabel("")
        self.headline_label.setWordWrap(True)
        words.addWidget(self.state_label)
        words.addWidget(self.headline_label)
        head.addLayout(words, 1)
        layout.addLayout(head)

        self.advice_label = QLabel("")
        self.advice_label.setWordWrap(True)
        self.advice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice_label.setObjectName("advice")
        self.advice_label.setStyleSheet(banner_style("advice", PROBLEM))
        self.advice_label.hide()
        layout.addWidget(self.advice_label)

        self.notice_label = QLabel("")  # the last notification, where there is no tray
        self.notice_label.setWordWrap(True)
        self.notice_label.setObjectName("notice")
        self.notice_label.setStyleSheet(banner_style("notice", NOTICE))
        self.notice_label.hide()
        layout.addWidget(self.notice_label)

        facts = QFrame()
        facts.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(facts)
        grid.setHorizontalSpacing(18)
        self.facts: dict[str, QLabel] = {}
        for row, (key, label) in enumerate((
                ("waiting", "Waiting to be sent"), ("oldest", "Oldest invoice waiting"),
                ("rejected", "Rejected"), ("held", "POS held"),
                ("synced", "Sent and confirmed"), ("last_sync", "Last successful send"),
                ("upstream", "Tax authority"), ("endpoint", "The till sends to"))):
            name = QLabel(label)
            name.setStyleSheet("color: #444; font-weight: 600;")
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            grid.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
            self.facts[key] = value
        grid.setColumnStretch(1, 1)
        layout.addWidget(facts)
        layout.addStretch(1)

        buttons = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for index, (key, text, slot) in enumerate((
                ("dashboard", "Open dashboard", shell.open_dashboard),
                ("queue", "Show queue", shell.show_queue),
                ("retry", "Retry failed", shell.retry_failed),
                ("pause", "Pause sending", self._toggle_pause),
                ("settings", "Settings…", shell.show_settings),
                ("logs", "Open logs folder", shell.open_logs))):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            buttons.addWidget(button, index // 3, index % 3)
            self.buttons[key] = button
        self.buttons["dashboard"].setDefault(True)
        layout.addLayout(buttons)
        self.setCentralWidget(body)
        self._paused = False
        self._set_light(Light.GREY)

    def _set_light(self, light: Light) -> None:
        self.light_label.setPixmap(icons.light_pixmap(light, 64))
        self.light_label.setToolTip(_LIGHT_WORDS[light])

    def _toggle_pause(self) -> None:
        self.shell.set_paused(not self._paused)

    def update(self, snapshot: Snapshot) -> None:  # type: ignore[override]
        v = verdict(snapshot, self.shell.settings.red_after_unreachable)
        self._set_light(v.light)
        self.state_label.setText(_LIGHT_WORDS[v.light])
        headline = v.headline.removeprefix("Needs attention: ")
        self.headline_label.setText(headline[:1].upper() + headline[1:] + (
            f"  (practice mode: nothing is sent to {practice_authority(snapshot)})" if snapshot.practice
            else ""))
        self.advice_label.setText("\n".join(v.advice))
        self.advice_label.setVisible(bool(v.advice))
        now = snapshot.at
        f = self.facts
        f["waiting"].setText(invoices(snapshot.pending))
        f["oldest"].setText(age_text(snapshot.oldest_pending_age())
                            if snapshot.oldest_pending_at else "Nothing is waiting")
        f["rejected"].setText(invoices(snapshot.rejected) if snapshot.rejected else "None")
        f["held"].setText("; ".join(f"{p}: {why}" for p, why in snapshot.held) or "None")
        f["synced"].setText(invoices(snapshot.synced))
        f["last_sync"].setText(_when(snapshot.last_synced_at, now))
        reach = {True: "answers", False: "cannot be reached right now",
                 None: "not contacted yet"}[snapshot.reachable]
        f["upstream"].setText(f"{snapshot.upstream_name} {reach}"
                              + (f" ({snapshot.last_error})" if snapshot.reachable is False
                                 and snapshot.last_error else ""))
        f["endpoint"].setText(f"{snapshot.base_url}/api/invoice")
        self._paused = snapshot.paused
        self.buttons["pause"].setText("Resume sending" if snapshot.paused else "Pause sending")
        self.buttons["retry"].setEnabled(bool(snapshot.rejected or snapshot.held))

    def show_notice(self, alert: Alert) -> None:
        text = escape(alert.text).replace("\n", "<br>")
        self.notice_label.setText(f"<b>{escape(alert.title)}</b><br>{text}")
        self.notice_label.show()

    def show_failure(self, message: str) -> None:
        self._set_light(Light.RED)
        self.state_label.setText("Not running")
        self.headline_label.setText("The service could not start.")
        self.advice_label.setText(message)
        self.advice_label.show()
        for button in self.buttons.values():
            button.setEnabled(button is self.buttons["logs"])

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.shell.tray is not None:  # the tray keeps running; the window only hides
            event.ignore()
            self.hide()
        elif self.shell.quit():
            event.accept()
        else:
            event.ignore()
