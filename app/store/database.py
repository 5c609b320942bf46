"""Opening the SQLite file with the pragmas durability needs, and forward migrations."""

import logging
import time
from decimal import Context, Decimal
from pathlib import Path

import peewee

from app.store import backups, integrity
from app.store.integrity import DamagedDatabase
from app.store.models import ALL_MODELS

log = logging.getLogger(__name__)

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",  # a 201 survives a power cut
    "foreign_keys": 1,
    "busy_timeout": 10_000,  # `rims-utility setup` may write from another process
    "cache_size": -16_000,
}


def _v1(database: peewee.SqliteDatabase) -> None:
    with database.bind_ctx(ALL_MODELS):
        database.create_tables(ALL_MODELS)


def _v2(database: peewee.SqliteDatabase) -> None:
    """The dashboard's lists and reports (store/listing.py, store/reports.py): newest invoice
    date first, filtered by state or POS, searched by invoice number, summed by date range.
    Every index ends in the rowid, so (date_time, id) keyset pages need no sort."""
    for sql in (
        "CREATE INDEX IF NOT EXISTS invoice_date_time ON invoice (date_time)",
        "CREATE INDEX IF NOT EXISTS invoice_state_date_time ON invoice (state, date_time)",
        "CREATE INDEX IF NOT EXISTS invoice_pos_date_time ON invoice (pos_id, date_time)",
        "CREATE INDEX IF NOT EXISTS invoice_invoice_no ON invoice (invoice_no)",
    ):
        database.execute_sql(sql)


def _v3(database: peewee.SqliteDatabase) -> None:
    """Search by invoice number, newest first: with date_time in the index, the page's ids come
    from the index alone (store/listing.py) instead of one table read per matching number."""
    database.execute_sql("DROP INDEX IF EXISTS invoice_invoice_no")
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS invoice_no_date_time ON invoice (invoice_no, date_time)")


MIGRATIONS = [_v1, _v2, _v3]  # MIGRATIONS[n] takes the schema from version n to n + 1
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    pass


class DecimalSum:
    """SQL aggregate ``dec_sum(text)``: the exact sum of money stored as decimal text, returned
    as text. SQLite's own SUM would read the text as floating point."""

    _context = Context(prec=60)  # 10^12 × a million rows with any sensible decimals fits

    def __init__(self) -> None:
        self.total = Decimal(0)

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total = self._context.add(self.total, Decimal(value))

    def finalize(self) -> str:
        return format(self.total, "f")  # plain decimal text, never an exponent


def connect(path: Path) -> peewee.SqliteDatabase:
    """The database with the durability pragmas, not yet migrated. Each thread (and the writer
    process) gets its own connection."""
    database = peewee.SqliteDatabase(
        str(path), pragmas=PRAGMAS, lock_type="IMMEDIATE", check_same_thread=False
    )
    database.register_aggregate(DecimalSum, "dec_sum", 1)
    return database


def open_database(path: Path) -> peewee.SqliteDatabase:
    """Open (creating if needed) and migrate. A damaged file is refused (DamagedDatabase, whose
    message says how to restore) before anything opens it for writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    refuse_if_damaged(path)
    database = connect(path)
    with database.connection_context():
        migrate(database, path)
    return database


def current_version(database: peewee.SqliteDatabase) -> int:
    if not database.table_exists("schema_version"):
        return 0
    return database.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0


def migrate(database: peewee.SqliteDatabase, path: Path) -> None:
    version = current_version(database)
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer RIMS Utility (schema {version}); "
                         "install the newer version again")
    if version == SCHEMA_VERSION:
        return
    if version > 0:
        try:
            backups.take(database.connection(), backups.directory_for(path),
                         f"before-v{version + 1}")
        except backups.BackupFailed as why:
            raise StoreError(f"{path} was not migrated, because the backup before migrating "
                             f"failed: {why}") from None
    for step in range(version, SCHEMA_VERSION):
        with database.atomic():
            MIGRATIONS[step](database)
            database.execute_sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                                 (step + 1, time.time()))
        log.info("database schema migrated to version %d", step + 1)


def refuse_if_damaged(path: Path) -> None:
    """Raise DamagedDatabase if the file at ``path`` is damaged (read-only check, integrity.py).
    An empty file counts as damaged when backups exist: it held invoices once."""
    if not path.exists():
        return
    problem = integrity.find_problem(path)
    if problem is None and path.stat().st_size == 0 and backups.list_backups(
            backups.directory_for(path)):
        problem = "the file is empty (0 bytes), but backups exist: its contents were lost"
    if problem is not None:
        raise DamagedDatabase(path, problem, backups.restore_advice(path))
