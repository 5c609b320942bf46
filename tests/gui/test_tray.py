"""The tray: its light follows real service events (the practice sandbox down → amber, a 401 →
red, recovery → green), its menu says what is true when it opens and every action works, and
notifications reach the user (a tray message, or the status window where there is no tray)."""

import urllib.request
from http.cookiejar import CookieJar

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from app.gui.app import Shell
from app.gui.runtime import Runtime
from app.service.status import Light
from tests.gui.conftest import gui_settings, post_invoice, sandbox_fault, screenshot


@pytest.fixture
def shell(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # start at login entry
    settings = gui_settings(tmp_path / "data")
    runtime = Runtime(settings)
    running = Shell(settings, runtime, use_tray=True, confirm_quit=False)
    with qtbot.waitSignal(runtime.bridge.snapshot, timeout=20_000):
        running.start()
    yield running
    running.tray.hide()
    running.main.close()
    assert runtime.stop(), "the core thread did not stop"


def wait_light(qtbot, shell: Shell, light: Light, timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: shell.tray.light is light, timeout=timeout)


def menu_texts(shell: Shell) -> list[str]:
    shell.tray.menu.aboutToShow.emit()  # what opening the menu does
    return [a.text() for a in shell.tray.menu.actions() if not a.isSeparator()]


def action(shell: Shell, text: str):
    shell.tray.menu.aboutToShow.emit()
    [found] = [a for a in shell.tray.menu.actions() if a.text() == text]
    return found


def test_the_light_follows_outage_401_and_recovery(qtbot, shell: Shell):
    base = shell.runtime.core.base_url
    wait_light(qtbot, shell, Light.GREEN)  # nothing yet
    sandbox_fault(shell.runtime, down=True)
    assert post_invoice(base, "T-1")[0] == 201
    wait_light(qtbot, shell, Light.AMBER)
    assert "1 invoice waiting" in shell.tray.icon.toolTip()
    sandbox_fault(shell.runtime, down=False)
    wait_light(qtbot, shell, Light.GREEN)
    assert "All invoices sent" in shell.tray.icon.toolTip()

    sandbox_fault(shell.runtime, unauthorized_next=1)
    assert post_invoice(base, "T-2")[0] == 201
    wait_light(qtbot, shell, Light.RED)
    assert "held" in shell.tray.icon.toolTip()
    assert action(shell, "Retry failed").isEnabled()
    screenshot(shell.main, "status-window-red")
    action(shell, "Retry failed").trigger()  # the key was fixed at KPRA's end
    wait_light(qtbot, shell, Light.GREEN)
    assert not action(shell, "Retry failed").isEnabled()


def test_the_menu_has_every_action_and_pause_turns_it_grey(qtbot, shell: Shell):
    wait_light(qtbot, shell, Light.GREEN)
    texts = menu_texts(shell)
    assert texts[0] == "Ready: no invoices yet"
    assert texts[1] == "Practice mode: nothing is sent to KPRA"
    assert texts[2:] == ["Open dashboard", "Show queue", "Retry failed", "Pause sending",
                         "Settings…", "Open logs folder", "Start at login", "Quit"]
    action(shell, "Pause sending").trigger()
    wait_light(qtbot, shell, Light.GREY)
    assert post_invoice(shell.runtime.core.base_url, "P-1")[0] == 201  # still received
    qtbot.waitUntil(lambda: "1 invoice waiting" in shell.tray.icon.toolTip(), timeout=10_000)
    assert "Resume sending" in menu_texts(shell)
    action(shell, "Resume sending").trigger()
    wait_light(qtbot, shell, Light.GREEN)


def test_start_at_login_toggles_the_autostart_entry(qtbot, shell: Shell, tmp_path):
    entry = tmp_path / "config" / "autostart" / "rims-utility.desktop"
    assert not action(shell, "Start at login").isChecked()
    action(shell, "Start at login").trigger()
    assert entry.exists() and action(shell, "Start at login").isChecked()
    action(shell, "Start at login").trigger()
    assert not entry.exists() and not action(shell, "Start at login").isChecked()


class _Browser(QObject):
    """Stands in for the default browser: Qt hands it the URL (QDesktopServices' own hook)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def test_open_dashboard_opens_it_signed_in(qtbot, shell: Shell):
    browser = _Browser()
    QDesktopServices.setUrlHandler("http", browser, "open")
    try:
        action(shell, "Open dashboard").trigger()
        qtbot.waitUntil(lambda: bool(browser.urls), timeout=10_000)
    finally:
        QDesktopServices.unsetUrlHandler("http")
    [url] = browser.urls
    assert "/api/session/ticket/" in url
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(url, timeout=10) as page:  # follows the 303 with the new cookie
        assert page.url.endswith("/dashboard.html") and page.status == 200
    with opener.open(shell.runtime.core.base_url + "/api/session", timeout=10) as who:
        assert b'"pos_id":"K123456"' in who.read().replace(b" ", b"")
    # A ticket works once; a made-up one is the sign-in page too.
    for used_or_made_up in (url, url.replace("/ticket/", "/ticket/x")):
        cookies = CookieJar()
        again = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
        with again.open(used_or_made_up, timeout=10) as page:
            assert page.url.endswith("/login.html")
        assert not list(cookies)


def test_without_a_tray_notifications_show_in_the_status_window(qtbot, tmp_path):
    settings = gui_settings(tmp_path / "data")
    runtime = Runtime(settings)
    shell = Shell(settings, runtime, use_tray=False, confirm_quit=False)
    with qtbot.waitSignal(runtime.bridge.snapshot, timeout=20_000):
        shell.start()
    try:
        assert shell.tray is None and shell.main.isVisible()
        sandbox_fault(runtime, reject_next=1)
        assert post_invoice(runtime.core.base_url, "R-1")[0] == 201
        qtbot.waitUntil(lambda: shell.main.notice_label.isVisible(), timeout=15_000)
        assert "rejected" in shell.main.notice_label.text()
        assert "tax_amount" in shell.main.advice_label.text()
        screenshot(shell.main, "status-window-rejected")
    finally:
        shell.main.hide()
        assert runtime.stop()


def test_quit_asks_and_explains_that_waiting_invoices_are_kept(qtbot, shell: Shell, monkeypatch):
    shell.confirm_quit = True
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", question)
    assert shell.quit() is False
    assert "kept" in asked[0] or "Nothing is waiting" in asked[0]
    assert not shell.quitting


def test_first_run_without_a_pos_opens_the_setup_wizard(qtbot, tmp_path):
    # Not practice mode, and nothing set up: the wizard comes up by itself. (The upstream is a
    # closed local port: this test must not reach the internet.)
    settings = gui_settings(tmp_path / "data", practice=False,
                            upstream_url="https://127.0.0.1:9/api/rims-integration")
    runtime = Runtime(settings)
    shell = Shell(settings, runtime, use_tray=False, confirm_quit=False)
    with qtbot.waitSignal(runtime.bridge.started, timeout=20_000):
        shell.start()
    try:
        qtbot.waitUntil(lambda: "setup" in shell.windows, timeout=10_000)
        assert shell.windows["setup"].isVisible()
    finally:
        for window in list(shell.windows.values()):
            window.close()
        shell.main.hide()
        assert runtime.stop()
