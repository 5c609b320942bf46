"""The receipt QR preview: large and pixel-sharp, the same code the receipt carries, Copy URL,
Save PNG and printing (to a PDF file here)."""

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QApplication, QFileDialog

from app.domain import qr
from app.gui.qr_preview import QrPreview, print_qr, qr_image, qr_matrix
from app.gui.runtime import Runtime
from tests.gui.conftest import screenshot
from tests.gui.test_invoice_model import post, wait_counts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def detail_of(qtbot, runtime: Runtime, invoice_no: str) -> dict:
    found: list[dict] = []

    async def find(facade):
        page = await facade.invoices(search=invoice_no)
        return await facade.invoice(page.rows[0]["id"])

    runtime.call(find, found.append)
    qtbot.waitUntil(lambda: bool(found), timeout=10_000)
    return found[0]


def open_preview(qtbot, runtime: Runtime, invoice_no: str = "INV-2026-001046") -> QrPreview:
    post(runtime, invoice_no, date_time="2026-11-21 11:58:02", total_amount="2320.00",
         amount="2000.00", tax_amount="320.00")
    wait_counts(qtbot, runtime, synced=1)
    preview = QrPreview(runtime, detail_of(qtbot, runtime, invoice_no))
    qtbot.addWidget(preview)
    preview.show()
    qtbot.waitUntil(lambda: preview.pixmap is not None, timeout=10_000)
    return preview


def only_black_and_white(image: QImage, area: QRect) -> bool:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    colours = {image.pixel(x, y) & 0xFFFFFF for y in range(area.top(), area.bottom() + 1)
               for x in range(area.left(), area.right() + 1)}
    return colours <= {0x000000, 0xFFFFFF} and len(colours) == 2


def test_the_code_is_large_sharp_and_the_receipt_s_own(qtbot, runtime: Runtime):
    preview = open_preview(qtbot, runtime)
    pixmap = preview.pixmap
    assert pixmap is not None
    assert pixmap.width() == pixmap.height() >= 300
    assert only_black_and_white(pixmap.toImage(), pixmap.rect())
    # what is on screen: drawn 1:1 by the label (not scaled, so not smoothed)
    shown = preview.code.grab().toImage()
    left = (shown.width() - pixmap.width()) // 2
    top = (shown.height() - pixmap.height()) // 2
    assert only_black_and_white(shown, QRect(left, top, pixmap.width(), pixmap.height()))
    # every module a whole number of pixels, and the modules are the receipt code's own
    url = preview.detail["qr_url"]
    assert url.startswith("https://kpra.gov.pk/") and "INV-2026-001046" in url
    expected = qr._code(url).get_matrix()  # (with its quiet zone)
    assert preview.matrix == [list(row) for row in expected]
    assert pixmap.width() % len(expected) == 0
    assert qr_matrix(_png(qr_image(preview.matrix, 3))) == preview.matrix  # (read back)
    assert preview.values["Total"].text() == "2,320.00"
    assert preview.values["Tax"].text() == "320.00 (16 %)"
    assert preview.values["State"].text() == "Sent"
    assert preview.values["Transaction id"].text() == preview.detail["transaction_id"]
    assert not hasattr(preview, "note")  # sent: no warning that a scan finds nothing


def _png(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def test_copy_url_puts_the_kpra_address_on_the_clipboard(qtbot, runtime: Runtime):
    preview = open_preview(qtbot, runtime)
    QGuiApplication.clipboard().clear()
    preview.copy_button.click()
    assert QGuiApplication.clipboard().text() == preview.detail["qr_url"]
    assert QGuiApplication.clipboard().text().startswith("https://kpra.gov.pk/api/?pos_id=")
    assert "Copied" in preview.message.text()


def test_save_png_writes_the_code_where_the_user_chose(qtbot, runtime: Runtime, tmp_path: Path,
                                                        monkeypatch):
    preview = open_preview(qtbot, runtime)
    asked: list[str] = []
    target = tmp_path / "my-code"  # no extension typed: .png is added

    def choose(parent, caption, suggested, filters):
        asked.append(suggested)
        return str(target), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    preview.save_button.click()
    assert Path(asked[0]).name == "qr-K123456-INV-2026-001046.png"
    saved = tmp_path / "my-code.png"
    data = saved.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    image = QImage(str(saved))
    assert not image.isNull() and image.width() == image.height() >= 200
    assert qr_matrix(data) == preview.matrix
    assert preview.saved_to == saved and str(saved) in preview.message.text()

    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args: ("", "")))  # Cancel: nothing written
    assert preview.save_png() is None


def test_print_qr_prints_to_a_pdf(qtbot, runtime: Runtime, tmp_path: Path):
    preview = open_preview(qtbot, runtime)
    assert preview.matrix is not None
    pdf = tmp_path / "qr.pdf"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(pdf))
    assert print_qr(printer, preview.matrix, preview.detail)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 2_000


def test_an_invoice_not_sent_yet_says_a_scan_may_find_nothing(qtbot, runtime: Runtime):
    preview = open_preview(qtbot, runtime)
    preview.close()
    waiting = dict(preview.detail, state="queued", transaction_id=None)
    second = QrPreview(runtime, waiting)
    qtbot.addWidget(second)
    assert "not recorded this invoice yet" in second.note.text()
    assert second.values["Transaction id"].text() == "None yet"


def test_screenshot(qtbot, runtime: Runtime):
    preview = open_preview(qtbot, runtime)
    QApplication.processEvents()
    screenshot(preview, "qr-preview")


def kenya_detail(**changes: object) -> dict:
    """A Kenya row as the facade gives it (server/dashboard_kenya.py's fields)."""
    return {"id": 7, "pos_id": "POS-1", "invoice_no": "cn:CN-1", "number": "CN-1",
            "kind": "credit_note", "kind_name": "Credit note", "currency": "KES",
            "date_time": "2026-11-21 12:30:00", "amount": "-5000.00", "tax_rate": "16.00",
            "tax_amount": "-800.00", "total_amount": "-5800.00", "state": "queued",
            "transaction_id": None, "receipt_url": None, "has_money": True,
            "qr_url": "https://kpra.gov.pk/not-for-kenya"} | changes


def test_kenya_the_code_is_the_authority_s_receipt_link_once_signed(qtbot, runtime: Runtime):
    waiting = QrPreview(runtime, kenya_detail())
    qtbot.addWidget(waiting)
    waiting.show()
    assert waiting.url == ""  # never KPRA's URL for a Kenya row
    assert "appears once KRA eTIMS has signed the invoice" in waiting.code.text()
    assert "KRA eTIMS gives the receipt's code when it signs" in waiting.note.text()
    assert not waiting.copy_button.isEnabled() and not waiting.save_button.isEnabled()
    assert waiting.values["Total"].text() == "KES -5,800.00"  # a credit note takes money back
    assert waiting.values["Number"].text() == "CN-1"
    screenshot(waiting, "qr-preview-kenya-waiting")

    receipt = "https://sandbox.protax.co.ke/qr/cn_4f2a9c"
    signed = QrPreview(runtime, kenya_detail(state="synced", transaction_id="KRA20261121000042",
                                             receipt_url=receipt))
    qtbot.addWidget(signed)
    signed.show()
    qtbot.waitUntil(lambda: signed.pixmap is not None, timeout=10_000)
    assert signed.url == receipt
    assert signed.matrix == [list(row) for row in qr._code(receipt).get_matrix()]
    assert not hasattr(signed, "note")
    assert "Credit note CN-1" in signed.windowTitle().replace("credit note", "Credit note")
    screenshot(signed, "qr-preview-kenya")


def test_kenya_a_foreign_currency_sale_shows_its_kes_total_and_its_own(qtbot, runtime: Runtime):
    from app.gui.qr_preview import summary

    usd = kenya_detail(kind="invoice", invoice_no="INV-2", number="INV-2", currency="USD",
                       total_amount="12950.00", tax_amount="1942.50", amount="11007.50")
    assert dict(summary(usd))["Total"] == "KES 12,950.00 (sold in USD)"
    page = usd | {"exchange_rate": "129.5", "band_totals": {"taxable": "100", "tax": "15",
                                                           "net": "85", "gross": "100"}}
    assert dict(summary(page))["Total"] == "KES 12,950.00 (USD 100.00 at 129.5)"
    assert dict(summary(kenya_detail()))["Total"] == "KES -5,800.00"
