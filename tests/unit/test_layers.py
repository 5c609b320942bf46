"""DESIGN.md's layers, checked on the source: the GUI talks to the service only (never the
store, the server or SQL), and nothing below gui/ needs Qt."""

import ast
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_gui_never_imports_the_store_or_the_server_or_sqlite():
    offenders = {
        f"{path.name}: {name}"
        for path in (APP / "gui").glob("*.py") for name in _imports(path)
        if name.startswith(("app.store", "app.server", "sqlite3", "peewee"))}
    assert not offenders, offenders


def test_nothing_below_the_gui_imports_qt():
    offenders = {
        f"{path.relative_to(APP)}: {name}"
        for path in APP.rglob("*.py") if "gui" not in path.relative_to(APP).parts
        for name in _imports(path) if name.startswith("PySide6")}
    assert not offenders, offenders


def test_the_service_runs_with_pyside6_unimportable():
    code = ("import sys; sys.modules['PySide6'] = None\n"
            "import app.service.core, app.service.facade, app.service.status, app.cli\n"
            "assert app.cli.main(['--version']) == 0\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=APP.parent)
    # argparse's --version exits with SystemExit(0) after printing the version
    assert done.returncode == 0 and "rims-utility" in done.stdout, done.stderr


def test_without_pyside6_the_tray_command_says_to_use_serve(tmp_path):
    code = ("import sys; sys.modules['PySide6'] = None\n"
            "import app.cli\n"
            f"sys.exit(app.cli.main(['tray', '--data-dir', {str(tmp_path)!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=APP.parent)
    assert done.returncode == 2
    assert "needs PySide6" in done.stderr and "rims-utility serve" in done.stderr
