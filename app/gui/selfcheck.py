"""What `rims-utility doctor` checks of Qt: the modules the tray app uses import, and the
platform plugin this OS draws with is where Qt looks for it (the part of Qt a frozen or
trimmed install loses first). Nothing is shown on screen."""

import sys
from pathlib import Path

# The platform plugin each OS needs (Linux: X11; Wayland sessions also run it through XWayland).
PLATFORM_PLUGIN = {"win32": "qwindows", "darwin": "qcocoa"}.get(sys.platform, "qxcb")


def qt_check() -> str:
    """A line about Qt when it is complete; raises RuntimeError saying what is missing."""
    import PySide6
    from PySide6 import QtGui, QtNetwork, QtPrintSupport, QtSvg, QtWidgets  # noqa: F401
    from PySide6.QtCore import QLibraryInfo

    platforms = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    found = sorted(p.name for p in platforms.glob("*")) if platforms.is_dir() else []
    if not any(PLATFORM_PLUGIN in name for name in found):
        raise RuntimeError(f"Qt's {PLATFORM_PLUGIN} platform plugin is missing from {platforms} "
                           f"(found: {', '.join(found) or 'nothing'})")
    return f"PySide6 {PySide6.__version__}, platform plugin {PLATFORM_PLUGIN} in {platforms}"
