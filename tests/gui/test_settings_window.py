"""The settings window against a real core (practice mode), the real keyring, a real config.toml
and a real XDG autostart entry (under the test's own XDG_CONFIG_HOME)."""

import dataclasses
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from app import keystore, settings
from app.gui.runtime import Runtime
from app.gui.settings_window import SettingsWindow
from app.service import autostart
from tests.gui.conftest import screenshot, shown
from tests.gui.test_setup_wizard import pos_list

NTN = "1234567-8"


@pytest.fixture(autouse=True)
def own_autostart_folder(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder / "autostart" / autostart.DESKTOP_FILE


def add_pos(qtbot, runtime: Runtime, pos_id: str, key: str) -> None:
    done: list[int] = []
    runtime.call(lambda facade: facade.save_pos(NTN, pos_id, key), done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)


@pytest.fixture
def window(qtbot, runtime: Runtime) -> SettingsWindow:
    return shown(qtbot, SettingsWindow(runtime))


def rows(window: SettingsWindow) -> list[list[str]]:
    table = window.table
    return [[table.item(row, column).text() for column in range(table.columnCount())]
            for row in range(table.rowCount())]


def select(window: SettingsWindow, pos_id: str) -> None:
    [row] = [i for i, p in enumerate(window.pos) if p.pos_id == pos_id]
    window.table.selectRow(row)


def click_checkbox(qtbot, box) -> None:
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def test_lists_the_pos_and_change_key_replaces_the_key_in_the_keyring(qtbot, runtime):
    pos_id = f"TILL-{uuid.uuid4().hex[:6].upper()}"
    add_pos(qtbot, runtime, pos_id, "old-KEY-1")
    window = SettingsWindow(runtime)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.table.rowCount() == 2, timeout=10_000)
    table = dict((row[0], row[1:]) for row in rows(window))
    assert table[pos_id] == [NTN, "Yes", "Sending"]
    assert table["K123456"][1] == "Built in (practice)"  # practice mode's test user
    assert not any("old-KEY-1" in cell for row in rows(window) for cell in row)  # never shown
    assert not window.change_button.isEnabled()  # nothing selected

    select(window, "K123456")
    assert not window.change_button.isEnabled()  # its key is built in
    select(window, pos_id)
    assert window.change_button.isEnabled()
    qtbot.mouseClick(window.change_button, Qt.MouseButton.LeftButton)
    dialog = window.dialog
    qtbot.waitUntil(lambda: dialog.keyring.loaded, timeout=10_000)
    form = dialog.form
    assert form.ntn.text() == NTN and form.ntn.isReadOnly()
    assert form.pos_id.text() == pos_id and form.pos_id.isReadOnly()
    assert form.key.text() == ""  # the old key is never shown
    assert not dialog.save_button.isEnabled()
    qtbot.keyClicks(form.key, "new-KEY-2")
    assert form.key.echoMode() == form.key.EchoMode.Password
    assert dialog.save_button.isEnabled()
    with qtbot.waitSignal(dialog.finished, timeout=10_000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert keystore.load_key("kpra", NTN, pos_id) == "new-KEY-2"
    qtbot.waitUntil(lambda: "key changed" in window.status.text(), timeout=10_000)


def test_add_reuses_the_credentials_form_and_refuses_a_pos_already_set_up(qtbot, window,
                                                                         runtime):
    qtbot.waitUntil(lambda: window.table.rowCount() == 1, timeout=10_000)
    qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
    dialog = window.dialog
    form = dialog.form
    qtbot.keyClicks(form.ntn, NTN)
    qtbot.keyClicks(form.pos_id, "K123456")
    qtbot.keyClicks(form.key, "some-KEY")
    assert "already set up" in form.messages["pos_id"].text()
    assert not dialog.save_button.isEnabled()

    pos_id = f"TILL-{uuid.uuid4().hex[:6].upper()}"
    form.pos_id.clear()
    qtbot.keyClicks(form.pos_id, pos_id)
    qtbot.waitUntil(dialog.save_button.isEnabled, timeout=10_000)
    with qtbot.waitSignal(dialog.finished, timeout=10_000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert keystore.load_key("kpra", NTN, pos_id) == "some-KEY"
    qtbot.waitUntil(lambda: window.table.rowCount() == 2, timeout=10_000)
    assert pos_id in {p.pos_id for p in pos_list(qtbot, runtime)}


def test_port_and_stuck_hours_are_saved_to_config_toml(qtbot, window, runtime):
    data_dir = runtime.settings.data_dir
    assert not window.save_button.isEnabled()  # nothing changed yet
    window.port.setValue(3456)
    window.stuck_hours.setValue(6)
    assert window.save_button.isEnabled()
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert "next time the utility starts" in window.status.text()
    saved = settings.load(data_dir)
    assert (saved.port, saved.stuck_alert_hours) == (3456, 6)
    assert saved.practice is False  # not touched: only what changed is written
    assert "practice" not in (data_dir / settings.CONFIG_NAME).read_text()
    assert not window.save_button.isEnabled()

    window.upstream.set_practice(False)  # KPRA (live), for the next start
    assert "next time the utility starts" in window.upstream.restart_note.text()
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert "practice = false" in (data_dir / settings.CONFIG_NAME).read_text()
    assert settings.load(data_dir).port == 3456


def test_start_at_login_toggles_the_autostart_entry(qtbot, window, own_autostart_folder):
    assert not window.autostart.isChecked() and not own_autostart_folder.exists()
    click_checkbox(qtbot, window.autostart)
    assert window.autostart.isChecked()
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert own_autostart_folder.is_file() and autostart.is_enabled()
    assert window.status.text() == "Saved."

    click_checkbox(qtbot, window.autostart)
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert not own_autostart_folder.exists() and not autostart.is_enabled()


def test_a_start_at_login_failure_is_shown(qtbot, window, monkeypatch):
    def refuse() -> None:
        raise autostart.AutostartError("could not write ~/.config/autostart: permission denied")

    monkeypatch.setattr(autostart, "enable", refuse)
    click_checkbox(qtbot, window.autostart)
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert window.autostart_message.isVisibleTo(window)
    assert "permission denied" in window.autostart_message.text()
    assert "not changed" in window.status.text()
    assert window.save_button.isEnabled()  # still to be saved
    click_checkbox(qtbot, window.autostart)  # back as it was: nothing left to save on close
    assert not window.save_button.isEnabled()


def test_screenshot(qtbot, runtime, monkeypatch):
    add_pos(qtbot, runtime, "TILL-01", "s3cret-KEY")
    running = runtime.facade.settings()  # port 0 (any free port) in tests; 3000 in a shop
    monkeypatch.setattr(runtime.facade, "settings", lambda: dataclasses.replace(running, port=3000))
    window = shown(qtbot, SettingsWindow(runtime))
    qtbot.waitUntil(lambda: window.table.rowCount() == 2, timeout=10_000)
    select(window, "TILL-01")
    qtbot.mouseClick(window.upstream.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.upstream.result.text().startswith("✓"), timeout=20_000)
    # Fits a 1366×768 laptop screen with a taskbar and a title bar.
    assert window.width() <= 1366 and window.height() <= 690
    assert window.minimumSizeHint().height() <= 690
    screenshot(window, "settings-window")
