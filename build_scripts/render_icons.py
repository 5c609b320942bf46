"""Render the icons' PNG sizes and app.ico from their SVG sources in resources/icons/.

    .venv/bin/python build_scripts/render_icons.py          # from the project root
    .venv/bin/python build_scripts/render_icons.py OUT_DIR  # write into OUT_DIR instead

Run it after editing an SVG and commit the PNGs and app.ico with the SVG:
tests/gui/test_icons.py renders again and fails while the committed files are out of date.
No display is needed (Qt's offscreen platform). The output is deterministic: the same SVGs
and the same Qt (pinned in pyproject.toml) give byte-identical files.

Every PNG is drawn from the SVG at its own pixel size (QSvgRenderer), never scaled down from
a big one: the tray glyphs are drawn on a 16-unit grid, so 16 px (and 32, 48, 64, …) stays
pixel-sharp. app.ico holds the app's PNGs, 16 to 256 px (PNG-in-ICO, Windows Vista and later).
"""

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QGuiApplication, QImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the app's code
from app.gui.icons import render_svg

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
NAMES = ("tray-green", "tray-amber", "tray-red", "tray-grey", "app")
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


_app: QGuiApplication | None = None


def _gui() -> None:
    """Qt's image code wants a QGuiApplication; make one unless the caller (pytest-qt) has."""
    global _app
    if QGuiApplication.instance() is None:
        _app = QGuiApplication([])


def render(svg: Path, size: int) -> QImage:
    """The SVG drawn at exactly ``size`` × ``size`` pixels on a transparent background."""
    image = render_svg(svg, size)
    if image.isNull():
        raise ValueError(f"{svg}: not a valid SVG (QSvgRenderer could not read it)")
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt could not encode a PNG")
    buffer.close()
    return bytes(data)


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file holding these square PNGs ({size: png}), smallest first. The directory's
    width and height bytes say 0 for 256 (the format's convention)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))  # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(sizes)
    entries, blobs = [], []
    for size in sizes:
        if not 1 <= size <= 256:
            raise ValueError(f"an ICO image is 1 to 256 px, not {size}")
        blob = pngs[size]
        side = 0 if size == 256 else size
        # width, height, colours (0: truecolour), reserved, planes, bits per pixel, bytes, offset
        entries.append(struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset))
        blobs.append(blob)
        offset += len(blob)
    return header + b"".join(entries) + b"".join(blobs)


def render_all(source: Path = ICONS, out: Path = ICONS) -> list[Path]:
    """Write <name>-<size>.png for every icon and size, and app.ico, into ``out``.
    Returns the files written."""
    _gui()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    app_pngs: dict[int, bytes] = {}
    for name in NAMES:
        for size in SIZES:
            blob = png_bytes(render(source / f"{name}.svg", size))
            path = out / f"{name}-{size}.png"
            path.write_bytes(blob)
            written.append(path)
            if name == "app":
                app_pngs[size] = blob
    ico = out / "app.ico"
    ico.write_bytes(ico_bytes(app_pngs))
    written.append(ico)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ICONS
    for path in render_all(ICONS, out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
