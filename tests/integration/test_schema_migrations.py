"""Schema versions 2 and 3 (the dashboard's indexes) on a database written by version 1, and the
exact decimal sum the reports use."""

import time
from pathlib import Path

import peewee

from app.store import backups, database
from app.store.database import connect, open_database


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
        assert database.current_version(db) == database.SCHEMA_VERSION == 3
        indexes = _indexes(db)
        assert {"invoice_date_time", "invoice_state_date_time", "invoice_pos_date_time",
                "invoice_no_date_time"} <= indexes
        assert "invoice_invoice_no" not in indexes  # v3 replaced it
        assert db.execute_sql("SELECT COUNT(*) FROM invoice").fetchone()[0] == 30
        # 30 × 0.10 is 3.0000000000000004 in floats; dec_sum is exact.
        assert db.execute_sql("SELECT SUM(amount) FROM invoice").fetchone()[0] != 3.0
        assert db.execute_sql("SELECT dec_sum(amount) FROM invoice").fetchone()[0] == "3.00"
        plan = " ".join(str(row) for row in db.execute_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM invoice WHERE state = 'rejected' "
            "ORDER BY date_time DESC, id DESC LIMIT 51"))
        assert "invoice_state_date_time" in plan and "TEMP B-TREE" not in plan, plan
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
