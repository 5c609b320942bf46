"""The frozen program, run from its bundle folder exactly as built for shopkeepers (conftest.py
builds it once per run): the shared smoke test (smoke.py), the tray icon in a real tray, and
what the spec promises to leave out."""

from pathlib import Path

import pytest

from tests.conftest import add_figures
from tests.gui import xvfb
from tests.packaging.smoke import Running, isolated_env, run_smoke


def test_the_frozen_program_passes_the_smoke_test(frozen_program: Path, tmp_path: Path,
                                                  version: str, pytestconfig: pytest.Config):
    figures = run_smoke(frozen_program, tmp_path, version)
    add_figures(pytestconfig, f"frozen smoke: first 201 {figures.first_201_s:.2f} s after start, "
                              f"synced {figures.synced_s:.2f} s")


def test_the_frozen_tray_icon_sits_in_a_real_tray(frozen_program: Path, tmp_path: Path):
    """Qt's xcb platform plugin and its libraries made it into the bundle: under Xvfb with
    trayer, the frozen app's icon is embedded in the tray (what off-screen cannot show)."""
    logs = tmp_path / "logs"
    data = tmp_path / "data"
    with xvfb.xvfb(logs) as display, xvfb.trayer(display, logs) as panel:
        env = isolated_env(tmp_path, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        app = Running(frozen_program, ["tray", "--practice", "--data-dir", str(data),
                                       "--port", "0"], env, logs / "app.log")
        try:
            def embedded() -> xvfb.Window | None:
                app.alive()
                inside = [w for w in xvfb.tree(display, panel.id)
                          if xvfb.window_pid(display, w.id) == app.process.pid
                          and w.width >= 16 and w.height >= 16
                          and xvfb.attributes(display, w.id).get("Map State") == "IsViewable"]
                return inside[0] if inside else None

            xvfb.wait_for("the frozen app's icon in trayer's panel", embedded, 30)
            app.base_url(data)
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
