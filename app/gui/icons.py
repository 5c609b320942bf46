"""The tray's four lights and the application icon, from resources/icons/ (app/resources.py
finds that folder in a checkout, an installed copy or a frozen build).

Each icon is an SVG source with PNGs rendered from it at every size a desktop asks for
(build_scripts/render_icons.py). A QIcon gets every PNG, so Qt picks the sharpest one for the
tray (16, 22 or 24 px), a title bar or a task switcher; a pixmap of any other size is drawn from
the SVG at that exact size rather than scaled from a bitmap."""

from pathlib import Path

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from app.resources import resources_dir
from app.service.status import Light

SIZES = (16, 22, 24, 32, 48, 64, 128, 256)  # the PNGs beside each SVG


def icons_dir() -> Path:
    return resources_dir() / "icons"


def light_icon(light: Light) -> QIcon:
    """The tray icon for a light: green all synced, amber invoices waiting, red needs
    attention, grey sending paused."""
    return _icon(_light_name(light))


def app_icon() -> QIcon:
    return _icon("app")


def light_pixmap(light: Light, size: int, device_pixel_ratio: float = 1.0) -> QPixmap:
    """The light's icon ``size`` × ``size`` (logical pixels; pass the screen's ratio to get a
    sharp pixmap on a high-DPI screen)."""
    return _pixmap(_light_name(light), size, device_pixel_ratio)


def _light_name(light: Light) -> str:
    return f"tray-{Light(light).value}"


def _icon(name: str) -> QIcon:
    folder = icons_dir()
    icon = QIcon()
    for size in SIZES:
        path = folder / f"{name}-{size}.png"
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    if icon.isNull():
        raise FileNotFoundError(f"no {name}-<size>.png in {folder} (run build_scripts/render_icons.py, "
                                "or set RIMS_RESOURCES to the folder holding icons/)")
    return icon


def _pixmap(name: str, size: int, ratio: float) -> QPixmap:
    pixels = max(1, round(size * ratio))
    folder = icons_dir()
    png = folder / f"{name}-{pixels}.png"
    if png.is_file():
        pixmap = QPixmap(str(png))
    else:
        pixmap = QPixmap.fromImage(render_svg(folder / f"{name}.svg", pixels))
    if pixmap.isNull():
        raise FileNotFoundError(f"could not load the {name} icon from {folder}")
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def render_svg(svg: Path, pixels: int) -> QImage:
    """The SVG drawn at exactly ``pixels`` × ``pixels`` on a transparent background (also what
    build_scripts/render_icons.py writes the PNGs with); a null image if it cannot be read."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        return QImage()  # a null image: _pixmap says which icon could not be loaded
    image = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    return image
