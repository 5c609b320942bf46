"""One invoice's receipt QR code, large and sharp: every module drawn as a whole number of pixels
(never a smoothed, blurry scale), with the invoice's summary, and Save PNG, Print, Copy URL.

The PNG comes from the facade (facade.qr_png, the same bytes the dashboard serves); the window
reads its modules back and draws them, on screen and on paper (print_qr), so a printout is a
vector drawing at the printer's full resolution."""

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF, QRect, QStandardPaths, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPainter,
    QPixmap,
    QTextOption,
)
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.gui.invoice_model import (
    STATE_COLOURS,
    document_heading,
    guarded,
    is_kenya,
    money_text,
    sold_in,
    state_word,
)
from app.gui.runtime import Runtime

Matrix = list[list[bool]]  # rows of modules, True = dark; the quiet zone included

MIN_SIDE = 320  # the code's side on screen, in logical pixels (at least)
PRINT_SIDE_MM = 50.0  # the code's side on paper (less on a narrow receipt roll)


def qr_matrix(png: bytes) -> Matrix:
    """The modules of a QR code PNG (square modules of any whole pixel size, as qrcode makes
    them): the module size is the width of the top-left finder pattern divided by 7."""
    image = QImage.fromData(png)
    if image.isNull() or image.width() != image.height():
        raise ValueError("not a square QR code image")
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    size = image.width()

    def dark(x: int, y: int) -> bool:
        return QColor(image.pixel(x, y)).lightness() < 128

    start = next((d for d in range(size) if dark(d, d)), None)
    if start is None:
        raise ValueError("no QR code in the image")
    run = 0
    while start + run < size and dark(start + run, start):
        run += 1
    box = max(1, round(run / 7))
    modules = size // box
    return [[dark(x * box + box // 2, y * box + box // 2) for x in range(modules)]
            for y in range(modules)]


def qr_image(matrix: Matrix, module: int, device_pixel_ratio: float = 1.0) -> QImage:
    """The code as pure black and white pixels, ``module`` logical pixels a module (a whole
    number of device pixels too, so it stays sharp on a scaled screen)."""
    device = max(1, round(module * device_pixel_ratio))
    n = len(matrix)
    image = QImage(n * device, n * device, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    for y, line in enumerate(matrix):
        for x, is_dark in enumerate(line):
            if is_dark:
                painter.fillRect(x * device, y * device, device, device, Qt.GlobalColor.black)
    painter.end()
    image.setDevicePixelRatio(device / module)
    return image


def module_size(matrix: Matrix, at_least: int = MIN_SIDE) -> int:
    """The smallest whole number of pixels a module that makes the code ``at_least`` wide."""
    n = max(1, len(matrix))
    return max(1, -(-at_least // n))


def summary(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """The invoice in a few lines (on screen and on paper)."""
    tax = money_text(detail.get("tax_amount"))
    rate = detail.get("tax_rate")
    if rate not in (None, ""):
        tax += f" ({rate} %)"
    total = money_text(detail.get("total_amount"))
    if detail.get("currency"):  # Kenya: the row's total is in KES, whatever the sale's currency
        total = f"KES {total}"
        currency = sold_in(detail)
        own = (detail.get("band_totals") or {}).get("gross")
        if currency and own is not None and detail.get("exchange_rate"):
            total += f" ({currency} {money_text(own)} at {detail['exchange_rate']})"
        elif currency:
            total += f" (sold in {currency})"
    return [
        ("Invoice no" if str(detail.get("kind") or "invoice") == "invoice" else "Number",
         str(detail.get("number") or detail.get("invoice_no", ""))),
        ("POS", str(detail.get("pos_id", ""))),
        ("Date and time", str(detail.get("date_time") or "—")),
        ("Total", total),
        ("Tax", tax),
        ("State", state_word(detail.get("state"))),
        ("Transaction id", str(detail.get("transaction_id") or "None yet")),
    ]


WAITING_FOR_KRA = "The receipt QR appears once KRA eTIMS has signed the invoice."


def receipt_address(detail: dict[str, Any], kenya: bool) -> str:
    """What the code opens: KPRA's QR URL (built here, known at once); in Kenya the upstream's
    own receipt link (KRA's invoice checker, ProTax's QR page), known only once it signed."""
    if kenya:
        return str(detail.get("receipt_url") or "")
    return str(detail.get("qr_url") or "")


def not_sent_note(detail: dict[str, Any], kenya: bool = False) -> str | None:
    if kenya and not detail.get("receipt_url"):
        return ("Nothing to print yet: KRA eTIMS gives the receipt's code when it signs the "
                "invoice. It is sent on its own; open this window again once it says Sent.")
    if detail.get("state") == "synced":
        return None
    return ("The tax authority has not recorded this invoice yet: a customer who scans the code "
            "now may not find it. It will once the invoice is sent.")


def default_file_name(detail: dict[str, Any]) -> str:
    def safe(text: object) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "x"
    return f"qr-{safe(detail.get('pos_id', ''))}-{safe(detail.get('invoice_no', ''))}.png"


def print_qr(printer: QPrinter, matrix: Matrix, detail: dict[str, Any]) -> bool:
    """Print the code (a vector drawing, one filled square a module) with the invoice's summary
    on one page of ``printer``. False if the printer could not be started."""
    painter = QPainter()
    if not painter.begin(printer):
        return False
    try:
        page = printer.pageLayout().paintRectPixels(printer.resolution())
        page.moveTo(0, 0)  # the painter's origin is the printable area's corner
        dots_per_mm = printer.resolution() / 25.4
        pad = round(2 * dots_per_mm)
        y = 0

        title = QFont()
        title.setPointSizeF(13)
        title.setBold(True)
        painter.setFont(title)
        line = painter.fontMetrics().lineSpacing()
        painter.drawText(QRect(0, y, page.width(), line * 2),
                         int(Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap),
                         document_heading(detail))
        y += painter.fontMetrics().boundingRect(
            QRect(0, 0, page.width(), line * 2), int(Qt.TextFlag.TextWordWrap),
            document_heading(detail)).height() + pad

        n = max(1, len(matrix))
        side = min(PRINT_SIDE_MM * dots_per_mm, page.width(), page.height() * 0.6)
        module = max(1, int(side // n))
        side = module * n
        left = (page.width() - side) // 2
        painter.setPen(Qt.PenStyle.NoPen)
        for row, modules in enumerate(matrix):
            for column, is_dark in enumerate(modules):
                if is_dark:
                    painter.fillRect(left + column * module, y + row * module, module, module,
                                     Qt.GlobalColor.black)
        y += side + pad

        body = QFont()
        body.setPointSizeF(9)
        painter.setFont(body)
        painter.setPen(Qt.GlobalColor.black)
        metrics = painter.fontMetrics()
        lines = summary(detail)
        label_width = max(metrics.horizontalAdvance(name) for name, _ in lines) + 2 * pad
        block = min(page.width(), label_width + max(metrics.horizontalAdvance(value)
                                                    for _, value in lines))
        x = (page.width() - block) // 2  # the summary centred under the code, as a block
        wrap = int(Qt.TextFlag.TextWordWrap)
        for name, value in lines:
            box = QRect(x + label_width, y, block - label_width, page.height() - y)
            used = metrics.boundingRect(box, wrap, value)
            painter.drawText(QRect(x, y, label_width, metrics.lineSpacing()),
                             int(Qt.AlignmentFlag.AlignLeft), name)
            painter.drawText(box, wrap, value)
            y += max(used.height(), metrics.lineSpacing())
        small = QFont()
        small.setPointSizeF(7)
        painter.setFont(small)
        url = receipt_address(detail, is_kenya(detail))
        painter.drawText(QRect(0, y + pad, page.width(), page.height() - y - pad),
                         int(Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWrapAnywhere), url)
    finally:
        painter.end()
    return True


class QrPreview(QDialog):
    """The QR code of one invoice (``detail``: the facade's invoice(id) dict)."""

    def __init__(self, runtime: Runtime, detail: dict[str, Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.runtime = runtime
        self.detail = dict(detail)
        settings = runtime.facade.settings()
        self.kenya = settings.kenya or is_kenya(self.detail)
        self.url = receipt_address(self.detail, self.kenya)
        self.png: bytes | None = None
        self.matrix: Matrix | None = None
        self.pixmap: QPixmap | None = None
        self.saved_to: Path | None = None
        invoice_no = str(detail.get("invoice_no", ""))
        heading = document_heading(self.detail)
        self.setWindowTitle(f"QR code of {heading[:1].lower()}{heading[1:]} — RIMS Utility")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        self.code = QLabel("Making the QR code…")
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.setMinimumSize(MIN_SIDE + 40, MIN_SIDE + 40)
        self.code.setStyleSheet("QLabel { background: white; color: #555; }")
        self.code.setAccessibleName(f"QR code of invoice {invoice_no}")
        self.code.setAccessibleDescription(f"Opens {self.url}")

        title = QLabel(heading)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(6)
        self.values: dict[str, QLabel] = {}
        for name, value in summary(self.detail):
            label = QLabel(name + ":")
            label.setStyleSheet("color: palette(placeholder-text);")
            shown = QLabel(value)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setAccessibleName(name)
            if name == "State":
                colour = STATE_COLOURS.get(str(detail.get("state")), "#000000")
                shown.setStyleSheet(f"color: {colour}; font-weight: bold;")
            if name == "Total":
                shown.setStyleSheet("font-weight: bold;")
            label.setBuddy(shown)
            form.addRow(label, shown)
            self.values[name] = shown

        url_label = QLabel("Web address:")
        url_label.setStyleSheet("color: palette(placeholder-text);")
        # read-only text that wraps anywhere (a URL has no spaces) and copies exactly
        self.url_text = QTextEdit()
        self.url_text.setReadOnly(True)
        self.url_text.setPlainText(self.url)
        if not self.url and self.kenya:
            self.url_text.setPlaceholderText("Not yet: KRA eTIMS gives it when it signs")
        self.url_text.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.url_text.setFrameShape(QFrame.Shape.NoFrame)
        self.url_text.viewport().setAutoFillBackground(False)
        self.url_text.setStyleSheet("QTextEdit { background: transparent; }")
        self.url_text.document().setDocumentMargin(0)
        self.url_text.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.url_text.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.url_text.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 2)
        self.url_text.setTabChangesFocus(True)
        self.url_text.setAccessibleName("Web address the code opens")
        self.url_text.setMinimumWidth(260)
        url_label.setBuddy(self.url_text)
        url_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        url_label.setFixedHeight(self.url_text.height())
        form.addRow(url_label, self.url_text)

        side = QVBoxLayout()
        side.addWidget(title)
        side.addSpacing(6)
        side.addLayout(form)
        note = not_sent_note(self.detail, self.kenya)
        if note:
            self.note = QLabel(note)
            self.note.setWordWrap(True)
            self.note.setStyleSheet("QLabel { background: #fff4d6; border: 1px solid #e0b44a; "
                                    "border-radius: 4px; padding: 6px; color: #5c4000; }")
            side.addSpacing(8)
            side.addWidget(self.note)
        where = ("on the KPRA website" if not self.kenya else
                 "on ProTax's receipt page" if "protax" in self.url else
                 "on KRA's invoice checker")
        hint = QLabel(f"A customer scans this code with a phone camera to check the invoice "
                      f"{where}.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        side.addSpacing(8)
        side.addWidget(hint)
        side.addStretch(1)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Result")
        side.addWidget(self.message)

        top = QHBoxLayout()
        top.addWidget(self.code, 0, Qt.AlignmentFlag.AlignTop)
        top.addSpacing(12)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        top.addWidget(side_widget, 1)

        self.save_button = QPushButton("&Save PNG…")
        self.save_button.setToolTip(f"Save the code as a picture ({default_file_name(detail)})")
        self.print_button = QPushButton("&Print…")
        self.print_button.setToolTip("Print the code with the invoice's details")
        self.copy_button = QPushButton("&Copy URL")
        self.copy_button.setToolTip("Copy the address the code opens")
        self.close_button = QPushButton("Close")
        self.save_button.clicked.connect(lambda: self.save_png())
        self.print_button.clicked.connect(self.print_dialog)
        self.copy_button.clicked.connect(self.copy_url)
        self.close_button.clicked.connect(self.close)
        self.save_button.setEnabled(False)
        self.print_button.setEnabled(False)
        self.copy_button.setEnabled(bool(self.url))
        buttons = QHBoxLayout()
        for button in (self.save_button, self.print_button, self.copy_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        self.close_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.addLayout(top, 1)
        layout.addSpacing(8)
        layout.addLayout(buttons)
        self.setTabOrder(self.save_button, self.print_button)
        self.setTabOrder(self.print_button, self.copy_button)
        self.setTabOrder(self.copy_button, self.close_button)
        self.resize(780, 440)
        self.close_button.setFocus()
        self._load()

    # ---------------------------------------------------------------- the code

    def _load(self) -> None:
        if not self.url:
            self.code.setText(WAITING_FOR_KRA if self.kenya else
                              "This invoice has no QR address.")
            self.code.setWordWrap(True)
            return
        url = self.url
        self.runtime.call(lambda facade: facade.qr_png(url), guarded(self, self._arrived),
                          guarded(self, self._failed))

    def _arrived(self, png: bytes) -> None:
        try:
            matrix = qr_matrix(png)
        except ValueError as why:
            self._failed(why)
            return
        self.png, self.matrix = png, matrix
        image = qr_image(matrix, module_size(matrix), self.devicePixelRatioF())
        self.pixmap = QPixmap.fromImage(image)
        self.code.setStyleSheet("QLabel { background: white; }")
        self.code.setPixmap(self.pixmap)
        self.save_button.setEnabled(True)
        self.print_button.setEnabled(True)

    def _failed(self, why: BaseException) -> None:
        self.code.setText(f"The QR code could not be made:\n{why}")
        self.code.setWordWrap(True)

    # ----------------------------------------------------------------- actions

    def copy_url(self) -> None:
        QGuiApplication.clipboard().setText(self.url)
        self._say(f"Copied: {self.url}")
        self.copy_button.setText("Copied ✓")
        QTimer.singleShot(2500, guarded(self, lambda: self.copy_button.setText("&Copy URL")))

    def save_png(self, path: str | None = None) -> Path | None:
        """Save the code's PNG (the same picture the dashboard gives); asks where when ``path``
        is None. Returns where it was saved, None if not."""
        if self.png is None:
            return None
        if path is None:
            folder = QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.PicturesLocation) or str(Path.home())
            path, _ = QFileDialog.getSaveFileName(
                self, "Save the QR code", str(Path(folder) / default_file_name(self.detail)),
                "PNG picture (*.png)")
            if not path:
                return None
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_name(target.name + ".png")
        try:
            target.write_bytes(self.png)
        except OSError as why:
            QMessageBox.warning(self, "Not saved", f"The QR code could not be saved to {target}:"
                                f"\n{why.strerror or why}\n\nChoose another folder.")
            return None
        self.saved_to = target
        self._say(f"Saved to {target}")
        return target

    def print_dialog(self) -> None:
        if self.matrix is None:
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setDocName(f"QR code {self.detail.get('invoice_no', '')}")
        printer.setPageMargins(QMarginsF(10, 10, 10, 10), QPageLayout.Unit.Millimeter)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle("Print the QR code")
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        if print_qr(printer, self.matrix, self.detail):
            self._say("Sent to the printer.")
        else:
            QMessageBox.warning(self, "Not printed",
                                "The printer could not be started. Check that it is on and "
                                "connected, then try again.")

    def _say(self, text: str) -> None:
        self.message.setText(text)

