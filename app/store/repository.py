"""Every query the product runs, as plain SQL on the database handed in (no global state, so
several stores can live in one process). Write functions are called by the single writer inside
its transaction; read functions from any thread but the event loop's."""

import time
from collections.abc import Sequence
from dataclasses import replace

from peewee import SqliteDatabase

from app.domain.invoice import Invoice
from app.domain.money import plain
from app.domain.states import PENDING_STATES, State
from app.store import received
from app.store.database import UNSYNCED
from app.store.records import (
    AttemptRecord,
    IntakeOutcome,
    IntakeResult,
    InvoiceRecord,
    PosRecord,
    Summary,
)

_SELECT = f"SELECT {InvoiceRecord.COLUMNS} FROM invoice"
_INSERT = (
    "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, total_amount, "
    "date_time, payment_mode, received_json, warnings_json, content_hash, state, received_at, "
    "updated_at, attempts, next_attempt_at, ambiguous) VALUES "
)
_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,0)"
_ON_CONFLICT = " ON CONFLICT (pos_id, invoice_no) DO NOTHING RETURNING pos_id, invoice_no, state"
_ROWS_PER_INSERT = 1000  # 16 parameters a row, under SQLite's 32766-parameter limit
LAST_SYNC = "last_synced_at"
RESTORED_AT = "restored_at"  # when the database was last restored from a backup (restore.py)


# ---------------------------------------------------------------- intake (writer, batched)

def store_invoices(db: SqliteDatabase, invoices: Sequence[Invoice]) -> list[IntakeResult]:
    """Group-commit body: store each invoice unless the same pos_id + invoice_no is already
    there (same content → replay, different → conflict). Two copies in one batch count too.

    The usual case (all new) costs one INSERT … ON CONFLICT DO NOTHING RETURNING for the whole
    batch; only the invoices it did not insert are looked up."""
    now = time.time()
    held = {pos_id for (pos_id,) in db.execute_sql(
        "SELECT pos_id FROM pos WHERE held_reason IS NOT NULL").fetchall()}
    rows = [(
        inv.pos_id, inv.invoice_no, inv.ntn, plain(inv.amount), plain(inv.tax_rate),
        plain(inv.tax_amount), plain(inv.total_amount), inv.wire_date_time, inv.payment_mode,
        received.pack(inv.received_json), inv.warnings_json,
        received.hash_bytes(inv.content_hash),
        (State.HELD if inv.pos_id in held else State.QUEUED).value, now, now, now,
    ) for inv in invoices]
    inserted: dict[tuple[str, str], State] = {}
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start:start + _ROWS_PER_INSERT]
        # One multi-row statement rather than executemany: SQLite steps once per statement.
        # VALUES rows go in in order, so of two copies in one batch the first is stored.
        cursor = db.execute_sql(
            _INSERT + ",".join([_ROW] * len(chunk)) + _ON_CONFLICT,
            [value for row in chunk for value in row])
        for pos_id, invoice_no, state in cursor.fetchall():
            inserted[(pos_id, invoice_no)] = State(state)

    created = []  # per invoice: stored by this batch (a second copy in the batch is not)
    for inv in invoices:
        created.append(inserted.pop((inv.pos_id, inv.invoice_no), None))
    existing = _find(db, [(inv.pos_id, inv.invoice_no)
                          for inv, state in zip(invoices, created, strict=True) if state is None])
    results: list[IntakeResult] = []
    for inv, state in zip(invoices, created, strict=True):
        if state is not None:
            results.append(IntakeResult(IntakeOutcome.CREATED, state))
            continue
        record = existing[(inv.pos_id, inv.invoice_no)]
        outcome = (IntakeOutcome.REPLAYED if record.content_hash == inv.content_hash
                   else IntakeOutcome.CONFLICT)
        results.append(IntakeResult(outcome, record.state, record))
    return results


def _find(db: SqliteDatabase, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str],
                                                                      InvoiceRecord]:
    """The stored invoices with these (pos_id, invoice_no), in one query per POS."""
    wanted: dict[str, set[str]] = {}
    for pos_id, invoice_no in keys:
        wanted.setdefault(pos_id, set()).add(invoice_no)
    found: dict[tuple[str, str], InvoiceRecord] = {}
    for pos_id, numbers in wanted.items():
        # `pos_id = ? AND invoice_no IN (…)` is served by the unique index; a row-value IN is not.
        ordered = sorted(numbers)
        for start in range(0, len(ordered), 500):  # under SQLite's bound-parameter limit
            chunk = ordered[start:start + 500]
            for row in db.execute_sql(
                    f"{_SELECT} WHERE pos_id = ? AND invoice_no IN ({','.join('?' * len(chunk))})",
                    [pos_id, *chunk]).fetchall():
                record = InvoiceRecord.from_row(row)
                found[(record.pos_id, record.invoice_no)] = record
    return found


# ---------------------------------------------------------------- forwarding (writer)

# A row is sent only when every row it needs is synced (docs/KENYA.md, "Dependencies"). For a
# row with no dependency rows (every KPRA invoice) this is one empty probe of the dependency
# table's primary key: the claim stays driven by invoice_queued_next_attempt_at.
READY = ("NOT EXISTS (SELECT 1 FROM dependency d JOIN invoice n ON n.id = d.needs_id "
         "WHERE d.invoice_id = i.id AND n.state <> 'synced')")


def claim_due(db: SqliteDatabase, now: float, limit: int) -> list[InvoiceRecord]:
    """Move up to ``limit`` due invoices of POSes that are not held, and whose dependencies are
    all synced, to `sending`. Each record's ``refs``: per row it needs (by that row's
    invoice_no), (upstream_ref, transaction_id)."""
    rows = db.execute_sql(
        f"SELECT {_prefixed('i')}, COALESCE(p.version, 0) FROM invoice i "
        "LEFT JOIN pos p ON p.pos_id = i.pos_id "
        f"WHERE i.state = 'queued' AND i.next_attempt_at <= ? AND p.held_reason IS NULL "
        f"AND {READY} ORDER BY i.next_attempt_at, i.id LIMIT ?",
        (now, limit),
    ).fetchall()
    if not rows:
        return []
    ids = [row[0] for row in rows]
    db.execute_sql(
        f"UPDATE invoice SET state = 'sending', attempts = attempts + 1, updated_at = ? "
        f"WHERE id IN ({','.join('?' * len(ids))})",
        [now, *ids],
    )
    claimed = []
    for row in rows:
        record = InvoiceRecord.from_row(row[:-1], pos_version=row[-1])
        claimed.append(replace(record, state=State.SENDING, attempts=record.attempts + 1))
    kenya = [record.id for record in claimed if record.detail is not None]
    if kenya:  # (KPRA rows have no dependencies: not even asked)
        refs: dict[int, dict[str, tuple[str | None, str | None]]] = {}
        for invoice_id, number, upstream_ref, transaction_id in db.execute_sql(
                "SELECT d.invoice_id, n.invoice_no, n.upstream_ref, n.transaction_id "
                "FROM dependency d JOIN invoice n ON n.id = d.needs_id "
                f"WHERE d.invoice_id IN ({','.join('?' * len(kenya))})", kenya).fetchall():
            refs.setdefault(invoice_id, {})[number] = (upstream_ref, transaction_id)
        claimed = [replace(record, refs=refs[record.id]) if record.id in refs else record
                   for record in claimed]
    return claimed


def recover_interrupted(db: SqliteDatabase, now: float, keep: Sequence[int] = ()) -> int:
    """Rows left in `sending` by a crash may have reached the authority: retry them, marked
    ambiguous so a "duplicate" answer counts as success. ``keep``: ids still being sent.
    Returns how many there were."""
    kept = set(keep)
    ids = [i for (i,) in db.execute_sql(
        f"SELECT id FROM invoice WHERE state = 'sending' AND {UNSYNCED}") if i not in kept]
    for invoice_id in ids:
        _add_attempt(db, invoice_id, AttemptRecord(
            started_at=now, duration_ms=0, http_status=None, outcome="interrupted",
            message="The utility stopped while this invoice was being sent; it will be "
                    "checked with the authority again."))
        db.execute_sql(
            "UPDATE invoice SET state = 'queued', ambiguous = 1, next_attempt_at = ?, "
            "updated_at = ? WHERE id = ?", (now, now, invoice_id))
    return len(ids)


def mark_synced(db: SqliteDatabase, invoice_id: int, transaction_id: str | None,
                attempt: AttemptRecord, upstream_ref: str | None = None,
                receipt_url: str | None = None) -> None:
    """Recorded upstream. ``upstream_ref`` / ``receipt_url`` (Kenya): the upstream's own id and
    receipt link, when it gave them (a ref known from an earlier answer is kept)."""
    now = time.time()
    _add_attempt(db, invoice_id, attempt)
    db.execute_sql(
        "UPDATE invoice SET state = 'synced', transaction_id = ?, synced_at = ?, updated_at = ?, "
        "last_status = ?, last_error = NULL, upstream_ref = COALESCE(?, upstream_ref), "
        "receipt_url = COALESCE(?, receipt_url) WHERE id = ?",
        (transaction_id, now, now, attempt.http_status, upstream_ref, receipt_url, invoice_id))
    db.execute_sql(  # the rows that waited for it no longer say so
        "UPDATE invoice SET last_error = NULL, updated_at = ? WHERE id IN "
        "(SELECT invoice_id FROM dependency WHERE needs_id = ?) AND state = 'queued' "
        f"AND {UNSYNCED} AND last_error LIKE 'Waiting for %'", (now, invoice_id))
    db.execute_sql("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (LAST_SYNC, repr(now)))


def mark_submitted(db: SqliteDatabase, invoice_id: int, upstream_ref: str | None,
                   next_attempt_at: float, attempt: AttemptRecord) -> None:
    """The upstream holds it but has not finished (docs/KENYA.md, Submitted): back to the
    queue with the upstream's id, so the next try asks about it instead of posting again."""
    _add_attempt(db, invoice_id, attempt)
    db.execute_sql(
        "UPDATE invoice SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
        "last_status = ?, last_error = ?, ambiguous = 0, "
        "upstream_ref = COALESCE(?, upstream_ref) WHERE id = ?",
        (next_attempt_at, time.time(), attempt.http_status, attempt.message, upstream_ref,
         invoice_id))


def mark_retry(db: SqliteDatabase, invoice_id: int, next_attempt_at: float, ambiguous: bool,
               attempt: AttemptRecord) -> None:
    _add_attempt(db, invoice_id, attempt)
    db.execute_sql(
        "UPDATE invoice SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
        "last_status = ?, last_error = ?, ambiguous = MAX(ambiguous, ?) WHERE id = ?",
        (next_attempt_at, time.time(), attempt.http_status, attempt.message, int(ambiguous),
         invoice_id))


def mark_rejected(db: SqliteDatabase, invoice_id: int, attempt: AttemptRecord) -> None:
    """Refused by the authority; every row waiting for this one (directly) says so."""
    now = time.time()
    _add_attempt(db, invoice_id, attempt)
    db.execute_sql(
        "UPDATE invoice SET state = 'rejected', updated_at = ?, last_status = ?, last_error = ? "
        "WHERE id = ?", (now, attempt.http_status, attempt.message, invoice_id))
    db.execute_sql(
        "UPDATE invoice SET last_error = 'Waiting for ' || "
        "(SELECT invoice_no FROM invoice WHERE id = ?) || ', which the authority refused: ' || ?, "
        "updated_at = ? WHERE id IN (SELECT invoice_id FROM dependency WHERE needs_id = ?) "
        f"AND {UNSYNCED}", (invoice_id, attempt.message, now, invoice_id))


def hold_pos(db: SqliteDatabase, pos_id: str, reason: str, invoice_id: int | None = None,
             attempt: AttemptRecord | None = None) -> None:
    """Credentials/config problem: pause every invoice of this POS until it is fixed."""
    now = time.time()
    if invoice_id is not None and attempt is not None:
        _add_attempt(db, invoice_id, attempt)
        db.execute_sql(
            "UPDATE invoice SET state = 'held', updated_at = ?, last_status = ?, last_error = ? "
            "WHERE id = ?", (now, attempt.http_status, reason, invoice_id))
    db.execute_sql(
        "UPDATE invoice SET state = 'held', updated_at = ?, last_error = ? "
        f"WHERE pos_id = ? AND state = 'queued' AND {UNSYNCED}", (now, reason, pos_id))
    db.execute_sql(
        "UPDATE pos SET held_reason = ?, held_at = ?, version = version + 1 WHERE pos_id = ?",
        (reason, now, pos_id))


def release_pos(db: SqliteDatabase, pos_id: str) -> int:
    """After a fix: the POS sends again and its held invoices go back to the queue."""
    now = time.time()
    db.execute_sql(
        "UPDATE pos SET held_reason = NULL, held_at = NULL, version = version + 1 "
        "WHERE pos_id = ?", (pos_id,))
    cursor = db.execute_sql(
        "UPDATE invoice SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
        f"last_error = NULL WHERE pos_id = ? AND state = 'held' AND {UNSYNCED}",
        (now, now, pos_id))
    return cursor.rowcount


def upsert_pos(db: SqliteDatabase, ntn: str, pos_id: str, upstream: str = "kpra") -> None:
    db.execute_sql(
        "INSERT INTO pos (pos_id, ntn, upstream, added_at, version) VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT (pos_id) DO UPDATE SET ntn = excluded.ntn, upstream = excluded.upstream, "
        "version = version + 1", (pos_id, ntn, upstream, time.time()))


def retry_invoice(db: SqliteDatabase, invoice_id: int, who: str) -> tuple[str, int]:
    """The dashboard's "Retry" on one invoice, after the shopkeeper fixed what was wrong.
    Rejected → queued now; queued → due now; held → its POS is released (all of that POS's held
    invoices go back to the queue). Returns (the state it was in, how many invoices were
    requeued); synced and sending are left alone (0 requeued)."""
    row = db.execute_sql("SELECT state, pos_id FROM invoice WHERE id = ?",
                         (invoice_id,)).fetchone()
    if row is None:
        return "missing", 0
    state, pos_id = State(row[0]), row[1]
    now = time.time()
    if state is State.HELD:
        _note_retry(db, invoice_id, now, who)
        return state.value, release_pos(db, pos_id)
    if state not in (State.REJECTED, State.QUEUED):
        return state.value, 0
    _note_retry(db, invoice_id, now, who)
    db.execute_sql(
        "UPDATE invoice SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
        "last_error = NULL WHERE id = ?", (now, now, invoice_id))
    return state.value, 1


def retry_all(db: SqliteDatabase, states: Sequence[str], who: str) -> tuple[int, list[str]]:
    """Retry every rejected and/or held invoice (``states``). Returns (how many were
    requeued, the POSes released)."""
    now = time.time()
    requeued = 0
    released: list[str] = []
    if State.REJECTED.value in states:
        ids = [i for (i,) in db.execute_sql(
            f"SELECT id FROM invoice WHERE state = 'rejected' AND {UNSYNCED}")]
        for invoice_id in ids:
            _note_retry(db, invoice_id, now, who)
        db.execute_sql(
            "UPDATE invoice SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
            f"last_error = NULL WHERE state = 'rejected' AND {UNSYNCED}", (now, now))
        requeued += len(ids)
    if State.HELD.value in states:
        held = {pos_id for (pos_id,) in db.execute_sql(
            "SELECT pos_id FROM pos WHERE held_reason IS NOT NULL UNION "
            f"SELECT DISTINCT pos_id FROM invoice WHERE state = 'held' AND {UNSYNCED}")}
        for pos_id in sorted(held):
            requeued += release_pos(db, pos_id)
            released.append(pos_id)
    return requeued, released


def _note_retry(db: SqliteDatabase, invoice_id: int, now: float, who: str) -> None:
    _add_attempt(db, invoice_id, AttemptRecord(
        started_at=now, duration_ms=0, http_status=None, outcome="retry_requested",
        message=f"Sent again on request {who}."))  # who: "from the tray app", …


# ---------------------------------------------------------------- reads

def get_invoice(db: SqliteDatabase, pos_id: str, invoice_no: str) -> InvoiceRecord | None:
    row = db.execute_sql(f"{_SELECT} WHERE pos_id = ? AND invoice_no = ?",
                         (pos_id, invoice_no)).fetchone()
    return InvoiceRecord.from_row(row) if row else None


def dependencies_of(db: SqliteDatabase, invoice_id: int) -> list[InvoiceRecord]:
    """Kenya: the rows this one needs synced before it is sent."""
    rows = db.execute_sql(
        f"SELECT {_prefixed('n')} FROM dependency d JOIN invoice n ON n.id = d.needs_id "
        "WHERE d.invoice_id = ? ORDER BY n.id", (invoice_id,)).fetchall()
    return [InvoiceRecord.from_row(row) for row in rows]


def items_of(db: SqliteDatabase, pos_id: str) -> list[tuple[str, str, str]]:
    """Kenya: (code, name, remaining quantity) of every item registered for this POS."""
    return [(code, name, stock) for code, name, stock in db.execute_sql(
        "SELECT code, name, stock_qty FROM item WHERE pos_id = ? ORDER BY code", (pos_id,))]


def received_json(db: SqliteDatabase, invoice_id: int) -> str | None:
    """The POS's fields exactly as received (minus the key), as the intake stored them."""
    row = db.execute_sql("SELECT received_json FROM invoice WHERE id = ?",
                         (invoice_id,)).fetchone()
    return received.unpack(row[0]) if row else None


def attempts_of(db: SqliteDatabase, invoice_id: int) -> list[AttemptRecord]:
    rows = db.execute_sql(
        "SELECT started_at, duration_ms, http_status, outcome, message FROM attempt "
        "WHERE invoice_id = ? ORDER BY id", (invoice_id,)).fetchall()
    return [AttemptRecord(*row) for row in rows]


def list_pos(db: SqliteDatabase) -> list[PosRecord]:
    rows = db.execute_sql(
        "SELECT pos_id, ntn, upstream, version, held_reason, held_at FROM pos ORDER BY pos_id")
    return [PosRecord(*row) for row in rows.fetchall()]


def next_due_at(db: SqliteDatabase) -> float | None:
    """When the earliest queued invoice of a POS that is not held, and not waiting for another
    row, becomes due (walks invoice_queued_next_attempt_at in order, to the first such)."""
    row = db.execute_sql(
        "SELECT i.next_attempt_at FROM invoice i LEFT JOIN pos p ON p.pos_id = i.pos_id "
        f"WHERE i.state = 'queued' AND p.held_reason IS NULL AND {READY} "
        "ORDER BY i.next_attempt_at LIMIT 1").fetchone()
    return row[0] if row else None


def summary(db: SqliteDatabase) -> Summary:
    """The count of each state. Synced is every invoice less the others: those are counted in
    their small index, and the whole table in its smallest one (no index holds the state of a
    synced invoice). One statement, so both counts see the same moment."""
    counts = {state.value: 0 for state in State}
    rows = dict(db.execute_sql(
        "SELECT NULL, COUNT(*) FROM invoice UNION ALL "
        f"SELECT state, COUNT(*) FROM invoice WHERE {UNSYNCED} GROUP BY state").fetchall())
    everything = rows.pop(None)
    counts.update(rows)
    counts[State.SYNCED.value] = everything - sum(rows.values())
    pending = ",".join(f"'{s.value}'" for s in PENDING_STATES)
    oldest = db.execute_sql(
        f"SELECT MIN(received_at) FROM invoice WHERE state IN ({pending}) AND {UNSYNCED}"
    ).fetchone()[0]
    last = db.execute_sql("SELECT value FROM meta WHERE name = ?", (LAST_SYNC,)).fetchone()
    held = [pos for pos in list_pos(db) if pos.held_reason]
    return Summary(counts=counts, oldest_pending_at=oldest,
                   last_synced_at=float(last[0]) if last else None, held=held)


def restored_at(db: SqliteDatabase) -> float | None:
    row = db.execute_sql("SELECT value FROM meta WHERE name = ?", (RESTORED_AT,)).fetchone()
    return float(row[0]) if row else None


# ---------------------------------------------------------------- helpers

def _add_attempt(db: SqliteDatabase, invoice_id: int, attempt: AttemptRecord) -> None:
    db.execute_sql(
        "INSERT INTO attempt (invoice_id, started_at, duration_ms, http_status, outcome, message) "
        "VALUES (?,?,?,?,?,?)",
        (invoice_id, attempt.started_at, attempt.duration_ms, attempt.http_status,
         attempt.outcome, attempt.message))


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in InvoiceRecord.COLUMNS.split(","))

