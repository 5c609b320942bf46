"""Where the files that ship beside the code are: ``resources/`` at the project root (a source
checkout or editable install), or bundled next to a frozen app (PyInstaller's ``sys._MEIPASS``).
``RIMS_RESOURCES`` overrides both (packagers, tests)."""

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    override = os.environ.get("RIMS_RESOURCES")
    if override:
        return Path(override).expanduser()
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def web_dir() -> Path:
    """The dashboard's static files (HTML, CSS, JS; no build step)."""
    return resources_dir() / "web"
