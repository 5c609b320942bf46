"""The dashboard's invoice list: filters, search by invoice number, and keyset pages (newest
invoice date first). A page costs the same at row 50 and at row 999,950: it starts from the
last row of the page before (date_time, id), never from an OFFSET. Indexes: database._v2 to _v4."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

from peewee import SqliteDatabase

from app.domain.states import PENDING_STATES, State
from app.store.database import UNSYNCED
from app.store.records import AttemptRecord, InvoiceRecord

_SELECT = f"SELECT {InvoiceRecord.COLUMNS} FROM invoice"
UNCONFIRMED = tuple(s for s in State if s is not State.SYNCED)  # not (yet) recorded upstream
STATE_GROUPS: dict[str, tuple[State, ...]] = {
    **{s.value: (s,) for s in State},
    "pending": PENDING_STATES,
    "unconfirmed": UNCONFIRMED,
}
_PREFIX_END = "\U0010ffff"  # sorts after every character: [q, q + this) is "starts with q"
# A search whose prefix matches at least this many invoices walks the list by date (_searched),
# reading at most WALK_ROWS rows (or 20 per row of a bigger page: an export's batch).
MANY_MATCHES = 10_000
WALK_ROWS = 2_000


@dataclass(frozen=True)
class InvoiceFilter:
    """What the list shows; every field optional. Dates are YYYY-MM-DD, inclusive, compared
    with the invoice's own date_time (the receipt's date)."""

    states: tuple[State, ...] = ()
    pos_id: str | None = None
    payment_mode: int | None = None
    date_from: str | None = None
    date_to: str | None = None
    invoice_no: str | None = None  # exact, or the start of the number
    # Kenya (docs/KENYA.md): only these kinds (invoice, credit_note, item, stock); () = all.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: just after this row in (date_time DESC, id DESC) order."""

    date_time: str
    id: int


def where(f: InvoiceFilter) -> tuple[str, list[object]]:
    """The WHERE clause (without the keyword; "1" when nothing is filtered) and its parameters.
    Shared with the exports (every matching row) and the reports."""
    clauses: list[str] = []
    params: list[object] = []
    if len(f.states) == 1:
        clauses.append("state = ?")
        params.append(f.states[0].value)
    elif f.states:
        clauses.append(f"state IN ({','.join('?' * len(f.states))})")
        params.extend(s.value for s in f.states)
    if f.states and State.SYNCED not in f.states:
        clauses.append(UNSYNCED)  # lets SQLite use the partial index of these states
    if f.pos_id is not None:
        clauses.append("pos_id = ?")
        params.append(f.pos_id)
    if f.payment_mode is not None:
        clauses.append("payment_mode = ?")
        params.append(f.payment_mode)
    if f.date_from is not None:
        clauses.append("date_time >= ?")
        params.append(f.date_from)
    if f.date_to is not None:  # the whole last day: '2026-11-21 23:59:59' < '2026-11-21~'
        clauses.append("date_time < ?")
        params.append(f.date_to + "~")
    if f.kinds:  # (only Kenya's dashboard asks: the column is schema v5's)
        clauses.append(f"kind IN ({','.join('?' * len(f.kinds))})")
        params.extend(f.kinds)
    if f.invoice_no:
        clauses.append("invoice_no >= ? AND invoice_no < ?")
        params.extend((f.invoice_no, f.invoice_no + _PREFIX_END))
    return (" AND ".join(clauses) or "1"), params


def _page(columns: str, f: InvoiceFilter, limit: int, after: Cursor | None,
          walk: int | None = None) -> tuple[str, list[object]]:
    """The SQL of one page: the ids first, each from an index that is already in page order,
    then the rows for just those ids.

    - The keyset condition is a row value, (date_time, id) < (?, ?): SQLite seeks straight to
      it in the index, so the page after row 990,000 costs what the first page costs (the
      spelled-out OR form made it walk every row before the cursor).
    - Several states (the "pending" and "unconfirmed" groups) are one arm per state, each
      walking (state, date_time) newest first and stopping at ``limit``, merged by UNION ALL:
      an IN list would make SQLite read every matching row and sort them.
    - A search by invoice number reads (invoice_no, date_time, id) from its index alone and
      fetches only the page's rows: every match is sorted by date.
    - ``walk`` (a search with one state at most, see _searched): the rows of the other filters
      newest first instead, at most ``walk`` of them, keeping those whose number starts with
      the prefix. Fast when the matches are many and recent; fewer than ``limit`` rows back
      means "not sure", and the caller sorts the matches instead. (The outer LIMIT keeps the
      first matches in the walk's order: SQLite runs the inner query as a co-routine. An outer
      ORDER BY would make it read all ``walk`` rows; tests compare every page with the sort.)"""
    arms: list[str] = []
    params: list[object] = []
    for state in f.states or (None,):
        arm = replace(f, states=(state,) if state else ())
        sql, arm_params = where(replace(arm, invoice_no=None) if walk else arm)
        if after is not None:
            sql += " AND (date_time, id) < (?, ?)"
            arm_params += [after.date_time, after.id]
        if walk:
            arms.append(f"SELECT id FROM (SELECT id FROM (SELECT id, invoice_no FROM invoice "
                        f"WHERE {sql} ORDER BY date_time DESC, id DESC LIMIT ?) "
                        "WHERE invoice_no >= ? AND invoice_no < ? LIMIT ?)")
            params += [*arm_params, walk, f.invoice_no, f"{f.invoice_no}{_PREFIX_END}", limit]
        else:
            arms.append(f"SELECT id FROM (SELECT id FROM invoice WHERE {sql} "
                        "ORDER BY date_time DESC, id DESC LIMIT ?)")
            params += [*arm_params, limit]
    return (f"SELECT {columns} FROM invoice WHERE id IN ({' UNION ALL '.join(arms)}) "
            "ORDER BY date_time DESC, id DESC LIMIT ?", [*params, limit])


def _searched(db: SqliteDatabase, f: InvoiceFilter) -> int | None:
    """How a search by invoice number finds its page: None to sort every match by date (the
    number index is in number order), or how many rows to walk newest first (_page's walk).

    Sorting costs what the prefix matches: 0.2 µs a match, 85 ms for "T1" matching 400,000 of
    a million. Walking costs the rows it reads until the page is full (0.5 µs each, a table
    read for the number): nothing when the matches are many and recent, everything when they
    are old (265 ms for the oldest year's). So count the matches first, in the number index
    alone and only up to MANY_MATCHES (0.3-0.6 ms): fewer, and the sort is cheap (3 ms at
    most); as many, and the walk is tried, but given up after WALK_ROWS rows (1 ms), then the
    sort after all.
    The worst left: a prefix with very many matches and none of them recent (an old year,
    a till retired long ago) costs the sort of them all (100,000 matches: 20 ms)."""
    if not f.invoice_no or len(f.states) > 1:
        return None
    (matches,) = db.execute_sql(
        "SELECT COUNT(*) FROM (SELECT 1 FROM invoice WHERE invoice_no >= ? AND invoice_no < ? "
        "LIMIT ?)", (f.invoice_no, f"{f.invoice_no}{_PREFIX_END}", MANY_MATCHES)).fetchone()
    return WALK_ROWS if matches >= MANY_MATCHES else None


def _rows(db: SqliteDatabase, columns: str, f: InvoiceFilter, limit: int,
          after: Cursor | None) -> list[tuple]:
    """The rows of one page (``limit`` of them, fewer on the last page)."""
    walk = _searched(db, f)
    if walk is not None:
        rows = db.execute_sql(*_page(columns, f, limit, after, max(walk, 20 * limit))
                              ).fetchall()
        if len(rows) == limit:  # the newest ``limit`` matches are all among the rows walked
            return rows
    return db.execute_sql(*_page(columns, f, limit, after)).fetchall()


def list_invoices(db: SqliteDatabase, f: InvoiceFilter, limit: int,
                  after: Cursor | None = None) -> tuple[list[InvoiceRecord], Cursor | None]:
    """One page of invoices matching ``f`` and the cursor of the next page (None: last page)."""
    rows = _rows(db, InvoiceRecord.COLUMNS, f, limit + 1, after)
    records = [InvoiceRecord.from_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return records, (Cursor(records[-1].date_time, records[-1].id) if more else None)


def export_rows(db: SqliteDatabase, f: InvoiceFilter, batch: int,
                after: Cursor | None = None) -> tuple[list[tuple], Cursor | None]:
    """Like list_invoices, but plain row tuples in the export's column order (cheaper than
    records: an export may walk a million rows)."""
    rows = _rows(db, f"{EXPORT_COLUMNS}, id", f, batch + 1, after)
    page = rows[:batch]
    more = len(rows) > batch
    return [row[:-1] for row in page], (Cursor(page[-1][2], page[-1][-1]) if more else None)


EXPORT_COLUMNS = (
    "pos_id, invoice_no, date_time, payment_mode, amount, tax_rate, tax_amount, total_amount, "
    "state, attempts, last_error, transaction_id, received_at, synced_at"
)


def invoice_by_id(db: SqliteDatabase, invoice_id: int) -> InvoiceRecord | None:
    row = db.execute_sql(f"{_SELECT} WHERE id = ?", (invoice_id,)).fetchone()
    return InvoiceRecord.from_row(row) if row else None


def invoice_with_attempts(db: SqliteDatabase, invoice_id: int
                          ) -> tuple[InvoiceRecord, list[AttemptRecord]] | None:
    """One invoice and its audit trail. (Not in one transaction: atomic() here would take the
    write lock. An attempt added between the two reads shows up next refresh.)"""
    record = invoice_by_id(db, invoice_id)
    if record is None:
        return None
    rows = db.execute_sql(
        "SELECT started_at, duration_ms, http_status, outcome, message FROM attempt "
        "WHERE invoice_id = ? ORDER BY id", (invoice_id,)).fetchall()
    return record, [AttemptRecord(*row) for row in rows]


def pos_ids(db: SqliteDatabase) -> Sequence[str]:
    """Every POS that has sent an invoice or is configured (the list's POS filter)."""
    # A loose index scan: one index probe per POS, not a walk over every invoice.
    rows = db.execute_sql(
        "WITH RECURSIVE seen(pos_id) AS (SELECT MIN(pos_id) FROM invoice UNION ALL "
        "SELECT (SELECT MIN(pos_id) FROM invoice WHERE pos_id > seen.pos_id) FROM seen "
        "WHERE seen.pos_id IS NOT NULL) "
        "SELECT pos_id FROM seen WHERE pos_id IS NOT NULL UNION SELECT pos_id FROM pos "
        "ORDER BY 1").fetchall()
    return [pos_id for (pos_id,) in rows]
