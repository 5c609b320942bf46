"""The invoice queue window against a real core in practice mode: filters, the detail of a
rejected invoice, Retry (one and all), the QR preview from the list, and its screenshots."""

from decimal import Decimal

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication

from app.gui.invoice_model import COL_STATE
from app.gui.queue_window import FILTERS, QueueWindow
from app.gui.runtime import Runtime
from tests.gui.conftest import sandbox_fault, screenshot
from tests.gui.test_invoice_model import numbers, post, wait_counts


def open_window(qtbot, runtime: Runtime, **options: object) -> QueueWindow:
    window = QueueWindow(runtime, **options)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.model.loading, timeout=10_000)
    return window


def select(qtbot, window: QueueWindow, invoice_no: str) -> dict:
    model = window.model
    qtbot.waitUntil(lambda: invoice_no in numbers(model), timeout=10_000)
    row = numbers(model).index(invoice_no)
    window.table.selectionModel().setCurrentIndex(
        model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
        | QItemSelectionModel.SelectionFlag.Rows)
    qtbot.waitUntil(lambda: bool(window.detail and window.detail["invoice_no"] == invoice_no),
                    timeout=10_000)
    assert window.detail is not None
    return window.detail


def test_the_window_lists_filters_and_searches(qtbot, runtime: Runtime):
    post(runtime, "Q-100", "Q-101", "R-7")
    wait_counts(qtbot, runtime, synced=3)
    window = open_window(qtbot, runtime)
    assert window.windowTitle() == "Invoice queue — RIMS Utility"
    assert numbers(window.model) == ["R-7", "Q-101", "Q-100"]
    assert window.pane.title.text() == "Invoice R-7"  # the newest, shown at once
    assert window.filter.itemText(0) == "All invoices"

    window.search.setFocus()
    qtbot.keyClicks(window.search, "Q-10")  # debounced: one reload after typing stops
    qtbot.waitUntil(lambda: numbers(window.model) == ["Q-101", "Q-100"], timeout=10_000)
    window.filter.setCurrentIndex([state for _, state, _ in FILTERS].index("rejected"))
    qtbot.waitUntil(lambda: not window.model.loading and window.model.rowCount() == 0,
                    timeout=10_000)
    assert window.list_stack.currentWidget() is window.empty
    assert "Q-10" in window.empty.text()
    window.set_filter(None, "")
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=10_000)
    assert window.list_stack.currentWidget() is window.table

    post(runtime, "Q-102")  # appears by itself while the window is open
    qtbot.waitUntil(lambda: numbers(window.model)[:1] == ["Q-102"], timeout=15_000)
    qtbot.waitUntil(lambda: "4 invoices: 4 sent" in window.counts_label.text(), timeout=10_000)


def test_a_rejected_invoice_shows_why_and_retry_sends_it(qtbot, runtime: Runtime):
    post(runtime, "OK-1")
    wait_counts(qtbot, runtime, synced=1)
    sandbox_fault(runtime, reject_next=1)
    post(runtime, "BAD-1")
    wait_counts(qtbot, runtime, synced=1, rejected=1)
    window = open_window(qtbot, runtime)
    detail = select(qtbot, window, "BAD-1")
    assert detail["state"] == "rejected" and detail["can_retry"]
    pane = window.pane
    assert pane.values["state"].text() == "Rejected"
    assert pane.error_value.isVisibleTo(window) and pane.error_value.text() == detail["last_error"]
    assert "refused" in pane.explain.text()
    assert pane.attempts.rowCount() == len(detail["attempts_list"]) >= 1
    assert pane.attempts.item(0, 2).text() == "Refused by KPRA"
    assert pane.attempts.item(0, 3).text() == detail["attempts_list"][0]["message"]
    assert window.retry_action.isEnabled() and pane.retry_button.isEnabled()

    select(qtbot, window, "OK-1")  # nothing to retry on a sent invoice
    assert not window.retry_action.isEnabled()
    assert window.pane.values["transaction_id"].text() == window.detail["transaction_id"]
    select(qtbot, window, "BAD-1")

    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # Ctrl+R
    qtbot.waitUntil(lambda: bool(window.detail and window.detail["state"] == "synced"),
                    timeout=15_000)
    assert "will be sent again" in pane.result.text()
    row = numbers(window.model).index("BAD-1")
    qtbot.waitUntil(lambda: window.model.data(window.model.index(row, COL_STATE)) == "Sent",
                    timeout=10_000)
    outcomes = [pane.attempts.item(r, 2).text() for r in range(pane.attempts.rowCount())]
    assert outcomes == ["Refused by KPRA", "Retry asked for", "Recorded by KPRA"]
    assert not window.retry_action.isEnabled()


def test_the_context_menu_offers_retry_for_the_row(qtbot, runtime: Runtime):
    sandbox_fault(runtime, reject_next=1)
    post(runtime, "CM-1")
    wait_counts(qtbot, runtime, rejected=1)
    window = open_window(qtbot, runtime)
    select(qtbot, window, "CM-1")
    rect = window.table.visualRect(window.model.index(0, 0))
    window._context_menu(rect.center())
    menu = window.context_menu
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts[0] == "&Retry sending this invoice" and menu.actions()[0].isEnabled()
    menu.close()


def test_retry_all_failed_asks_first_then_sends_them_all(qtbot, runtime: Runtime):
    sandbox_fault(runtime, reject_next=2)
    post(runtime, "ALL-1", "ALL-2")
    wait_counts(qtbot, runtime, rejected=2)
    window = open_window(qtbot, runtime)
    qtbot.waitUntil(window.retry_all_button.isEnabled, timeout=5_000)
    asked: list[tuple[str, str, str]] = []
    window.confirm = lambda *question: asked.append(question) is None and False  # "Cancel"
    window.retry_all_button.click()
    assert len(asked) == 1 and "2 invoices rejected" in asked[0][1]
    assert runtime.last_snapshot is not None and runtime.last_snapshot.rejected == 2

    window.confirm = lambda *question: asked.append(question) is None  # "Retry all"
    window.retry_all_button.click()
    wait_counts(qtbot, runtime, synced=2, rejected=0)
    qtbot.waitUntil(lambda: "2 invoices will be sent again" in window.notice.text(),
                    timeout=5_000)
    qtbot.waitUntil(lambda: [window.model.data(window.model.index(r, COL_STATE))
                             for r in range(2)] == ["Sent", "Sent"], timeout=10_000)
    qtbot.waitUntil(lambda: not window.retry_all_button.isEnabled(), timeout=5_000)


def test_double_click_opens_the_qr_preview(qtbot, runtime: Runtime):
    post(runtime, "QR-1")
    wait_counts(qtbot, runtime, synced=1)
    window = open_window(qtbot, runtime)
    select(qtbot, window, "QR-1")
    where = window.table.visualRect(window.model.index(0, 0)).center()
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(lambda: len(window.previews) == 1, timeout=5_000)
    preview = window.previews[-1]
    qtbot.waitUntil(lambda: preview.pixmap is not None, timeout=10_000)
    assert "QR-1" in preview.windowTitle()
    preview.close()
    qtbot.waitUntil(lambda: not window.previews, timeout=5_000)  # closed: deleted, forgotten

    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Return)  # Enter opens it too
    qtbot.waitUntil(lambda: len(window.previews) == 1, timeout=5_000)
    window.previews[-1].close()


def _shop_day(qtbot, runtime: Runtime) -> None:
    """A morning's invoices, one of them rejected and one waiting (the authority went down)."""
    sales = [("INV-2026-001041", "09:12:05", "1160.00"), ("INV-2026-001042", "09:30:41", "348.00"),
             ("INV-2026-001043", "10:02:17", "12180.00"), ("INV-2026-001044", "10:45:09", "92.80"),
             ("INV-2026-001045", "11:20:33", "4640.00")]
    for number, time, total in sales:
        amount = (Decimal(total) / Decimal("1.16")).quantize(Decimal("0.01"))
        tax = Decimal(total) - amount
        post(runtime, number, date_time=f"2026-11-21 {time}", total_amount=total,
             amount=str(amount), tax_amount=str(tax))
    wait_counts(qtbot, runtime, synced=5)
    sandbox_fault(runtime, reject_next=1)
    post(runtime, "INV-2026-001046", date_time="2026-11-21 11:58:02", total_amount="2320.00",
         amount="2000.00", tax_amount="320.00")
    post(runtime, "INV-2026-001047", date_time="2026-11-21 12:14:50", total_amount="580.00",
         amount="500.00", tax_amount="80.00")


def test_screenshots(qtbot, runtime: Runtime):
    _shop_day(qtbot, runtime)
    wait_counts(qtbot, runtime, synced=6, rejected=1)
    window = open_window(qtbot, runtime)
    qtbot.waitUntil(lambda: window.model.rowCount() == 7, timeout=10_000)
    select(qtbot, window, "INV-2026-001046")
    qtbot.waitUntil(lambda: window.pane.attempts.rowCount() >= 1, timeout=5_000)
    QApplication.processEvents()
    screenshot(window, "queue-window")

    window.set_filter("synced", "INV-2026-00104")
    qtbot.waitUntil(lambda: window.model.rowCount() == 6 and not window.model.loading,
                    timeout=10_000)
    QApplication.processEvents()
    screenshot(window, "queue-window-filtered")


def test_an_invoice_s_warnings_show_in_its_detail(qtbot, runtime: Runtime):
    post(runtime, "W-1", total_amount="240.00")  # not amount + tax: kept, with a warning
    wait_counts(qtbot, runtime, synced=1)
    window = open_window(qtbot, runtime)
    detail = select(qtbot, window, "W-1")
    assert [w["field"] for w in detail["warnings"]] == ["total_amount"]
    assert window.pane.warnings.isVisibleTo(window)
    assert "total_amount 240.00 is not amount + tax_amount = 232.00" in window.pane.warnings.text()
    assert window.pane.warnings.text().count("total_amount") == 1  # (not the field twice)
