"""Schema versions 2 to 4 on a database written by an older version: the dashboard's indexes
(v2, v3), the compact rows and partial state indexes (v4, read back identically); and the exact
decimal sum the reports use."""

import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import peewee
import pytest

from app.domain.validation import parse_submission
from app.store import backups, database, listing, received, reports
from app.store import repository as repo
from app.store.database import connect, open_database
from app.store.listing import STATE_GROUPS, InvoiceFilter
from app.store.records import AttemptRecord


def _version_1_with_invoices(path: Path, count: int) -> None:
    db = connect(path)
    with db.connection_context():
        with db.atomic():
            database.MIGRATIONS[0](db)
            db.execute_sql("INSERT INTO schema_version (version, applied_at) VALUES (1, ?)",
                           (time.time(),))
        with db.atomic():
            for n in range(count):
                db.execute_sql(
                    "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, "
                    "total_amount, date_time, payment_mode, received_json, warnings_json, "
                    "content_hash, state, received_at, updated_at, attempts, next_attempt_at, "
                    "ambiguous) VALUES ('P', ?, 'N', '0.10', '0', '0', '0.10', "
                    "'2026-11-21 10:00:00', 1, '{}', '[]', ?, 'synced', 0, 0, 1, 0, 0)",
                    (f"INV-{n}", f"h{n}"))


def _indexes(db: peewee.SqliteDatabase) -> set[str]:
    return {name for (name,) in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'invoice'")}


def test_a_version_1_database_gains_the_dashboard_indexes_after_a_backup(tmp_path: Path):
    path = tmp_path / "rims.sqlite3"
    _version_1_with_invoices(path, 30)
    db = open_database(path)
    with db.connection_context():
        assert database.current_version(db) == database.SCHEMA_VERSION == 5
        indexes = _indexes(db)
        assert {"invoice_date_time", "invoice_unsynced_state_date_time", "invoice_pos_date_time",
                "invoice_no_date_time", "invoice_queued_next_attempt_at"} <= indexes
        assert "invoice_invoice_no" not in indexes  # v3 replaced it
        assert not {"invoice_state_date_time", "invoice_state_next_attempt_at"} & indexes  # v4
        assert db.execute_sql("SELECT COUNT(*) FROM invoice").fetchone()[0] == 30
        # 30 × 0.10 is 3.0000000000000004 in floats; dec_sum is exact.
        assert db.execute_sql("SELECT SUM(amount) FROM invoice").fetchone()[0] != 3.0
        assert db.execute_sql("SELECT dec_sum(amount) FROM invoice").fetchone()[0] == "3.00"
        plan = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM invoice WHERE state = 'rejected' "
            "AND state <> 'synced' ORDER BY date_time DESC, id DESC LIMIT 51"))
        assert "invoice_unsynced_state_date_time" in plan and "TEMP B-TREE" not in plan, plan
        search = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT id, date_time FROM invoice WHERE invoice_no >= 'INV-1' "
            "AND invoice_no < 'INV-2'"))
        assert "COVERING INDEX invoice_no_date_time" in search, search
    db.close()
    [taken] = backups.list_backups(tmp_path / "backups", "before-v2")
    assert taken.path.exists()


def test_dec_sum_of_nothing_is_null_like_sum_and_skips_nulls(tmp_path: Path):
    db = open_database(tmp_path / "rims.sqlite3")
    with db.connection_context():
        assert db.execute_sql("SELECT dec_sum(amount) FROM invoice").fetchone()[0] is None
        assert db.execute_sql(
            "SELECT dec_sum(x) FROM (SELECT '1E+2' AS x UNION ALL SELECT NULL "
            "UNION ALL SELECT '0.000000000000000000001')").fetchone()[0] == \
            "100.000000000000000000001"
    db.close()


# ------------------------------------------------------------------------------ v3 -> v4

NOW = datetime(2026, 11, 21, 12, 0, 0)
STATES = ("synced", "synced", "synced", "queued", "sending", "rejected", "held", "synced")


def _posts(count: int) -> list[dict[str, object]]:
    """What tills sent: the seed's fields, numbers written every way, non-ASCII, extra fields."""
    posts = []
    for n in range(count):
        amount = Decimal(1000 + n) / (100 if n % 2 else 1)
        tax = (amount * Decimal("0.15")).quantize(Decimal("0.01"))
        fields: dict[str, object] = {
            "ntn": "K123456", "pos_id": f"POS-{n % 3}", "key": "secret",
            "invoice_no": f"T{n % 3}-{n:05d}", "amount": amount, "tax_rate": 15,
            "tax_amount": str(tax), "total_amount": amount + tax,
            "date_time": f"2026-11-{1 + n % 20:02d} {n % 24:02d}:{n % 60:02d}:00",
            "payment_mode": 1 + n % 2}
        if n % 5 == 0:
            fields["customer"] = "Café Ümit — ٹیسٹ"  # kept verbatim, not a field of ours
        if n % 7 == 0:
            fields = {"date": fields.pop("date_time"), "sales_tax": fields.pop("tax_amount"),
                      **fields}  # the live API's names, in another order
        posts.append(fields)
    return posts


def _version_3_with_invoices(path: Path, count: int) -> dict[str, str]:
    """A schema v3 file as the v3 code wrote it: received_json as text, content_hash as hex,
    invoices in every state with their attempts. Returns received_json by invoice number."""
    db = connect(path)
    texts = {}
    with db.connection_context():
        with db.atomic():
            for step in range(3):
                database.MIGRATIONS[step](db)
                db.execute_sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                               (step + 1, time.time()))
            repo.upsert_pos(db, "K123456", "POS-2")
            repo.hold_pos(db, "POS-2", "401 Unauthorized")
        with db.atomic():
            for n, fields in enumerate(_posts(count)):
                inv = parse_submission(fields, now=NOW).invoice
                texts[inv.invoice_no] = inv.received_json
                state = STATES[n % len(STATES)]
                db.execute_sql(
                    "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, "
                    "total_amount, date_time, payment_mode, received_json, warnings_json, "
                    "content_hash, state, received_at, updated_at, attempts, next_attempt_at, "
                    "ambiguous, last_error, transaction_id, synced_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (inv.pos_id, inv.invoice_no, inv.ntn, str(inv.amount), str(inv.tax_rate),
                     str(inv.tax_amount), str(inv.total_amount), inv.wire_date_time,
                     inv.payment_mode, inv.received_json, inv.warnings_json, inv.content_hash,
                     state, 1e9 + n, 1e9 + n, int(state != "queued"), 1e9 + n * 10,
                     int(n % 11 == 0), "no" if state in ("rejected", "held") else None,
                     str(4e9 + n) if state == "synced" else None,
                     1e9 + n if state == "synced" else None))
                if state != "queued":
                    repo._add_attempt(db, db.execute_sql("SELECT last_insert_rowid()").fetchone()[0],
                                      AttemptRecord(1e9 + n, 100 + n, 201, "accepted", f"ok {n}"))
            # One the v3 code could have stored too: the shortest JSON does not get smaller.
            db.execute_sql(
                "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, "
                "total_amount, date_time, payment_mode, received_json, warnings_json, "
                "content_hash, state, received_at, updated_at, attempts, next_attempt_at, "
                "ambiguous) VALUES ('POS-9', 'SHORT', 'N', '1', '0', '0', '1', "
                "'2026-11-21 10:00:00', 1, '{}', '[]', ?, 'synced', 0, 0, 1, 0, 0)",
                ("ab" * 32,))
            texts["SHORT"] = "{}"
    db.close()
    return texts


def _everything(db: peewee.SqliteDatabase) -> dict[str, object]:
    """What the product reads, through the store's own functions."""
    ids = [i for (i,) in db.execute_sql("SELECT id FROM invoice ORDER BY id")]
    pages = {}
    for name, f in {"all": InvoiceFilter(), "T1": InvoiceFilter(invoice_no="T1"),
                    "unconfirmed": InvoiceFilter(states=STATE_GROUPS["unconfirmed"]),
                    "synced": InvoiceFilter(states=STATE_GROUPS["synced"]),
                    "pos": InvoiceFilter(pos_id="POS-1")}.items():
        pages[name] = listing.list_invoices(db, f, 1000)
    summary = repo.summary(db)
    return {
        "records": [listing.invoice_with_attempts(db, i) for i in ids],
        "pages": pages,
        "summary": (summary.counts, summary.oldest_pending_at, summary.last_synced_at,
                    summary.held),
        "status": [repo.get_invoice(db, f"POS-{n % 3}", f"T{n % 3}-{n:05d}") for n in range(40)],
        "problems": reports.problems(db),
        "sales": reports.sales(db, InvoiceFilter(), "day"),
        "pos": listing.pos_ids(db),
    }


def test_a_version_3_database_migrates_to_4_and_reads_back_identically(tmp_path: Path):
    path = tmp_path / "rims.sqlite3"
    texts = _version_3_with_invoices(path, 400)
    # Read as the product reads it now: on a copy given only v5's new columns and tables
    # (which the current readers name), not v4's repacking.
    copy = tmp_path / "copy" / "rims.sqlite3"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    db = connect(copy)
    with db.connection_context():
        with db.atomic():
            database.MIGRATIONS[4](db)
        before = _everything(db)
    db.close()
    assert before["summary"][0]["synced"] > 0 and before["summary"][0]["held"] > 0
    size_before = path.stat().st_size

    db = open_database(path)
    with db.connection_context():
        assert database.current_version(db) == database.SCHEMA_VERSION
        assert _everything(db) == before
        counted = dict(db.execute_sql("SELECT state, COUNT(*) FROM invoice GROUP BY state"))
        assert repo.summary(db).counts == {"sending": 0, **counted}  # synced: all less the rest
        # the till's JSON, exactly; stored deflated, unless that would not be smaller
        stored = dict(db.execute_sql("SELECT invoice_no, received_json FROM invoice"))
        for number, text in texts.items():
            ((row_id,),) = db.execute_sql("SELECT id FROM invoice WHERE invoice_no = ?",
                                          (number,)).fetchall()
            assert repo.received_json(db, row_id) == text
        assert stored["SHORT"] == "{}"
        packed = [v for k, v in stored.items() if k != "SHORT"]
        assert all(isinstance(v, bytes) for v in packed)
        assert sum(map(len, packed)) < 0.6 * sum(len(texts[k].encode()) for k in stored
                                                  if k != "SHORT")
        assert {type(h) for (h,) in db.execute_sql("SELECT content_hash FROM invoice")} == {bytes}
        assert db.execute_sql("PRAGMA freelist_count").fetchone()[0] == 0  # VACUUMed
        assert db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert path.stat().st_size < size_before
    [taken] = backups.list_backups(tmp_path / "backups", "before-v4")
    old = connect(taken.path)
    with old.connection_context():  # the backup is the v3 file, as it was
        assert old.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()[0] == 3
        assert old.execute_sql("SELECT COUNT(*) FROM invoice WHERE typeof(received_json) = "
                               "'text'").fetchone()[0] == len(texts)
    old.close()


def test_the_v4_step_run_again_changes_nothing(tmp_path: Path):
    path = tmp_path / "rims.sqlite3"
    _version_3_with_invoices(path, 60)
    open_database(path).close()
    db = connect(path)
    with db.connection_context():
        rows = db.execute_sql("SELECT * FROM invoice ORDER BY id").fetchall()
        with db.atomic():
            database.MIGRATIONS[3](db)
        assert db.execute_sql("SELECT * FROM invoice ORDER BY id").fetchall() == rows
    db.close()


def test_after_v4_new_invoices_are_stored_compactly_and_replays_still_match(tmp_path: Path):
    path = tmp_path / "rims.sqlite3"
    _version_3_with_invoices(path, 20)
    db = open_database(path)
    fields = _posts(1)[0] | {"invoice_no": "NEW-1", "amount": Decimal("1000.00")}
    inv = parse_submission(fields, now=NOW).invoice
    with db.connection_context():
        with db.atomic():
            [first] = repo.store_invoices(db, [inv])
        with db.atomic():  # the same sale again, the amount written another way: a replay
            again = parse_submission(fields | {"amount": 1000}, now=NOW).invoice
            [replay] = repo.store_invoices(db, [again])
        assert (first.outcome, replay.outcome) == ("created", "replayed")
        record = repo.get_invoice(db, inv.pos_id, "NEW-1")
        assert record.content_hash == inv.content_hash  # hex, as before v4
        assert repo.received_json(db, record.id) == inv.received_json
        assert '"amount":1000.00,' in repo.received_json(db, record.id)  # as the till wrote it
        ((hash_type, json_type),) = db.execute_sql(
            "SELECT typeof(content_hash), typeof(received_json) FROM invoice WHERE id = ?",
            (record.id,)).fetchall()
        assert (hash_type, json_type) == ("blob", "blob")
        # the forwarder's claim and the state lists read the small partial indexes
        claim = " ".join(str(r) for r in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT i.id FROM invoice i LEFT JOIN pos p "
            "ON p.pos_id = i.pos_id WHERE i.state = 'queued' AND i.next_attempt_at <= ? "
            "AND p.held_reason IS NULL ORDER BY i.next_attempt_at, i.id LIMIT 8", (2e9,)))
        assert "invoice_queued_next_attempt_at" in claim and "TEMP B-TREE" not in claim, claim
        assert [r.invoice_no for r in repo.claim_due(db, 2e9, 100)].count("NEW-1") == 1
    db.close()


@pytest.mark.parametrize("text", ["", "{}", '{"a":1}', "é" * 300, '{"ntn":"K1"}' * 200,
                                  '{"amount":0.10,"tax_rate":15}'])
def test_received_json_packs_and_unpacks_exactly(text: str):
    packed = received.pack(text)
    assert received.unpack(packed) == text
    if isinstance(packed, bytes):  # stored deflated only when that is smaller
        assert len(packed) < len(text.encode())
    else:
        assert packed == text
    with pytest.raises(ValueError, match="unknown format"):
        received.unpack(b"\x7f" + b"abc")


# ------------------------------------------------------------------------------ v4 -> v5

def _version_4_with_invoices(path: Path, count: int) -> None:
    """A schema v4 file as the v4 code wrote it (KPRA invoices in every state)."""
    _version_3_with_invoices(path, count)
    db = connect(path)
    with db.connection_context(), db.atomic():
        database.MIGRATIONS[3](db)
        db.execute_sql("INSERT INTO schema_version (version, applied_at) VALUES (4, ?)",
                       (time.time(),))
    db.close()


def _columns(db: peewee.SqliteDatabase, table: str) -> dict[str, tuple]:
    return {row[1]: row for row in db.execute_sql(f"PRAGMA table_info({table})")}


def test_a_version_4_database_migrates_to_5_after_a_backup_and_kpra_rows_stay_as_they_were(
        tmp_path: Path):
    path = tmp_path / "rims.sqlite3"
    _version_4_with_invoices(path, 120)
    db = connect(path)
    with db.connection_context():
        rows_before = db.execute_sql("SELECT * FROM invoice ORDER BY id").fetchall()
        attempts_before = db.execute_sql("SELECT * FROM attempt ORDER BY id").fetchall()
    db.close()

    db = open_database(path)
    with db.connection_context():
        assert database.current_version(db) == database.SCHEMA_VERSION == 5
        columns = _columns(db, "invoice")
        assert columns["kind"][2:5] == ("TEXT", 1, "'invoice'")  # type, NOT NULL, default
        assert columns["detail"][2:4] == ("BLOB", 0)
        assert columns["upstream_ref"][2:4] == ("TEXT", 0)
        assert columns["receipt_url"][2:4] == ("TEXT", 0)
        rows = db.execute_sql("SELECT * FROM invoice ORDER BY id").fetchall()
        assert [row[:len(rows_before[0])] for row in rows] == rows_before  # nothing rewritten
        assert {row[len(rows_before[0]):] for row in rows} == {("invoice", None, None, None)}
        assert db.execute_sql("SELECT * FROM attempt ORDER BY id").fetchall() == attempts_before
        assert set(_columns(db, "dependency")) == {"invoice_id", "needs_id"}
        assert set(_columns(db, "item")) == {"id", "pos_id", "code", "name", "outbox_id",
                                             "stock_qty"}
        ((dependency_sql,),) = db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'dependency'").fetchall()
        assert "WITHOUT ROWID" in dependency_sql and "ON DELETE CASCADE" in dependency_sql
        indexes = {name for (name,) in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"dependency_needs_id", "item_pos_name"} <= indexes
        record = repo.get_invoice(db, "POS-1", "T1-00001")
        assert (record.kind, record.detail, record.upstream_ref, record.receipt_url, record.refs
                ) == ("invoice", None, None, None, {})
        # The forwarder's claim is still driven by the small queued index; the dependency check
        # is a probe of the dependency table's primary key, not a sort or a scan.
        plan = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT i.id FROM invoice i LEFT JOIN pos p "
            "ON p.pos_id = i.pos_id WHERE i.state = 'queued' AND i.next_attempt_at <= ? "
            f"AND p.held_reason IS NULL AND {repo.READY} "
            "ORDER BY i.next_attempt_at, i.id LIMIT 8", (2e9,)))
        assert "invoice_queued_next_attempt_at" in plan and "TEMP B-TREE" not in plan, plan
        assert "SCAN d" not in plan and "SCAN dependency" not in plan, plan
        queued = db.execute_sql("SELECT COUNT(*) FROM invoice i LEFT JOIN pos p "
                                "ON p.pos_id = i.pos_id WHERE state = 'queued' "
                                "AND p.held_reason IS NULL").fetchone()[0]
        assert queued and len(repo.claim_due(db, 2e9, 1000)) == queued
        assert db.execute_sql("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    [taken] = backups.list_backups(tmp_path / "backups", "before-v5")
    old = connect(taken.path)
    with old.connection_context():  # the backup is the v4 file, as it was
        assert old.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()[0] == 4
        assert "kind" not in _columns(old, "invoice")
    old.close()


def test_the_v5_step_run_again_changes_nothing(tmp_path: Path):
    path = tmp_path / "rims.sqlite3"
    _version_4_with_invoices(path, 30)
    open_database(path).close()
    db = connect(path)
    with db.connection_context():
        schema = db.execute_sql("SELECT * FROM sqlite_master ORDER BY name").fetchall()
        rows = db.execute_sql("SELECT * FROM invoice ORDER BY id").fetchall()
        with db.atomic():
            database.MIGRATIONS[4](db)
        assert db.execute_sql("SELECT * FROM sqlite_master ORDER BY name").fetchall() == schema
        assert db.execute_sql("SELECT * FROM invoice ORDER BY id").fetchall() == rows
    db.close()


def test_reports_sum_money_of_sales_and_credit_notes_only(tmp_path: Path):
    db = open_database(tmp_path / "rims.sqlite3")
    with db.connection_context(), db.atomic():
        for number, kind, amount in (("1", "invoice", "100"), ("cn:1", "credit_note", "-40"),
                                     ("item:X", "item", "0"), ("stock:G", "stock", "0"),
                                     ("item:Y", "item", "7")):
            db.execute_sql(
                "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, "
                "total_amount, date_time, payment_mode, received_json, warnings_json, "
                "content_hash, state, received_at, updated_at, attempts, next_attempt_at, "
                "ambiguous, kind) VALUES ('P', ?, 'N', ?, '0', '0', ?, "
                "'2026-11-21 10:00:00', 1, '{}', '[]', ?, 'queued', 0, 0, 0, 0, 0, ?)",
                (number, amount, amount, number.encode(), kind))
        everything = InvoiceFilter()
        assert reports.totals(db, everything) == reports.Totals(2, Decimal(60), Decimal(0),
                                                                Decimal(60))
        assert reports.per_period(db, everything, "day")["2026-11-21"].count == 2
        assert [row.totals.total for row in reports.sales(db, everything, "day")] == [60]
        assert repo.summary(db).counts["queued"] == 5  # counts: every row
    db.close()
