"""The queue's table model against a real core: keyset pages, filters, live updates that keep a
view's selection."""

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QTableView

from app.gui.invoice_model import (
    COL_ATTEMPTS,
    COL_ERROR,
    COL_INVOICE,
    COL_STATE,
    COL_TOTAL,
    COLUMNS,
    IdRole,
    InvoiceModel,
    money_text,
)
from app.gui.runtime import Bridge, Runtime
from tests.gui.conftest import post_invoice, sandbox_fault


def wait_counts(qtbot, runtime: Runtime, timeout: int = 15_000, **counts: int) -> None:
    def reached() -> bool:
        snapshot = runtime.last_snapshot
        return snapshot is not None and all(snapshot.counts.get(state, 0) == n
                                            for state, n in counts.items())
    qtbot.waitUntil(reached, timeout=timeout)


def numbers(model: InvoiceModel) -> list[str]:
    return [model.data(model.index(row, COL_INVOICE)) for row in range(model.rowCount())]


def post(runtime: Runtime, *invoice_numbers: str, **changes: object) -> None:
    for number in invoice_numbers:
        status, answer = post_invoice(runtime.core.base_url, number, **changes)
        assert status in (200, 201), answer


def test_money_is_punctuated_as_text_never_as_a_float():
    assert money_text("1234567.5") == "1,234,567.50"
    assert money_text("0.10") == "0.10"
    assert money_text("99999999999999999.99") == "99,999,999,999,999,999.99"  # beyond a float
    assert money_text("-1000") == "-1,000.00"
    assert money_text(None) == "—"
    assert money_text("n/a") == "n/a"


def test_posted_invoices_appear_newest_first_in_words(qtbot, runtime: Runtime):
    post(runtime, "M-1", "M-2")
    post(runtime, "M-3", date_time="2026-11-22 09:30:00", total_amount="1232.50",
         amount="1062.50", tax_amount="170.00")
    wait_counts(qtbot, runtime, synced=3)
    model = InvoiceModel(runtime)
    model.set_filter()
    qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=10_000)
    assert numbers(model) == ["M-3", "M-2", "M-1"]  # the newest invoice date first, then id
    assert model.columnCount() == len(COLUMNS) == 7
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(7)] == [
        "Invoice no", "POS", "Date and time", "Total", "State", "Attempts", "Last error"]
    first = model.index(0, 0)
    assert model.data(model.index(0, COL_TOTAL)) == "1,232.50"
    assert model.data(model.index(0, COL_STATE)) == "Sent"
    assert model.data(model.index(0, COL_ATTEMPTS)) == "1"
    assert model.data(model.index(0, 2)) == "2026-11-22 09:30:00"
    align = Qt.AlignmentFlag(model.data(model.index(0, COL_TOTAL), Qt.ItemDataRole.TextAlignmentRole))
    assert align & Qt.AlignmentFlag.AlignRight
    assert model.data(model.index(0, COL_STATE), Qt.ItemDataRole.DecorationRole) is not None
    assert model.data(model.index(0, COL_STATE), Qt.ItemDataRole.ForegroundRole) is not None
    assert isinstance(model.data(first, IdRole), int)
    assert model.canFetchMore(QModelIndex()) is False


def test_filter_by_state_and_by_the_start_of_the_number(qtbot, runtime: Runtime):
    post(runtime, "F-10", "F-11", "G-1")
    wait_counts(qtbot, runtime, synced=3)
    sandbox_fault(runtime, reject_next=1)
    post(runtime, "F-12")
    wait_counts(qtbot, runtime, synced=3, rejected=1)
    model = InvoiceModel(runtime)

    def shows(state: str | None, search: str, expected: list[str]) -> None:
        model.set_filter(state, search)
        qtbot.waitUntil(lambda: not model.loading and numbers(model) == expected, timeout=10_000)

    shows(None, "", ["F-12", "G-1", "F-11", "F-10"])
    shows("rejected", "", ["F-12"])
    shows("unconfirmed", "", ["F-12"])
    shows("pending", "", [])
    shows("synced", "F-1", ["F-11", "F-10"])
    shows(None, "  G", ["G-1"])
    shows(None, "Z", [])
    shows(None, "", ["F-12", "G-1", "F-11", "F-10"])
    rejected = model.index(0, COL_ERROR)
    assert model.data(rejected)  # the reason, on one line
    assert model.data(rejected, Qt.ItemDataRole.ToolTipRole)  # … and in full
    assert model.data(model.index(0, COL_STATE)) == "Rejected"


def test_fetch_more_loads_the_next_page(qtbot, runtime: Runtime):
    post(runtime, *(f"P-{n}" for n in range(1, 6)))
    wait_counts(qtbot, runtime, synced=5)
    model = InvoiceModel(runtime, page_size=2)
    model.set_filter()
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=10_000)
    assert numbers(model) == ["P-5", "P-4"]
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: model.rowCount() == 4, timeout=10_000)
    qtbot.waitUntil(lambda: model.canFetchMore(QModelIndex()), timeout=10_000)
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: model.rowCount() == 5, timeout=10_000)
    assert numbers(model) == ["P-5", "P-4", "P-3", "P-2", "P-1"]
    qtbot.waitUntil(lambda: not model.canFetchMore(QModelIndex()), timeout=5_000)


def test_a_new_invoice_appears_by_itself_and_the_selection_stays(qtbot, runtime: Runtime):
    post(runtime, "L-1", "L-2")
    wait_counts(qtbot, runtime, synced=2)
    model = InvoiceModel(runtime)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_live(True)
    model.set_filter()
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=10_000)
    view.selectionModel().setCurrentIndex(
        model.index(1, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
        | QItemSelectionModel.SelectionFlag.Rows)
    selected_id = model.data(model.index(1, 0), IdRole)

    post(runtime, "L-3")  # no user action from here on
    qtbot.waitUntil(lambda: numbers(model) == ["L-3", "L-2", "L-1"], timeout=15_000)
    [still] = view.selectionModel().selectedRows()
    assert model.data(still, IdRole) == selected_id and still.row() == 2
    qtbot.waitUntil(lambda: model.data(model.index(0, COL_STATE)) == "Sent", timeout=15_000)


def test_an_update_inserts_removes_and_changes_rows_in_place(qtbot):
    class Offline:  # only the model's merge is under test: no core
        bridge = Bridge()

    model = InvoiceModel(Offline())  # type: ignore[arg-type]
    rows = [{"id": i, "invoice_no": f"N-{i}", "state": "queued"} for i in (9, 7, 5, 3)]
    model._rows, model._ids = list(rows), {9, 7, 5, 3}
    keep = model.index(2, 0)  # N-5
    persistent = QPersistentModelIndex(keep)
    events: list[str] = []
    model.rowsInserted.connect(lambda _p, a, b: events.append(f"+{a}-{b}"))
    model.rowsRemoved.connect(lambda _p, a, b: events.append(f"-{a}-{b}"))
    model.modelReset.connect(lambda: events.append("reset"))
    new = [{"id": 11, "invoice_no": "N-11", "state": "queued"},
           {"id": 10, "invoice_no": "N-10", "state": "queued"},
           {"id": 9, "invoice_no": "N-9", "state": "synced"},
           {"id": 5, "invoice_no": "N-5", "state": "synced"},
           {"id": 4, "invoice_no": "N-4", "state": "queued"}]
    model._merge(new)
    assert model.rows == new
    assert "reset" not in events
    assert persistent.isValid() and persistent.row() == 3
    assert model.data(model.index(3, COL_STATE)) == "Sent"


def test_kenya_rows_say_what_they_are_and_credit_notes_are_negative():
    from app.gui.invoice_model import COL_INVOICE, COL_TOTAL, InvoiceModel, document_title

    sale = {"kind": "invoice", "invoice_no": "INV-1", "total_amount": "11600.00"}
    credit = {"kind": "credit_note", "kind_name": "Credit note", "invoice_no": "cn:CN-1",
              "number": "CN-1", "total_amount": "-5800.00", "has_money": True}
    item = {"kind": "item", "kind_name": "Item registration", "invoice_no": "item:KE1NTXU0000013",
            "number": "KE1NTXU0000013", "total_amount": "0", "has_money": False}
    assert document_title(sale) == "INV-1"
    assert document_title(credit) == "CN-1 (credit note)"
    assert document_title(item) == "KE1NTXU0000013 (item registration)"
    assert document_title({"invoice_no": "K-7"}) == "K-7"  # a KPRA row
    text = InvoiceModel._text
    assert text(credit, COL_TOTAL) == "-5,800.00"
    assert text(item, COL_TOTAL) == "—"  # no money in an item registration
    assert text(credit, COL_INVOICE) == "CN-1 (credit note)"
    usd = {"kind": "invoice", "invoice_no": "INV-2", "currency": "USD", "has_money": True,
           "amount": "11007.50", "tax_amount": "1942.50", "total_amount": "12950.00"}
    assert text(usd, COL_TOTAL) == "12,950.00 (USD sale)"  # Kenya's totals are in KES
    assert text(sale | {"currency": "KES"}, COL_TOTAL) == "11,600.00"
