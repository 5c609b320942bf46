"""The tray app in a real system tray: an X server with no screen (Xvfb), trayer as the tray,
and `python -m app tray --practice` as a separate program, driven the way a person would with
the mouse and keyboard (xdotool). Checks what no off-screen test can: Qt finds the tray, the icon
is embedded in it, a right click opens the menu, and Quit (with its confirmation) ends the app
cleanly. Leaves docs/screenshots/tray-menu.png: the tray with the menu open.

Needs Debian xvfb, trayer, xdotool, x11-utils and Qt's xcb libraries: build_scripts/bootstrap.sh
installs them (so there is no skip when they are missing: the test fails and says why)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtGui import QImage

from tests.gui import xvfb
from tests.gui.conftest import post_invoice
from tests.gui.xvfb import Window, XError, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "tray-menu.png"
MARGIN = 40  # pixels of desktop around the tray and the menu in the screenshot


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no output)"


def _our_windows(display: str, pid: int, root: int | None = None) -> list[Window]:
    return [w for w in xvfb.tree(display, root) if xvfb.window_pid(display, w.id) == pid]


def _mapped(display: str, window: Window) -> dict[str, str] | None:
    fields = xvfb.attributes(display, window.id)
    return fields if fields.get("Map State") == "IsViewable" else None


def test_the_icon_sits_in_a_real_tray_and_its_menu_quits_the_app(tmp_path: Path):
    logs = tmp_path / "logs"
    app_log = logs / "app.log"
    with xvfb.xvfb(logs) as display, xvfb.trayer(display, logs) as panel:
        env = os.environ | {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        with app_log.open("wb") as out:
            app = subprocess.Popen(
                [sys.executable, "-m", "app", "tray", "--data-dir", str(tmp_path / "data"),
                 "--practice", "--port", "0"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            def alive() -> None:
                if app.poll() is not None:
                    raise XError(f"the tray app exited ({app.returncode}):\n{_tail(app_log)}")

            # 1. The icon is embedded in the tray: a window of the app inside trayer's panel.
            def embedded() -> Window | None:
                alive()
                inside = [w for w in _our_windows(display, app.pid, panel.id)
                          if w.width >= 16 and w.height >= 16 and _mapped(display, w)]
                return inside[0] if inside else None

            icon = wait_for("the tray icon to be embedded in trayer's panel", embedded, 30)
            panel = next(w for w in xvfb.tree(display) if w.id == panel.id)  # it grew
            assert panel.x <= icon.x and icon.x + icon.width <= panel.x + panel.width
            assert panel.y <= icon.y and icon.y + icon.height <= panel.y + panel.height

            # The core is up; a till sends it a few invoices (so the menu's first line says how
            # things are, as in a shop).
            def started() -> str | None:
                alive()
                found = re.search(r"the service runs at (\S+)", _tail(app_log, 100_000))
                return found[1] if found else None

            base_url = wait_for("the core to start", started, 30)
            for number in range(1, 4):
                status, answer = post_invoice(base_url, f"TRAY-{number}")
                assert status == 201, answer
            time.sleep(2.5)  # sent to the practice sandbox; the next status snapshot has it

            # 2. A right click opens the menu: a new override-redirect window of the app. (Near
            #    the icon's lower left corner: the menu opens there, down and to the left, so the
            #    screenshot shows the whole icon beside it.)
            before = {w.id for w in xvfb.tree(display) if w.depth == 0 and _mapped(display, w)}
            cx, cy = icon.x + 2, icon.y + icon.height - 3
            xvfb.xdotool(display, "mousemove", "--sync", str(cx), str(cy), "click", "3")

            def menu_open() -> Window | None:
                alive()
                for w in _our_windows(display, app.pid):
                    if w.depth != 0 or w.id in before or w.width < 120 or w.height < 150:
                        continue
                    fields = _mapped(display, w)
                    if fields and fields.get("Override Redirect State") == "yes":
                        return w
                return None

            menu = wait_for("the tray menu to open", menu_open, 15)
            screen_w, screen_h = xvfb.SCREEN
            assert menu.width < screen_w // 2 and menu.height < screen_h, menu
            # It opens next to the icon (the tray is at the top right: below it, to its left).
            assert abs(menu.y - (icon.y + icon.height)) < 80, (menu, icon)
            assert menu.x <= cx <= menu.x + menu.width + 80, (menu, icon)
            time.sleep(0.3)  # let it finish painting

            left = max(0, min(panel.x, menu.x) - MARGIN)
            top = max(0, min(panel.y, menu.y) - MARGIN)
            right = min(screen_w, max(panel.x + panel.width, menu.x + menu.width) + MARGIN)
            bottom = min(screen_h, max(panel.y + panel.height, menu.y + menu.height) + MARGIN)
            shot = xvfb.grab(display, SCREENSHOT, (left, top, right - left, bottom - top))
            # The capture shows them: the icon's pixels and the menu's are not one flat colour.
            image = QImage(str(shot))
            assert (image.width(), image.height()) == (right - left, bottom - top)
            for what, w in (("icon", icon), ("menu", menu)):
                colours = {image.pixel(x - left, y - top)
                           for x in range(w.x, w.x + w.width) for y in range(w.y, w.y + w.height)}
                assert len(colours) >= 4, f"the {what} looks blank in {shot}"

            # 3. Quit, the last item (Up from the top wraps to it), asks first: its default button
            #    is Cancel, so press Yes (Alt+Y). The app then ends by itself, with status 0.
            xvfb.xdotool(display, "key", "--delay", "100", "Up", "Return")

            def confirmation() -> Window | None:
                alive()
                return next((w for w in _our_windows(display, app.pid)
                             if w.depth == 0 and w.name == "Quit RIMS Utility?"
                             and _mapped(display, w)), None)

            dialog = wait_for("the quit confirmation", confirmation, 15)
            assert not any(w.id == menu.id and _mapped(display, w) for w in xvfb.tree(display))
            xvfb.xdotool(display, "mousemove", "--sync", str(dialog.x + dialog.width // 2),
                         str(dialog.y + dialog.height // 2))  # no window manager: focus follows
            xvfb.xdotool(display, "windowfocus", "--sync", str(dialog.id))
            time.sleep(0.2)
            xvfb.xdotool(display, "key", "alt+y")
            try:
                status = app.wait(20)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the tray app did not quit within 20 s after Quit → Yes:\n"
                                     f"{_tail(app_log)}") from None
            assert status == 0, _tail(app_log)
            assert "tray app stopped" in _tail(app_log, 100_000)
        finally:
            xvfb.stop(app, timeout=10)
