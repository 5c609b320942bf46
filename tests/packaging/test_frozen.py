"""The frozen program, run from its bundle folder exactly as built for shopkeepers (conftest.py
builds it once per run): the shared smoke test (smoke.py), the tray icon in a real tray, and
what the spec promises to leave out."""

import re
import time
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from tests.conftest import add_figures
from tests.gui import xvfb
from tests.packaging.smoke import Running, isolated_env, run_smoke

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "install-first-start.png"


def test_the_frozen_program_passes_the_smoke_test(frozen_program: Path, tmp_path: Path,
                                                  version: str, pytestconfig: pytest.Config):
    figures = run_smoke(frozen_program, tmp_path, version)
    add_figures(pytestconfig, f"frozen smoke: first 201 {figures.first_201_s:.2f} s after start, "
                              f"synced {figures.synced_s:.2f} s")


def test_first_start_of_the_frozen_app_in_a_real_tray(frozen_program: Path, tmp_path: Path):
    """What a shopkeeper sees right after installing: the frozen app started with no POS set up
    (not practice mode) puts its icon in a real tray (Xvfb with trayer: Qt's xcb platform plugin
    and its libraries made it into the bundle, which off-screen cannot show) and opens the
    setup wizard. Leaves docs/screenshots/install-first-start.png."""
    logs = tmp_path / "logs"
    data = tmp_path / "data"
    with xvfb.xvfb(logs) as display, xvfb.trayer(display, logs) as panel:
        env = isolated_env(tmp_path, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        app = Running(frozen_program, ["tray", "--data-dir", str(data), "--port", "0"], env,
                      logs / "app.log")
        try:
            def ours(root: int | None = None) -> list[xvfb.Window]:
                app.alive()
                return [w for w in xvfb.tree(display, root)
                        if xvfb.window_pid(display, w.id) == app.process.pid
                        and xvfb.attributes(display, w.id).get("Map State") == "IsViewable"]

            def embedded() -> xvfb.Window | None:
                inside = [w for w in ours(panel.id) if w.width >= 16 and w.height >= 16]
                return inside[0] if inside else None

            def wizard() -> xvfb.Window | None:
                return next((w for w in ours() if w.name == "RIMS Utility setup"), None)

            xvfb.wait_for("the frozen app's icon in trayer's panel", embedded, 30)
            shown = xvfb.wait_for("the setup wizard on first start", wizard, 30)
            time.sleep(0.5)  # let it finish painting
            panel = next(w for w in xvfb.tree(display) if w.id == panel.id)
            bottom = min(xvfb.SCREEN[1], max(shown.y + shown.height, panel.y + panel.height) + 20)
            shot = xvfb.grab(display, SCREENSHOT, (0, 0, xvfb.SCREEN[0], bottom))
            image = QImage(str(shot))
            colours = {image.pixel(x, y) for x in range(shown.x, shown.x + shown.width, 7)
                       for y in range(shown.y, shown.y + shown.height, 7)}
            assert len(colours) >= 4, f"the wizard looks blank in {shot}"
        finally:
            code = app.stop()
    assert code == 0, app.output()[-4000:]
    assert "Traceback" not in app.output(), app.output()


@pytest.mark.parametrize("left_out", ["pytest", "hypothesis", "schemathesis", "playwright",
                                      "openpyxl", "PySide6/QtQml", "PySide6/QtQuick",
                                      "PySide6/QtPdf", "tkinter"])
def test_the_bundle_leaves_out_what_the_product_never_uses(bundle: Path, left_out: str):
    """The spec's excludes took effect: no test tools, no unused Qt modules (their Python
    extension modules, named like PySide6/QtQml.abi3.so or .pyd)."""
    internal = bundle / "_internal"
    found = [str(p.relative_to(internal)) for p in internal.rglob("*")
             if str(p.relative_to(internal)).startswith(left_out)]
    assert not found, found[:10]


def test_the_bundle_names_every_part_and_its_licence(bundle: Path):
    """THIRD-PARTY-NOTICES.txt (build_scripts/licences.py): every Python package the program
    runs on, Python itself, Qt with the LGPL text, and each system library copied in, by its
    Debian package; no bundled library left without an owner."""
    import licences  # build_scripts/ (conftest.py puts it on sys.path)

    text = (bundle / licences.NOTICES).read_text(encoding="utf-8")
    sections = dict(re.findall(r"^-{78}\n(.+)\nLicence: (.+)$", text, re.MULTILINE))
    for dist in licences.distributions().values():
        title = f"{dist.metadata['Name']} {dist.version}"
        assert title in sections, title
        start = text.index(f"{title}\nLicence:")
        body = text[start:text.find("\n" + "-" * 78, start + 1)]
        assert "--- " in body, f"{title}: no licence text"
    assert any(title.startswith("Python 3.") for title in sections)
    qt = text[text.index("PySide6_Essentials"):]
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in qt[:200_000]
    assert licences.unattributed(bundle) == []
    for library, package in licences.system_libraries(bundle).items():
        assert f"Debian package {package}:" in text and library in text, library
