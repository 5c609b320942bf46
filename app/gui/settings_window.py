"""Settings: the POS set up (add one, change a key; a key is never shown), where invoices go
(KPRA or the practice sandbox, with Test connection), and this computer (the POS port, start at
login, when to warn about waiting invoices). POS changes are saved by their own dialog at once;
the rest by Save, into config.toml (facade.save_settings) and the login autostart entry."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.runtime import Runtime
from app.gui.setup_wizard import (
    ERROR_STYLE,
    HINT_STYLE,
    OK_STYLE,
    PosDialog,
    UpstreamChooser,
    call_for,
    failure_text,
    is_sample_pos,
    text_label,
)
from app.service import autostart
from app.service.facade import PosSetting, ServiceError

MAX_STUCK_HOURS = 168  # a week


class SettingsWindow(QWidget):
    COLUMNS = ("POS ID", "NTN", "Key stored", "Status")

    def __init__(self, runtime: Runtime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.setWindowTitle("RIMS Utility settings")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # opened again: values afresh
        settings = runtime.facade.settings()
        self.practice_running = settings.practice
        self.kenya = settings.kenya
        self.pos: list[PosSetting] = []

        # ---- POS
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(
            [("KRA PIN" if self.kenya and c == "NTN" else c) for c in self.COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(self.COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(130)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _index: self.change_key())
        self.add_button = QPushButton("Set up a till…" if self.kenya else "Add…")
        self.add_button.clicked.connect(self.add_pos)
        self.change_button = QPushButton("Change key…")
        if self.kenya:  # a Kenya till is set up with the authority (the wizard's pages)
            self.change_button.hide()
        self.change_button.setEnabled(False)
        self.change_button.clicked.connect(self.change_key)
        self.pos_message = text_label("Loading…", HINT_STYLE)
        self.pos_message.setObjectName("pos_message")
        pos_box = QGroupBox("Points of sale (POS)")
        pos_layout = QVBoxLayout(pos_box)
        pos_layout.addWidget(self.table)
        pos_buttons = QHBoxLayout()
        pos_buttons.addWidget(self.add_button)
        pos_buttons.addWidget(self.change_button)
        pos_buttons.addWidget(self.pos_message, 1)
        pos_layout.addLayout(pos_buttons)

        # ---- Connection
        if self.kenya:
            from app.gui.kenya_pages import KenyaConnection

            self.upstream: UpstreamChooser | KenyaConnection = KenyaConnection(runtime)
        else:
            self.upstream = UpstreamChooser(runtime)
        connection_box = QGroupBox("Where to send invoices")
        QVBoxLayout(connection_box).addWidget(self.upstream)

        # ---- This computer
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(settings.port)
        self.port.setToolTip("The address your POS software sends invoices to is "
                             "http://127.0.0.1:<port>/api/invoice")
        self.autostart = QCheckBox("Start RIMS Utility when I log in to this computer")
        self.autostart_message = text_label("", ERROR_STYLE)
        self.autostart_message.setObjectName("autostart_message")
        self.autostart_message.hide()
        try:
            self.autostart.setChecked(autostart.is_enabled())
        except autostart.AutostartError as why:
            self.autostart.setEnabled(False)
            self._autostart_problem(f"Start at login is not available: {why}")
        self.stuck_hours = QSpinBox()
        self.stuck_hours.setRange(1, MAX_STUCK_HOURS)
        self.stuck_hours.setSuffix(" hours")
        self.stuck_hours.setValue(max(1, min(MAX_STUCK_HOURS, round(settings.stuck_alert_hours))))
        computer_box = QGroupBox("This computer")
        computer = QVBoxLayout(computer_box)
        port_line = QHBoxLayout()
        port_line.addWidget(QLabel("Port for the POS software:"))
        port_line.addWidget(self.port)
        port_line.addWidget(text_label("Takes effect after the utility restarts; change the POS "
                                   "software's address to match.", HINT_STYLE), 1)
        computer.addLayout(port_line)
        stuck_line = QHBoxLayout()
        stuck_line.addWidget(QLabel("Notify me when an invoice has waited longer than"))
        stuck_line.addWidget(self.stuck_hours)
        stuck_line.addStretch(1)
        computer.addLayout(stuck_line)
        computer.addWidget(self.autostart)
        computer.addWidget(self.autostart_message)

        # ---- Save / Close
        self.status = text_label("")
        self.status.setObjectName("status")
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.save_button)
        bottom.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(pos_box, 1)
        layout.addWidget(connection_box)
        layout.addWidget(computer_box)
        layout.addLayout(bottom)

        self._saved_values = self._values()
        for changed in (self.port.valueChanged, self.stuck_hours.valueChanged,
                        self.autostart.toggled, self.upstream.changed):
            changed.connect(self._update_save)
        self._update_save()
        self.resize(800, 640)
        self.reload_pos()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.table.setFocus()  # not the port: a stray key press must not change it

    # ------------------------------------------------------------------- POS list

    def reload_pos(self) -> None:
        call_for(self, self.runtime, lambda facade: facade.pos_settings(), self._show_pos,
                 self._pos_failed)

    def _show_pos(self, pos: list[PosSetting]) -> None:
        selected = self.selected_pos()
        self.pos = list(pos)
        self.table.setRowCount(len(self.pos))
        for row, p in enumerate(self.pos):
            built_in = self._built_in(p)
            key = ("Built in (practice)" if built_in else
                   "Yes" if p.has_key else
                   "No: set the till up again" if self.kenya else "No: use Change key…")
            if p.held_reason:
                fix = "Set the till up again" if self.kenya else "Change the key"
                status = f"Held: {p.held_reason}. {fix} to send again."
            elif not p.has_key and not built_in:
                status = "Invoices are refused until the key is stored"
            else:
                status = "Sending"
            for column, text in enumerate((p.pos_id, p.ntn, key, status)):
                item = QTableWidgetItem(text)
                if column == 3 and (p.held_reason or (not p.has_key and not built_in)):
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(row, column, item)
            if selected is not None and p.pos_id == selected.pos_id:
                self.table.selectRow(row)
        if not self.pos:
            self.pos_message.setText("No POS is set up yet: press Add… to set one up.")
        else:
            self.pos_message.setText("Keys are kept in this computer's keyring and never shown.")
        self.pos_message.setStyleSheet(HINT_STYLE)
        self._selection_changed()

    def _pos_failed(self, error: BaseException) -> None:
        self.pos_message.setText(f"The POS list could not be read: {failure_text(error)}")
        self.pos_message.setStyleSheet(ERROR_STYLE)

    def _built_in(self, p: PosSetting) -> bool:
        # In practice mode the built-in test user's key is the one used (service/registry.py's
        # fixed entries win), whatever another key the keyring may hold for that POS ID.
        return self.practice_running and is_sample_pos(p)

    def selected_pos(self) -> PosSetting | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.pos):
            return None
        return self.pos[rows[0].row()]

    def _selection_changed(self) -> None:
        p = self.selected_pos()
        self.change_button.setEnabled(p is not None and not self._built_in(p))
        self.change_button.setToolTip(
            "The practice test user's key is built in." if p is not None and self._built_in(p)
            else "")

    def add_pos(self) -> None:
        if self.kenya:
            from app.gui.setup_wizard import SetupWizard

            self.wizard = SetupWizard(self.runtime, self)  # (kept for tests; deleted on close)
            self.wizard.setWindowModality(Qt.WindowModality.WindowModal)
            self.wizard.pos_saved.connect(lambda _pos_id: self.reload_pos())
            self.wizard.show()
            return
        self._open_dialog(PosDialog(self.runtime, taken=[p.pos_id for p in self.pos],
                                    parent=self), "added")

    def change_key(self) -> None:
        p = self.selected_pos()
        if p is None or self._built_in(p):
            return
        self._open_dialog(PosDialog(self.runtime, existing=p, parent=self), "key changed")

    def _open_dialog(self, dialog: PosDialog, what: str) -> None:
        self.dialog = dialog  # for tests and to keep it alive while open
        dialog.setWindowModality(Qt.WindowModality.WindowModal)

        def finished(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                _ntn, pos_id, _key = dialog.form.values()
                released = dialog.released or 0
                text = f"POS {pos_id}: {what}; the key is in the keyring."
                if released:
                    text += f" {released} waiting invoice(s) will be sent now."
                self._say(text, OK_STYLE)
                self.reload_pos()
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()

    # ------------------------------------------------------------------- settings

    def _values(self) -> dict[str, object]:
        return {"port": self.port.value(), "stuck_alert_hours": self.stuck_hours.value(),
                "practice": self.upstream.chosen_practice(),
                "autostart": self.autostart.isChecked()}

    def changes(self) -> dict[str, object]:
        now = self._values()
        return {name: value for name, value in now.items() if self._saved_values[name] != value}

    def _update_save(self, *_args: object) -> None:
        self.save_button.setEnabled(bool(self.changes()))

    def save(self) -> bool:
        """Write what changed; True when everything was saved."""
        changes = self.changes()
        if not changes:
            return True
        saved: list[str] = []
        config = {name: value for name, value in changes.items() if name != "autostart"}
        if config:
            try:
                self.runtime.facade.save_settings(**config)
            except ServiceError as why:
                self._say(f"Not saved: {why}", ERROR_STYLE)
                return False
            saved.extend(config)
            self._saved_values.update(config)
        if "autostart" in changes:
            wanted = bool(changes["autostart"])
            try:
                autostart.enable() if wanted else autostart.disable()
            except autostart.AutostartError as why:
                turned = "turned on" if wanted else "turned off"
                self._autostart_problem(f"Start at login could not be {turned}: {why}")
                self._update_save()
                self._say("Start at login was not changed (see above)." if not saved else
                          "Saved, except start at login (see above).", ERROR_STYLE)
                return False
            self.autostart_message.hide()
            self._saved_values["autostart"] = wanted
        self._update_save()
        later = [name for key, name in (("port", "the port"), ("practice", "where to send"),
                                        ("stuck_alert_hours", "the notification"))
                 if key in saved]
        if later:
            things = ", ".join(later[:-1]) + (" and " if len(later) > 1 else "") + later[-1]
            self._say(f"Saved. {things[0].upper()}{things[1:]} "
                      f"{'take' if len(later) > 1 else 'takes'} effect the next time the "
                      "utility starts.", OK_STYLE)
        else:
            self._say("Saved.", OK_STYLE)
        return True

    def _autostart_problem(self, text: str) -> None:
        self.autostart_message.setText(text)
        self.autostart_message.show()

    def _say(self, text: str, style: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(style)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.changes():
            answer = QMessageBox.question(
                self, "Unsaved changes", "Save your changes before closing?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel or (
                    answer == QMessageBox.StandardButton.Save and not self.save()):
                event.ignore()
                return
        event.accept()
