"""The invoice queue window: every invoice the till handed over, newest first, filtered by state
or found by number, with one invoice's whole story beside it (its fields, warnings and every
sending attempt), Retry for one invoice or for every failed one, and its receipt QR code.

It asks the core only through Runtime.call (service/facade.py) and follows it through the
Bridge's status snapshots (gui/invoice_model.py keeps the list current)."""

import datetime as dt
from collections.abc import Callable
from html import escape
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QFont, QGuiApplication, QHideEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.banner import NOTICE, PROBLEM, banner_style
from app.gui.invoice_model import (
    COL_ATTEMPTS,
    COL_DATE,
    COL_INVOICE,
    COL_POS,
    COL_STATE,
    COL_TOTAL,
    STATE_COLOURS,
    InvoiceModel,
    document_heading,
    guarded,
    is_kenya,
    money_text,
    state_word,
)
from app.gui.runtime import Runtime
from app.service.status import Snapshot, invoices, retried_text

TITLE = "Invoice queue — RIMS Utility"

# (what the filter says, the facade's state or group, a tooltip)
FILTERS: tuple[tuple[str, str | None, str], ...] = (
    ("All invoices", None, "Every invoice, newest first"),
    ("Waiting to be sent", "pending", "Waiting, being sent, or held"),
    ("Not confirmed by KPRA", "unconfirmed", "Everything the tax authority has not recorded yet"),
    ("Sent", "synced", "Recorded by the tax authority"),
    ("Rejected", "rejected", "Refused by the tax authority: a person must look at them"),
    ("Held", "held", "Kept back because the POS key was not accepted"),
)

# What one sending attempt ended in (the forwarder's outcome kinds), in words.
OUTCOME_WORDS = {
    "accepted": "Recorded by KPRA", "already_recorded": "KPRA already had it",
    "rejected": "Refused by KPRA", "auth_failed": "Key not accepted",
    "retry_later": "Will try again", "ambiguous": "Answer lost; checking again",
    "interrupted": "Interrupted", "retry_requested": "Retry asked for",
}

SEARCH_DELAY_MS = 300

# What an empty filtered list says.
EMPTY_FILTER = {
    "pending": "Nothing is waiting to be sent.",
    "unconfirmed": "The tax authority has recorded every invoice.",
    "synced": "No invoice has been recorded by the tax authority yet.",
    "rejected": "No invoice was rejected.",
    "held": "Nothing is held.",
}

# The explanation under an invoice's title, by state.
_EXPLAIN_STYLE = {
    "synced": ("#eaf6ec", "#1e5e2c", "#2e8b46"),
    "queued": ("#fff6e0", "#5c4000", "#d49b1a"),
    "sending": ("#eaf1fb", "#0b3b66", "#1f6fb2"),
    "held": ("#fdeee6", "#6b2a00", "#c85a14"),
    "rejected": ("#fdecea", "#7a1212", "#b3261e"),
}


def explain(d: dict[str, Any]) -> str:
    state = d.get("state")
    if state == "synced":
        return ("Recorded by the tax authority" +
                (f" with transaction id {d['transaction_id']}" if d.get("transaction_id") else "") +
                (f" on {d['synced_at']}" if d.get("synced_at") else "") + ". Nothing more to do.")
    if state == "queued":
        if d.get("attempts"):
            when = f" (next try at {d['next_attempt_at']})" if d.get("next_attempt_at") else ""
            return f"Waiting to be sent again{when}. It goes by itself; nothing to do."
        return "Waiting to be sent. It goes by itself within seconds; nothing to do."
    if state == "sending":
        return "Being sent to the tax authority right now."
    if state == "rejected":
        return ("The tax authority refused this invoice (the reason is under “Last error”). "
                "Check it with your POS supplier or KPRA; when it is fixed, press Retry.")
    if state == "held":
        return (f"Held: the tax authority did not accept the key of POS {d.get('pos_id')}. "
                "Fix the key in Settings, then press Retry.")
    return ""


def duration_text(ms: object) -> str:
    if ms is None:
        return "—"
    ms = int(ms)  # type: ignore[call-overload]
    return f"{ms:,} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _time_of_day(timestamp: float | None) -> str:
    return "—" if timestamp is None else dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def _ask(parent: QWidget, title: str, text: str, yes: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    go = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is go


class _Value(QLabel):
    """A field's value: selectable text, named for screen readers by its label."""

    def __init__(self, name: str, wrap: bool = False) -> None:
        super().__init__("—")
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAccessibleName(name)
        self.setWordWrap(wrap)
        if wrap:
            self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)


class _Attempts(QTableWidget):
    """The attempts table asks for its minimum height only (two rows): it takes the room that
    is left, so the pane scrolls only when its fields do not fit."""

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.minimumHeight())


class DetailPane(QWidget):
    """One invoice: title, what its state means, its fields, warnings and attempts."""

    FIELDS = (  # (key, label); three pairs a line
        ("invoice_no", "Invoice no"), ("date_time", "Date and time"), ("pos_id", "POS ID"),
        ("amount", "Amount"), ("tax_amount", "Tax"), ("total_amount", "Total"),
        ("tax_rate", "Tax rate"), ("payment", "Payment"), ("ntn", "NTN"),
        ("state", "State"), ("attempts", "Attempts"), ("transaction_id", "Transaction id"),
        ("received_at", "Received at"), ("synced_at", "Sent at"),
        ("last_status", "Last HTTP status"),
        ("next_attempt_at", "Next try at"),
    )
    PER_LINE = 3

    def __init__(self, signer: str = "KPRA") -> None:
        super().__init__()
        self.signer = signer  # who records invoices: KPRA, or KRA eTIMS in Kenya
        self.title = QLabel("")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.title.setFont(big)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton("&Retry sending")
        self.qr_button = QPushButton("Show &QR code")
        self.qr_button.setToolTip("The receipt's QR code, to check, save or print (Enter)")
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.retry_button)
        head.addWidget(self.qr_button)

        self.explain = QLabel("")
        self.explain.setWordWrap(True)
        self.explain.setObjectName("explain")
        self.explain.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result = QLabel("")  # what the last Retry did
        self.result.setWordWrap(True)
        self.result.setObjectName("result")
        self.result.setStyleSheet("#result { color: #0b3b66; font-weight: 600; }")
        self.result.hide()

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(5)
        self.values: dict[str, QLabel] = {}
        self.names: dict[str, QLabel] = {}
        for number, (key, text) in enumerate(self.FIELDS):
            row, column = divmod(number, self.PER_LINE)
            name = QLabel(text + ":")
            name.setObjectName("fieldname")
            value = _Value(text)
            name.setBuddy(value)
            grid.addWidget(name, row, column * 2, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, column * 2 + 1, Qt.AlignmentFlag.AlignTop)
            self.values[key], self.names[key] = value, name
        rows = -(-len(self.FIELDS) // self.PER_LINE)
        span = self.PER_LINE * 2 - 1
        self.error_name = QLabel("Last error:")
        self.error_name.setObjectName("fieldname")
        self.error_value = _Value("Last error", wrap=True)
        self.error_value.setStyleSheet("color: #9b1c1c;")
        self.error_name.setBuddy(self.error_value)
        grid.addWidget(self.error_name, rows, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.error_value, rows, 1, 1, span)
        self.ambiguous = QLabel("The last answer was lost on the way back; the utility checks "
                                "with the authority so the invoice is never recorded twice.")
        self.ambiguous.setWordWrap(True)
        grid.addWidget(self.ambiguous, rows + 1, 0, 1, span + 1)
        for column in range(self.PER_LINE):
            grid.setColumnStretch(column * 2 + 1, 1)
            if column:
                grid.setColumnMinimumWidth(column * 2, 110)
        self.setStyleSheet("#fieldname { color: palette(placeholder-text); }")
        for key in ("total_amount",):
            bold = QFont(self.font())
            bold.setBold(True)
            self.values[key].setFont(bold)

        self.warnings = QLabel("")
        self.warnings.setWordWrap(True)
        self.warnings.setObjectName("warnings")
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.warnings.setStyleSheet(
            "#warnings { background: #fff6e0; color: #5c4000; border-left: 4px solid #d49b1a; "
            "padding: 6px 8px; }")
        self.warnings.hide()

        self.attempts_label = QLabel("Sending &attempts")
        self.attempts_label.setFont(QFont(self.font().family(), -1, QFont.Weight.DemiBold))
        self.attempts = _Attempts(0, 5)
        self.attempts.setHorizontalHeaderLabels(["When", "HTTP", "Result", "Message", "Took"])
        self.attempts.verticalHeader().hide()
        self.attempts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.attempts.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.attempts.setWordWrap(True)
        self.attempts.setTabKeyNavigation(False)
        self.attempts.setAccessibleName("Sending attempts")
        header = self.attempts.horizontalHeader()
        metrics = self.fontMetrics()
        for column, samples in ((0, ("2026-11-21 10:00:00",)), (1, ("HTTP",)),
                                (2, ("Answer lost; checking", "Recorded by KRA eTIMS")),
                                (4, ("1,234 ms",))):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, max(map(metrics.horizontalAdvance, samples)) + 14)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.attempts_label.setBuddy(self.attempts)
        self.no_attempts = QLabel("Not sent yet.")
        self.no_attempts.setStyleSheet("color: palette(placeholder-text);")

        self.attempts.setMinimumHeight(self.attempts.horizontalHeader().sizeHint().height()
                                       + 2 * (metrics.height() + 8))
        body = QVBoxLayout()
        body.setSpacing(6)
        body.addLayout(grid)
        body.addWidget(self.warnings)
        body.addSpacing(4)
        body.addWidget(self.attempts_label)
        body.addWidget(self.no_attempts)
        body.addWidget(self.attempts, 1)

        self.page = QWidget()
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.explain)
        layout.addWidget(self.result)
        layout.addLayout(body, 1)

        self.empty = QLabel("Choose an invoice in the list to see its details.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: palette(placeholder-text);")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)
        outer.addWidget(self.stack)
        self.shown: dict[str, Any] | None = None

    def clear(self, text: str = "Choose an invoice in the list to see its details.") -> None:
        self.shown = None
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)

    def show_invoice(self, d: dict[str, Any], full: bool) -> None:
        """``d``: a list row (``full`` False: no attempts or warnings yet) or the detail."""
        if d == self.shown:
            return
        same_invoice = self.shown is not None and self.shown.get("id") == d.get("id")
        if not same_invoice:
            self.result.hide()
        self.shown = d
        self.stack.setCurrentWidget(self.page)
        state = str(d.get("state"))
        self.title.setText(document_heading(d))
        kenya = is_kenya(d)
        self.explain.setText(explain(d).replace("KPRA", self.signer))
        self.names["ntn"].setText("KRA PIN:" if kenya else "NTN:")
        back, fore, edge = _EXPLAIN_STYLE.get(state, ("#f2f2f2", "#222", "#999"))
        self.explain.setStyleSheet(f"#explain {{ background: {back}; color: {fore}; "
                                   f"border-left: 4px solid {edge}; padding: 6px 8px; }}")
        self.retry_button.setText({"held": "&Retry (release this POS)",
                                   "queued": "&Send now"}.get(state, "&Retry sending"))
        rate = d.get("tax_rate")
        status = d.get("last_status")
        texts = {
            "invoice_no": str(d.get("number") or d.get("invoice_no", "")),
            "date_time": str(d.get("date_time") or "—"),
            "pos_id": str(d.get("pos_id", "")),
            "ntn": str(d.get("ntn") or "—"),
            "payment": str(d.get("payment_mode_name") or d.get("payment_mode") or "—"),
            "tax_rate": "—" if rate in (None, "") else f"{rate} %",
            "amount": money_text(d.get("amount")),
            "tax_amount": money_text(d.get("tax_amount")),
            "total_amount": money_text(d.get("total_amount")),
            "state": state_word(state),
            "transaction_id": str(d.get("transaction_id") or "None yet"),
            "attempts": f"{int(d.get('attempts') or 0):,}",
            "received_at": str(d.get("received_at") or "—"),
            "synced_at": str(d.get("synced_at") or "Not yet"),
            "last_status": "—" if status is None else str(status),
            "next_attempt_at": str(d.get("next_attempt_at") or "—"),
        }
        for key, text in texts.items():
            self.values[key].setText(text)
        waiting = bool(d.get("next_attempt_at"))  # only a queued invoice has a next try
        self.names["next_attempt_at"].setVisible(waiting)
        self.values["next_attempt_at"].setVisible(waiting)
        self.values["state"].setStyleSheet(
            f"color: {STATE_COLOURS.get(state, '#000')}; font-weight: bold;")
        error = str(d.get("last_error") or "")
        self.error_name.setVisible(bool(error))
        self.error_value.setVisible(bool(error))
        self.error_value.setText(error)
        self.ambiguous.setVisible(bool(d.get("ambiguous")))

        warnings = d.get("warnings") or []
        if warnings:
            items = "".join(f"<li>{_html(_warning_text(w))}</li>" for w in warnings)
            self.warnings.setText(f"<b>Warnings</b><ul style='margin:0; -qt-list-indent:1'>"
                                  f"{items}</ul>")
        self.warnings.setVisible(bool(warnings))

        attempts = d.get("attempts_list") if full else None
        if attempts is None:
            return
        self.attempts.setRowCount(len(attempts))
        for row, a in enumerate(attempts):
            http = a.get("http_status")
            outcome = str(a.get("outcome") or "")
            cells = [str(a.get("at") or ""), "—" if http is None else str(http),
                     OUTCOME_WORDS.get(outcome, outcome.replace("_", " ").capitalize())
                     .replace("KPRA", self.signer),
                     str(a.get("message") or ""), duration_text(a.get("duration_ms"))]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if column == 3 else "")
                if column in (1, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                self.attempts.setItem(row, column, item)
        self.attempts.resizeRowsToContents()
        self.attempts.setVisible(bool(attempts))
        self.no_attempts.setVisible(not attempts)

    def say(self, text: str) -> None:
        self.result.setText(text)
        self.result.setVisible(bool(text))


def _warning_text(warning: object) -> str:
    """A warning's message, named by its field unless the message names it already."""
    if not isinstance(warning, dict):
        return str(warning)
    message, field = str(warning.get("message") or ""), str(warning.get("field") or "")
    return message if not field or field in message else f"{field}: {message}"


def _html(text: object) -> str:
    return escape(str(text))


class QueueWindow(QMainWindow):
    """The queue. ``confirm(title, text, yes_button) -> bool`` asks before Retry all failed
    (replaceable, e.g. by a test)."""

    def __init__(self, runtime: Runtime, page_size: int = 200, parent: QWidget | None = None):
        super().__init__(parent)
        self.runtime = runtime
        self.setWindowTitle(TITLE)
        self.confirm: Callable[[str, str, str], bool] = \
            lambda title, text, yes: _ask(self, title, text, yes)
        self.model = InvoiceModel(runtime, page_size, self)
        self.detail: dict[str, Any] | None = None  # the full detail of the invoice shown
        self.detail_id: int | None = None  # the invoice shown (its detail may be on its way)
        self.snapshot: Snapshot | None = runtime.last_snapshot
        self._detail_asked = 0  # answers for an older request are dropped
        self._syncing = False  # the model is updating: selection changes are not the user's
        self._retrying = False  # a Retry is on its way
        self._problem = False  # the notice shows a problem (hidden by the next good load)
        self._sized = False  # the splitter was given its first sizes
        self.previews: list[QWidget] = []  # the QR previews open
        self.context_menu: QMenu | None = None  # the last one shown

        # -- filter bar
        self.filter = QComboBox()
        kenya = runtime.facade.settings().kenya
        signer = "KRA eTIMS" if kenya else "KPRA"
        for text, state, tip in FILTERS:
            self.filter.addItem(text.replace("KPRA", signer), state)
            self.filter.setItemData(self.filter.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.filter.setAccessibleName("Show")
        filter_label = QLabel("&Show:")
        filter_label.setBuddy(self.filter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Type the start of a number")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Find invoice number")
        self.search.setMinimumWidth(self.fontMetrics().horizontalAdvance("n" * 34))
        search_label = QLabel("&Find invoice no:")
        search_label.setBuddy(self.search)
        self.retry_all_button = QPushButton("Retry all f&ailed…")
        self.retry_all_button.setToolTip("Send every rejected invoice again and release every "
                                         "held POS (after fixing what was wrong)")
        self.retry_all_button.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(filter_label)
        bar.addWidget(self.filter)
        bar.addSpacing(16)
        bar.addWidget(search_label)
        bar.addWidget(self.search)
        bar.addStretch(1)
        bar.addWidget(self.retry_all_button)

        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setObjectName("notice")
        self.notice.hide()

        # -- the list
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setTabKeyNavigation(False)
        self.table.setShowGrid(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.setAccessibleName("Invoices")
        self.table.verticalHeader().hide()
        rows = self.table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        metrics = self.fontMetrics()
        invoice_sample = "KE1NTXU0000013 (item registration)" if kenya else "INV-2026-000123"
        for column, sample in ((COL_INVOICE, invoice_sample), (COL_POS, "K1234567__"),
                               (COL_DATE, "2026-11-21 10:00:00"), (COL_TOTAL, "1,234,567.00"),
                               (COL_STATE, "___Rejected__"), (COL_ATTEMPTS, "Attempts")):
            header.resizeSection(column, metrics.horizontalAdvance(sample) + 24)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(40)
        self.empty = QLabel("")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(placeholder-text); font-size: 11pt;")
        self.list_stack = QStackedWidget()
        self.list_stack.addWidget(self.table)
        self.list_stack.addWidget(self.empty)

        # -- the invoice
        self.pane = DetailPane("KRA eTIMS" if kenya else "KPRA")
        scroll = QScrollArea()
        scroll.setWidget(self.pane)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.list_stack)
        self.splitter.addWidget(scroll)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 10, 12, 4)
        layout.addLayout(bar)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(body)
        self.counts_label = QLabel("")
        self.counts_label.setAccessibleName("Queue status")
        self.counts_label.setContentsMargins(8, 0, 0, 0)
        self.statusBar().addWidget(self.counts_label, 1)
        self.refreshed_label = QLabel("")
        self.refreshed_label.setContentsMargins(0, 0, 8, 0)
        self.statusBar().addPermanentWidget(self.refreshed_label)

        # -- actions (menu, keyboard, buttons)
        self.retry_action = QAction("&Retry sending this invoice", self)
        self.retry_action.setShortcut(QKeySequence("Ctrl+R"))
        self.retry_action.setEnabled(False)
        self.retry_action.triggered.connect(self.retry_selected)
        self.qr_action = QAction("Show &QR code", self)
        self.qr_action.setEnabled(False)
        self.qr_action.triggered.connect(self.show_qr)
        self.copy_action = QAction("&Copy invoice number", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_invoice_no)
        self.table.addAction(self.copy_action)
        find = QAction("Find", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: (self.search.setFocus(), self.search.selectAll()))
        refresh = QAction("Refresh", self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.model.refresh)
        clear = QAction("Clear search", self.search)
        clear.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        clear.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        clear.triggered.connect(self.search.clear)
        self.search.addAction(clear)
        for action in (self.retry_action, self.qr_action, find, refresh):
            self.addAction(action)
        self.pane.retry_button.clicked.connect(self.retry_selected)
        self.pane.qr_button.clicked.connect(self.show_qr)
        self.pane.retry_button.setToolTip("Send this invoice again (Ctrl+R)")
        self.retry_all_button.clicked.connect(self.retry_all_failed)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_filter)
        self.filter.currentIndexChanged.connect(lambda _: self._apply_filter())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.activated.connect(lambda _: self.show_qr())
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.model.loaded.connect(self._loaded)
        self.model.failed.connect(self._say_problem)
        self.model.aboutToUpdate.connect(lambda: setattr(self, "_syncing", True))
        self.model.updated.connect(self._model_updated)
        runtime.bridge.snapshot.connect(self._on_snapshot)  # (disconnected when deleted)

        self.setTabOrder(self.filter, self.search)
        self.setTabOrder(self.search, self.retry_all_button)
        self.setTabOrder(self.retry_all_button, self.table)
        self.setTabOrder(self.table, self.pane.retry_button)
        self.setTabOrder(self.pane.retry_button, self.pane.qr_button)
        self.setTabOrder(self.pane.qr_button, self.pane.attempts)
        self.resize(1100, 680)
        self.table.setFocus()
        if self.snapshot is not None:
            self._on_snapshot(self.snapshot)
        self._show_counts()
        self.model.set_filter(None, "")

    # ----------------------------------------------------------------- list

    def set_filter(self, state: str | None, search: str = "") -> None:
        """Show ``state`` (a FILTERS state or group) and numbers starting with ``search``."""
        for number in range(self.filter.count()):
            if self.filter.itemData(number) == state:
                self.filter.blockSignals(True)
                self.filter.setCurrentIndex(number)
                self.filter.blockSignals(False)
        self.search.blockSignals(True)
        self.search.setText(search)
        self.search.blockSignals(False)
        self._apply_filter()

    def _apply_filter(self) -> None:
        self._search_timer.stop()
        self.model.set_filter(self.filter.currentData(), self.search.text())

    def _loaded(self, fresh: bool) -> None:
        if fresh:
            row = self.model.row_of(self.detail_id)
            if row < 0 and self.model.rowCount():
                row = 0
            if row >= 0:
                self._select_row(row)
            else:  # nothing listed: no invoice shown either
                self.detail_id, self.detail = None, None
                self.pane.clear("")
                self._update_actions()
            if row <= 0:
                self.table.scrollToTop()
        self._show_empty()
        self._show_counts()
        if not fresh and self.detail_id is not None:
            self._load_detail(self.detail_id)
        self._clear_problem()

    def _model_updated(self) -> None:
        """After a live update: keep the invoice shown selected, if it is still listed."""
        row = self.model.row_of(self.detail_id)
        if row >= 0:
            self._select_row(row)
        else:
            self.table.selectionModel().clearSelection()
        self._syncing = False

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        selection = self.table.selectionModel()
        if selection.currentIndex().row() == row and selection.isRowSelected(row, QModelIndex()):
            return
        selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                  | QItemSelectionModel.SelectionFlag.Rows)

    def _show_empty(self) -> None:
        if self.model.rowCount():
            self.list_stack.setCurrentWidget(self.table)
            return
        search = self.model.search
        if search:
            text = (f"No invoice number starts with “{search}”" +
                    ("" if self.model.state is None else f" among “{self.filter.currentText()}”")
                    + ".\nCheck the number, or clear the search.")
        elif self.model.state is not None:
            text = EMPTY_FILTER.get(self.model.state, "No invoices here.")
        else:
            text = ("No invoices yet.\nThey appear here as soon as the till sends one.")
        self.empty.setText(text)
        self.list_stack.setCurrentWidget(self.empty)

    def _selection_changed(self) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return  # keep showing the last invoice
        row = self.model.row(rows[0].row())
        if row is None:
            return
        invoice_id = row.get("id")
        if invoice_id == self.detail_id:
            return
        self.detail_id = invoice_id  # type: ignore[assignment]
        self.detail = None
        self.pane.show_invoice(row, full=False)
        self._update_actions()
        self._load_detail(invoice_id)  # type: ignore[arg-type]

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self._select_row(index.row())
        menu = QMenu(self)
        menu.addAction(self.retry_action)
        menu.addAction(self.qr_action)
        menu.addSeparator()
        menu.addAction(self.copy_action)
        menu.popup(self.table.viewport().mapToGlobal(position))
        self.context_menu = menu

    # --------------------------------------------------------------- detail

    def _load_detail(self, invoice_id: int) -> None:
        self._detail_asked += 1
        asked = self._detail_asked
        self.runtime.call(lambda facade: facade.invoice(invoice_id),
                          guarded(self, lambda d: self._detail_arrived(asked, invoice_id, d)),
                          guarded(self, lambda why: self._say_problem(
                              f"The invoice could not be loaded: {why}")))

    def _detail_arrived(self, asked: int, invoice_id: int, d: dict[str, Any] | None) -> None:
        if asked != self._detail_asked or invoice_id != self.detail_id:
            return
        if d is None:
            self.detail = None
            self.pane.say("This invoice is no longer here.")
        else:
            self.detail = d
            self.pane.show_invoice(d, full=True)
        self._update_actions()

    def _update_actions(self) -> None:
        d = self.detail
        can_retry = bool(d and d.get("can_retry") and not self._retrying)
        self.retry_action.setEnabled(can_retry)
        self.pane.retry_button.setEnabled(can_retry)
        self.pane.retry_button.setVisible(bool(d and d.get("can_retry")))
        has_qr = bool(d and d.get("qr_url"))
        self.qr_action.setEnabled(has_qr)
        self.pane.qr_button.setEnabled(has_qr)

    # -------------------------------------------------------------- actions

    def retry_selected(self) -> None:
        """Send the invoice shown again (Retry button, context menu, Ctrl+R)."""
        d = self.detail
        if not d or not d.get("can_retry"):
            return
        invoice_id, number, pos_id = d["id"], d.get("invoice_no"), d.get("pos_id")
        self._retrying = True
        self._update_actions()

        def done(was: str) -> None:
            self._retrying = False
            if was == "held":
                text = (f"POS {pos_id} may send again: its held invoices go out now. If its key "
                        "is still wrong they will be held again.")
            elif was in ("rejected", "queued"):
                text = f"Invoice {number} will be sent again now."
            elif was == "synced":
                text = "This invoice is already recorded by the tax authority; nothing to retry."
            elif was == "sending":
                text = "This invoice is being sent right now; wait for the answer."
            else:
                text = "This invoice is no longer here."
            self.pane.say(text)
            self._after_change(invoice_id)

        def failed(why: BaseException) -> None:
            self._retrying = False
            self._update_actions()
            self._say_problem(f"Could not retry invoice {number}: {why}")

        self.runtime.call(lambda facade: facade.retry(invoice_id), guarded(self, done),
                          guarded(self, failed))

    def retry_all_failed(self) -> None:
        s = self.snapshot
        rejected = s.rejected if s else 0
        held_invoices = s.counts.get("held", 0) if s else 0
        held_pos = [pos for pos, _ in s.held] if s else []
        what = []
        if rejected:
            what.append(f"• {invoices(rejected)} rejected by the tax authority go back in the "
                        "queue and are sent again now.")
        if held_pos or held_invoices:
            whose = f" of POS {', '.join(held_pos)}" if held_pos else ""
            what.append(f"• The held invoices{whose} ({held_invoices:,}) are released and sent "
                        "again now.")
        if not what:
            what.append("• Nothing is rejected or held right now.")
        text = ("Send every failed invoice again?\n\n" + "\n".join(what) + "\n\n"
                "Do this after fixing what was wrong (the invoice in the till, or the POS key in "
                "Settings). If nothing was fixed, they will be refused again.")
        if not self.confirm("Retry all failed invoices?", text, "Retry all"):
            return
        self.retry_all_button.setEnabled(False)

        def done(result: tuple[int, list[str]]) -> None:
            text = retried_text(*result)
            self._say_notice(text)
            self._after_change(self.detail_id)

        def failed(why: BaseException) -> None:
            self._say_problem(f"Could not retry the failed invoices: {why}")
            self._show_counts()

        self.runtime.call(lambda facade: facade.retry_failed(), guarded(self, done),
                          guarded(self, failed))

    def _after_change(self, invoice_id: int | None) -> None:
        self.model.refresh()
        self.runtime.refresh()
        if invoice_id is not None and invoice_id == self.detail_id:
            self._load_detail(invoice_id)
        self._update_actions()

    def show_qr(self) -> None:
        """The receipt QR code of the invoice shown (double-click, Enter, Show QR code)."""
        d = self.detail
        if d is None:
            if self.detail_id is not None:  # its detail is on its way: open when it comes
                wanted = self.detail_id
                self.runtime.call(lambda facade: facade.invoice(wanted),
                                  guarded(self, lambda found: found and self._open_qr(found)))
            return
        self._open_qr(d)

    def _open_qr(self, d: dict[str, Any]) -> None:
        from app.gui.qr_preview import QrPreview
        preview = QrPreview(self.runtime, d, self)
        preview.destroyed.connect(lambda *_: self.previews.remove(preview)
                                  if preview in self.previews else None)
        self.previews.append(preview)
        preview.show()

    def copy_invoice_no(self) -> None:
        d = self.detail or self.pane.shown
        if d:
            QGuiApplication.clipboard().setText(str(d.get("invoice_no", "")))

    # --------------------------------------------------------------- status

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._show_counts()

    def _show_counts(self) -> None:
        s = self.snapshot
        failed = (s.rejected + s.counts.get("held", 0) + len(s.held)) if s else 0
        self.retry_all_button.setEnabled(bool(failed))
        parts = []
        if s is not None:
            c = s.counts
            each = [(c.get("synced", 0), "sent"),
                    (c.get("queued", 0) + c.get("sending", 0), "waiting"),
                    (c.get("rejected", 0), "rejected"), (c.get("held", 0), "held")]
            total = sum(c.values())
            parts.append(invoices(total) + (": " + ", ".join(
                f"{n:,} {word}" for n, word in each if n) if total else ""))
            if s.paused:
                parts.append("sending is paused")
            elif s.reachable is False:
                parts.append(f"{s.upstream_name} cannot be reached; invoices are kept")
            if s.practice:
                parts.append("practice mode")
        shown = self.model.rowCount()
        if shown:
            which = []
            if self.model.state is not None:
                which.append(f"“{self.filter.currentText()}”")
            if self.model.search:
                which.append(f"numbers starting with “{self.model.search}”")
            parts.append(f"showing {shown:,}" + (f" ({', '.join(which)})" if which else "") +
                         (", scroll down for more" if self.model.has_more else ""))
        text = " · ".join(parts)
        self.counts_label.setText(text[:1].upper() + text[1:])
        self.refreshed_label.setText(
            "Loading…" if self.model.loading and self.model.last_refresh is None else
            f"List updated at {_time_of_day(self.model.last_refresh)}")

    def _say_notice(self, text: str) -> None:
        self.notice.setStyleSheet(banner_style("notice", NOTICE, "6px 10px"))
        self.notice.setText(text)
        self.notice.show()

    def _say_problem(self, text: str) -> None:
        self.notice.setStyleSheet(banner_style("notice", PROBLEM, "6px 10px"))
        self.notice.setText(text)
        self.notice.show()
        self._problem = True

    def _clear_problem(self) -> None:
        if self._problem:
            self._problem = False
            self.notice.hide()

    # ---------------------------------------------------------------- events

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # the list above, the invoice below: it needs the larger part
            self._sized = True
            height = max(200, self.splitter.height())
            self.splitter.setSizes([height * 43 // 100, height - height * 43 // 100])
        self.model.set_live(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.model.set_live(False)

