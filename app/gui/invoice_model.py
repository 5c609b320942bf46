"""The invoice queue as a Qt table model, fed by the facade (service/facade.py) through
Runtime.call: keyset pages newest first (fetchMore asks for the page after the last row), a
filter by state and invoice number, and live updates (each status snapshot whose counts changed,
or every few seconds while invoices are waiting) that keep the rows a view has selected.

Rows are the dashboard's dicts (server/invoices_api.py shapes); money stays exact decimal text
and is only re-punctuated for display, never turned into a float."""

import re
import time
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from app.gui.runtime import Runtime
from app.service.facade import Page
from app.service.status import Snapshot

Row = dict[str, Any]
Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Invoice no", "POS", "Date and time", "Total", "State", "Attempts", "Last error")
COL_INVOICE, COL_POS, COL_DATE, COL_TOTAL, COL_STATE, COL_ATTEMPTS, COL_ERROR = range(len(COLUMNS))

# The states in a shopkeeper's words (app.domain.states values → what the window says).
STATE_WORDS = {"synced": "Sent", "queued": "Waiting", "sending": "Sending", "held": "Held",
               "rejected": "Rejected"}
STATE_TIPS = {
    "synced": "Recorded by the tax authority. Nothing more to do.",
    "queued": "Waiting to be sent. It goes by itself; nothing to do.",
    "sending": "Being sent to the tax authority right now.",
    "held": "Held: the tax authority did not accept this POS's key. Fix the key in Settings, "
            "then retry.",
    "rejected": "The tax authority refused this invoice. See the reason; after a fix, retry.",
}
STATE_COLOURS = {"synced": "#1e7b34", "queued": "#9a6200", "sending": "#1f5fbf",
                 "held": "#b34700", "rejected": "#c0262d"}

IdRole = Qt.ItemDataRole.UserRole + 1  # the invoice's id (int)
StateRole = Qt.ItemDataRole.UserRole + 2  # its state value ("synced", …)
RowRole = Qt.ItemDataRole.UserRole + 3  # the whole row dict

RELOAD_CAP = 2000  # a live update reloads at most this many rows (more: scroll for them again)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
BUSY_REFRESH_EVERY = 3.0  # seconds between live updates while invoices are waiting


def money_text(text: object) -> str:
    """Exact decimal text for display: '1234.5' → '1,234.50'. Never a float; anything that is
    not plain decimal text is shown as it is."""
    if text is None or text == "":
        return "—"
    raw = str(text).strip()
    if not _DECIMAL.fullmatch(raw):
        return raw
    sign = "-" if raw.startswith("-") else ""
    whole, _, frac = raw.lstrip("+-").partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.ljust(2, "0")
    groups = []
    while len(whole) > 3:
        whole, tail = whole[:-3], whole[-3:]
        groups.insert(0, tail)
    return sign + ",".join([whole, *groups]) + "." + frac


def sold_in(row: Row) -> str | None:
    """A Kenya sale's (or credit note's) own currency when it is not KES (its money columns
    are in KES all the same); None for KES and KPRA rows."""
    currency = row.get("currency")
    return str(currency) if currency and currency != "KES" else None


def is_kenya(row: Row) -> bool:
    """A Kenya row: the dashboard's dicts give a row with a Kenya detail a currency, KPRA rows
    none (server/dashboard_kenya.row_fields)."""
    return row.get("currency") is not None


def _kind_name(row: Row) -> str | None:
    """What a Kenya row that is not a sale is ("Credit note"); None for a sale."""
    kind = str(row.get("kind") or "invoice")
    return None if kind == "invoice" else str(row.get("kind_name") or kind.replace("_", " "))


def _number(row: Row) -> str:
    return str(row.get("number") or row.get("invoice_no", ""))


def document_title(row: Row) -> str:
    """A row's number as the shop knows it; a Kenya row that is not a sale says what it is
    ("CN-1 (credit note)", "KE1NTXU0000013 (item registration)")."""
    name = _kind_name(row)
    return str(row.get("invoice_no", "")) if name is None else f"{_number(row)} ({name.lower()})"


def document_heading(row: Row) -> str:
    """A heading for one row: "Invoice INV-1", "Credit note CN-1", "Item registration …"."""
    name = _kind_name(row)
    return f"Invoice {row.get('invoice_no', '')}" if name is None else \
        f"{name.capitalize()} {_number(row)}"


def state_word(state: object) -> str:
    return STATE_WORDS.get(str(state), str(state).capitalize())


_icons: dict[str, QIcon] = {}


def state_icon(state: str) -> QIcon:
    """A coloured dot for the state (drawn, so no image files; made once per state)."""
    icon = _icons.get(state)
    if icon is None:
        icon = QIcon()
        for size in (12, 16, 24, 32):
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(STATE_COLOURS.get(state, "#777777")))
            margin = size / 6
            painter.drawEllipse(margin, margin, size - 2 * margin, size - 2 * margin)
            painter.end()
            icon.addPixmap(pixmap)
        _icons[state] = icon
    return icon


def one_line(text: object) -> str:
    return " ".join(str(text or "").split())


def guarded(owner: QObject, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, but a no-op once ``owner`` (a Qt object) is deleted: an answer from the core may
    arrive after its window was closed."""
    def call(*args: Any) -> Any:
        if shiboken6.isValid(owner):
            return fn(*args)
        return None
    return call


class InvoiceModel(QAbstractTableModel):
    """Rows of the queue, newest first, as the facade pages them."""

    loaded = Signal(bool)  # rows changed; True: a fresh list (new filter), False: an update
    failed = Signal(str)  # a page could not be loaded: why
    aboutToUpdate = Signal()  # a live update is about to insert/remove/change rows
    updated = Signal()  # … and is done

    def __init__(self, runtime: Runtime, page_size: int = 200, parent: QObject | None = None):
        super().__init__(parent)
        self.runtime = runtime
        self.page_size = max(1, page_size)
        self.state: str | None = None  # a state or a group ("pending", "unconfirmed")
        self.search = ""
        self._rows: list[Row] = []
        self._ids: set[int] = set()
        self._next: object | None = None  # the facade's Cursor of the next page
        self._generation = 0  # bumped by every new filter: answers for an old one are dropped
        self._version = 0  # bumped by every change of the rows: stale fetchMore answers dropped
        self._busy = False  # a request is on its way
        self._again = False  # a live update was asked for while busy
        self._live = False
        self._counts_key: object = None
        self.last_refresh: float | None = None  # time.time() of the last successful load
        self.last_error: str | None = None
        self.loading = False  # True until the first page of the current filter arrives
        runtime.bridge.snapshot.connect(self._on_snapshot)

    # ------------------------------------------------------------ Qt model API

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return self._alignment(section)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        state = str(row.get("state"))
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self._alignment(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_ERROR and row.get("last_error"):
                return str(row["last_error"])
            if column == COL_STATE:
                return STATE_TIPS.get(state)
            if column == COL_TOTAL:
                tip = (f"Amount {money_text(row.get('amount'))} + tax "
                       f"{money_text(row.get('tax_amount'))}")
                currency = sold_in(row)
                return f"{tip}, in KES (sold in {currency})" if currency else tip
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == COL_STATE:
            return state_icon(state)
        if role == Qt.ItemDataRole.ForegroundRole and (
                column == COL_STATE or (column == COL_ERROR and state in ("rejected", "held"))):
            return QBrush(QColor(STATE_COLOURS.get(state, "#000000")))
        if role == IdRole:
            return row.get("id")
        if role == StateRole:
            return state
        if role == RowRole:
            return row
        return None

    @staticmethod
    def _text(row: Row, column: int) -> str:
        if column == COL_INVOICE:
            return document_title(row)
        if column == COL_POS:
            return str(row.get("pos_id", ""))
        if column == COL_DATE:
            return str(row.get("date_time") or "")
        if column == COL_TOTAL:
            if not row.get("has_money", True):
                return "—"
            currency = sold_in(row)  # Kenya's totals are in KES, whatever the sale's currency
            total = money_text(row.get("total_amount"))
            return f"{total} ({currency} sale)" if currency else total
        if column == COL_STATE:
            return state_word(row.get("state"))
        if column == COL_ATTEMPTS:
            return f"{int(row.get('attempts') or 0):,}"
        if column == COL_ERROR:
            return one_line(row.get("last_error"))
        return ""

    @staticmethod
    def _alignment(column: int) -> int:
        if column in (COL_TOTAL, COL_ATTEMPTS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._next is not None and not self._busy

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        self._busy = True
        generation, version, after = self._generation, self._version, self._next
        state, search, limit = self.state, self.search, self.page_size
        self.runtime.call(
            lambda facade: facade.invoices(state=state, search=search, limit=limit, after=after),
            guarded(self, lambda page: self._more_arrived(generation, version, page)),
            guarded(self, lambda why: self._failed(generation, why)))

    # ------------------------------------------------------------------ public

    @property
    def rows(self) -> list[Row]:
        return list(self._rows)

    def row(self, index: int) -> Row | None:
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def row_of(self, invoice_id: object) -> int:
        """The row number of an invoice id, -1 when it is not in the list."""
        if invoice_id not in self._ids:
            return -1
        for number, row in enumerate(self._rows):
            if row.get("id") == invoice_id:
                return number
        return -1

    @property
    def has_more(self) -> bool:
        return self._next is not None

    def set_filter(self, state: str | None = None, search: str = "") -> None:
        """Show only ``state`` (a state or group; None: all) and invoice numbers starting with
        ``search``: the list starts again from its first page."""
        self.state = state or None
        self.search = search.strip()
        self.reload()

    def reload(self) -> None:
        """Load the first page again from scratch (a new filter)."""
        self._generation += 1
        self._busy = True
        self._again = False
        self.loading = True
        generation = self._generation
        state, search, limit = self.state, self.search, self.page_size
        self.runtime.call(
            lambda facade: facade.invoices(state=state, search=search, limit=limit),
            guarded(self, lambda page: self._first_arrived(generation, page)),
            guarded(self, lambda why: self._failed(generation, why)))

    def refresh(self) -> None:
        """A live update: load again as many rows as are shown (at least a page) and change
        only the rows that changed, so a view keeps its selection and scroll position."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        generation = self._generation
        limit = min(max(self.page_size, len(self._rows)), RELOAD_CAP)
        state, search = self.state, self.search
        self.runtime.call(
            lambda facade: facade.invoices(state=state, search=search, limit=limit),
            guarded(self, lambda page: self._update_arrived(generation, page)),
            guarded(self, lambda why: self._failed(generation, why)))

    def set_live(self, live: bool) -> None:
        """Follow the status snapshots (while a window shows this model) or not."""
        self._live = live
        if live and not self.loading and self._stale():
            self.refresh()

    # ---------------------------------------------------------------- answers

    def _first_arrived(self, generation: int, page: Page) -> None:
        if generation != self._generation:
            return
        self.beginResetModel()
        self._rows = list(page.rows)
        self._ids = {row.get("id") for row in self._rows}
        self._next = page.next
        self._version += 1
        self.endResetModel()
        self._done()
        self.loaded.emit(True)

    def _more_arrived(self, generation: int, version: int, page: Page) -> None:
        if generation != self._generation or version != self._version:
            self._busy = False
            self._after_busy()
            return
        new = [row for row in page.rows if row.get("id") not in self._ids]
        if new:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(new) - 1)
            self._rows.extend(new)
            self._ids.update(row.get("id") for row in new)
            self.endInsertRows()
        self._next = page.next
        self._version += 1
        self._done()
        self.loaded.emit(False)

    def _update_arrived(self, generation: int, page: Page) -> None:
        if generation != self._generation:
            return
        self.aboutToUpdate.emit()
        try:
            self._merge(list(page.rows))
        finally:
            self._next = page.next
            self._version += 1
            self.updated.emit()
        self._done()
        self.loaded.emit(False)

    def _merge(self, new_rows: list[Row]) -> None:
        """Turn the rows into ``new_rows`` by removing, inserting and changing rows (not a
        reset): the order of the list (invoice date, id) never changes for a given invoice, so
        the rows kept are in the same order in both lists."""
        new_ids = [row.get("id") for row in new_rows]
        keep = set(new_ids)
        # 1. remove the rows that are gone (bottom up, in contiguous runs)
        end = len(self._rows) - 1
        while end >= 0:
            if self._rows[end].get("id") in keep:
                end -= 1
                continue
            start = end
            while start > 0 and self._rows[start - 1].get("id") not in keep:
                start -= 1
            self.beginRemoveRows(QModelIndex(), start, end)
            del self._rows[start:end + 1]
            self.endRemoveRows()
            end = start - 1
        kept = [row.get("id") for row in self._rows]
        if kept != [i for i in new_ids if i in set(kept)]:  # (cannot happen) the order moved
            self.beginResetModel()
            self._rows = new_rows
            self._ids = set(new_ids)
            self.endResetModel()
            return
        # 2. insert the new rows in place, 3. take the new data of the rows kept
        first_changed = last_changed = -1
        at = 0
        while at < len(new_rows):
            if at < len(self._rows) and self._rows[at].get("id") == new_ids[at]:
                if self._rows[at] != new_rows[at]:
                    self._rows[at] = new_rows[at]
                    first_changed = at if first_changed < 0 else first_changed
                    last_changed = at
                at += 1
                continue
            stop = at
            next_kept = self._rows[at].get("id") if at < len(self._rows) else None
            while stop < len(new_rows) and new_ids[stop] != next_kept:
                stop += 1
            self.beginInsertRows(QModelIndex(), at, stop - 1)
            self._rows[at:at] = new_rows[at:stop]
            self.endInsertRows()
            at = stop
        self._ids = set(new_ids)
        if first_changed >= 0:
            self.dataChanged.emit(self.index(first_changed, 0),
                                  self.index(last_changed, len(COLUMNS) - 1))

    def _failed(self, generation: int, why: BaseException) -> None:
        if generation == self._generation:
            self.loading = False
            self.last_error = str(why) or type(why).__name__
            self.failed.emit(f"The list could not be loaded: {self.last_error}")
        self._busy = False
        self._after_busy()

    def _done(self) -> None:
        self.loading = False
        self.last_refresh = time.time()
        self.last_error = None
        self._busy = False
        self._after_busy()

    def _after_busy(self) -> None:
        if self._again and not self._busy:
            self._again = False
            self.refresh()

    # -------------------------------------------------------------- live feed

    def _stale(self) -> bool:
        return self.last_refresh is None or time.time() - self.last_refresh >= BUSY_REFRESH_EVERY

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        key = (tuple(sorted(snapshot.counts.items())), snapshot.last_synced_at)
        changed = key != self._counts_key
        self._counts_key = key
        if not self._live or self.loading:
            return
        busy = bool(snapshot.pending or snapshot.counts.get("sending"))
        if changed or (busy and self._stale()):
            self.refresh()
