"""The tray's icons: clean SVG sources that render, committed PNGs and app.ico that match them,
four lights that differ, and app/gui/icons.py handing Qt every size. Also draws the contact
sheet docs/screenshots/tray-icons.png (the lights at tray sizes on a light and a dark panel)."""

import importlib.util
import itertools
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from app.gui import icons
from app.service.status import Light
from tests.gui.conftest import ROOT, SCREENSHOTS

ICONS = ROOT / "resources" / "icons"
NAMES = ("tray-green", "tray-amber", "tray-red", "tray-grey", "app")
LIGHTS = {Light.GREEN: "all synced", Light.AMBER: "invoices waiting",
          Light.RED: "needs attention", Light.GREY: "sending paused"}
SVG_NS = "{http://www.w3.org/2000/svg}"


def load_render_script():
    spec = importlib.util.spec_from_file_location("render_icons", ROOT / "build_scripts" / "render_icons.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_icons = load_render_script()


def argb(path: Path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull(), f"Qt cannot read {path}"
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def opaque_pixels(image: QImage) -> int:
    return sum(1 for y in range(image.height()) for x in range(image.width())
               if image.pixelColor(x, y).alpha() > 128)


def differing_pixels(a: QImage, b: QImage) -> int:
    return sum(1 for y in range(a.height()) for x in range(a.width()) if a.pixel(x, y) != b.pixel(x, y))


def test_the_sizes_agree_between_the_script_and_the_app():
    assert render_icons.SIZES == icons.SIZES
    assert set(render_icons.NAMES) == {f"tray-{light.value}" for light in Light} | {"app"}


@pytest.mark.parametrize("name", NAMES)
def test_every_svg_is_clean_and_renders(qapp, name: str):
    path = ICONS / f"{name}.svg"
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg" and root.get("viewBox")
    assert root.find(f"{SVG_NS}title") is not None  # what a screen reader or file browser says
    text = path.read_text(encoding="utf-8")
    for cruft in ("inkscape", "sodipodi", "sketch", "illustrator", "<metadata", "data:image"):
        assert cruft not in text.lower(), f"{path.name}: editor cruft {cruft!r}"
    assert QSvgRenderer(str(path)).isValid()
    image = render_icons.render(path, 16)
    assert opaque_pixels(image) > 16 * 16 // 3


@pytest.mark.parametrize("name", NAMES)
def test_every_png_is_there_at_its_exact_size_and_not_blank(qapp, name: str):
    for size in icons.SIZES:
        path = ICONS / f"{name}-{size}.png"
        assert path.is_file(), f"{path.name} missing: run build_scripts/render_icons.py"
        image = argb(path)
        assert (image.width(), image.height()) == (size, size), path.name
        assert opaque_pixels(image) > size * size // 3, f"{path.name} is (nearly) blank"
        colours = {image.pixel(x, y) for y in range(size) for x in range(size)}
        assert len(colours) > 4, f"{path.name} is a flat square"


def test_the_four_lights_differ_at_every_size(qapp):
    for size in icons.SIZES:
        images = {light: argb(ICONS / f"tray-{light.value}-{size}.png") for light in Light}
        for a, b in itertools.combinations(Light, 2):
            # the badge is about a third of the icon: it and its glyph must differ, not a pixel
            assert differing_pixels(images[a], images[b]) > size * size // 10, (a, b, size)


def test_the_four_lights_differ_in_shape_not_only_in_colour(qapp):
    """Seen in grey (as by someone who cannot tell red from green), the lights still differ:
    check, clock, exclamation mark and pause are different glyphs."""
    for size in (16, 22, 32):
        greys = {}
        for light in Light:
            image = argb(ICONS / f"tray-{light.value}-{size}.png")
            greys[light] = [qgray_lightness(image, x, y) for y in range(size) for x in range(size)]
        for a, b in itertools.combinations(Light, 2):
            changed = sum(1 for p, q in zip(greys[a], greys[b], strict=True) if abs(p - q) > 60)
            assert changed >= size // 2, (a, b, size, changed)


def qgray_lightness(image: QImage, x: int, y: int) -> int:
    colour = image.pixelColor(x, y)
    return round(colour.lightness() * colour.alphaF())  # against black: glyph shapes, not hue


def test_the_ico_holds_every_size_as_png():
    data = (ICONS / "app.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind, count) == (0, 1, len(icons.SIZES))
    sizes = []
    for index in range(count):
        width, height, colours, _, planes, bits, length, offset = struct.unpack_from(
            "<BBBBHHII", data, 6 + 16 * index)
        side = width or 256
        assert (width, colours, planes, bits) == (height, 0, 1, 32)
        blob = data[offset:offset + length]
        assert len(blob) == length and blob.startswith(b"\x89PNG\r\n\x1a\n")
        assert struct.unpack(">II", blob[16:24]) == (side, side)  # the PNG's IHDR agrees
        assert blob == (ICONS / f"app-{side}.png").read_bytes()
        sizes.append(side)
    assert sizes == sorted(icons.SIZES)


def test_the_committed_renditions_are_up_to_date_and_rendering_is_deterministic(qapp, tmp_path: Path):
    first = render_icons.render_all(ICONS, tmp_path / "first")
    again = render_icons.render_all(ICONS, tmp_path / "again")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    stale = []
    for fresh in first:
        committed = ICONS / fresh.name
        if fresh.suffix == ".png":
            if not committed.is_file() or argb(committed) != argb(fresh):
                stale.append(fresh.name)
        elif not committed.is_file() or committed.read_bytes() != fresh.read_bytes():
            stale.append(fresh.name)
    assert not stale, f"out of date with the SVGs (run build_scripts/render_icons.py): {stale}"


def test_the_qicons_offer_every_size(qapp):
    wanted = [QSize(size, size) for size in icons.SIZES]
    for light in Light:
        icon = icons.light_icon(light)
        assert sorted(icon.availableSizes(), key=QSize.width) == wanted
        shown = icon.pixmap(16).toImage().convertToFormat(QImage.Format.Format_ARGB32)
        assert shown == argb(ICONS / f"tray-{light.value}-16.png")  # the 16 px PNG, not a scaled one
    assert sorted(icons.app_icon().availableSizes(), key=QSize.width) == wanted


def test_light_pixmaps_come_at_the_size_asked(qapp):
    for light in Light:
        for size in (16, 20, 64, 100):  # committed sizes, and sizes drawn from the SVG
            pixmap = icons.light_pixmap(light, size)
            assert (pixmap.width(), pixmap.height()) == (size, size)
            assert opaque_pixels(pixmap.toImage()) > size * size // 3
    sharp = icons.light_pixmap(Light.RED, 32, device_pixel_ratio=2.0)
    assert (sharp.width(), sharp.devicePixelRatio()) == (64, 2.0)


def test_a_missing_icon_folder_is_reported(qapp, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RIMS_RESOURCES", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="render_icons"):
        icons.light_icon(Light.GREEN)


def test_contact_sheet(qapp):
    """docs/screenshots/tray-icons.png: each light at 16, 22, 32 and 64 px on a light and a dark
    panel, and 16 px magnified 4× to show its pixels."""
    sizes, zoom = (16, 22, 32, 64), 4
    cell, label_width, margin = 76, 150, 16
    panel_width = label_width + cell * len(sizes) + 16 * zoom + margin
    header = 34
    sheet = QImage(2 * panel_width, header + cell * len(Light) + margin, QImage.Format.Format_ARGB32)
    painter = QPainter(sheet)
    font = QFont()
    font.setPixelSize(13)
    painter.setFont(font)
    for column, (background, ink) in enumerate((("#f3f4f6", "#1b1f24"), ("#2b2d31", "#e8eaed"))):
        left = column * panel_width
        painter.fillRect(QRect(left, 0, panel_width, sheet.height()), QColor(background))
        painter.setPen(QColor(ink))
        x = left + label_width
        for size in sizes:
            painter.drawText(QRect(x, 8, cell, 20), Qt.AlignmentFlag.AlignCenter, f"{size} px")
            x += cell
        painter.drawText(QRect(x, 8, 16 * zoom, 20), Qt.AlignmentFlag.AlignCenter, "16 px ×4")
        for row, (light, meaning) in enumerate(LIGHTS.items()):
            top = header + row * cell
            painter.drawText(QRect(left + margin, top, label_width - margin, cell),
                             Qt.AlignmentFlag.AlignVCenter, f"{light.value}\n{meaning}")
            x = left + label_width
            for size in sizes:
                image = argb(ICONS / f"tray-{light.value}-{size}.png")
                painter.drawImage(x + (cell - size) // 2, top + (cell - size) // 2, image)
                x += cell
            small = argb(ICONS / f"tray-{light.value}-16.png")
            painter.drawImage(QRectF(x, top + (cell - 16 * zoom) / 2, 16 * zoom, 16 * zoom), small)
    painter.end()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / "tray-icons.png"
    assert sheet.save(str(path))
    assert argb(path).size() == sheet.size()
