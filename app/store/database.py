"""Opening the SQLite file with the pragmas durability needs, and forward migrations."""

import logging
import time
from decimal import Context, Decimal
from pathlib import Path

import peewee

from app.store import backups, integrity, received
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


UNSYNCED = "state <> 'synced'"  # the partial indexes' condition: a query that names it
# word for word may use them (SQLite does no algebra: `state = 'queued'` alone does not imply it)


def _v4(database: peewee.SqliteDatabase) -> None:
    """Issue 7, at most 600 bytes per invoice (docs/PERFORMANCE.md, "Dashboard at 1,000,000
    invoices"; each step idempotent, like the others):

    - The two state indexes hold only the invoices not synced (under 1 % of the rows of a
      shop whose line works): the list's state filters, the counts of summary() and the
      forwarder's claim read just those. state=synced (nearly every row) walks
      invoice_date_time instead, and queries name UNSYNCED to use them.
    - received_json deflated with a dictionary of the API's field names, content_hash as its
      32 bytes (received.py): about 140 bytes less a row, the exact text still there.
    The space freed is given back to the file system by a VACUUM after the migration
    (COMPACT_AFTER): rewritten rows leave their pages part empty, not free."""
    database.execute_sql("DROP INDEX IF EXISTS invoice_state_date_time")
    database.execute_sql("DROP INDEX IF EXISTS invoice_state_next_attempt_at")
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS invoice_unsynced_state_date_time "
        f"ON invoice (state, date_time) WHERE {UNSYNCED}")
    database.execute_sql(  # the forwarder's claim_due, due first
        "CREATE INDEX IF NOT EXISTS invoice_queued_next_attempt_at "
        "ON invoice (next_attempt_at) WHERE state = 'queued'")
    connection = database.connection()
    connection.create_function("rims_pack_received", 1, received.pack, deterministic=True)
    connection.create_function("rims_hash_bytes", 1, _hash_bytes, deterministic=True)
    database.execute_sql(
        "UPDATE invoice SET "
        "received_json = CASE typeof(received_json) WHEN 'text' "
        "THEN rims_pack_received(received_json) ELSE received_json END, "
        "content_hash = CASE typeof(content_hash) WHEN 'text' "
        "THEN rims_hash_bytes(content_hash) ELSE content_hash END "
        "WHERE typeof(received_json) = 'text' OR typeof(content_hash) = 'text'")


def _hash_bytes(value: str) -> bytes | str:
    """A SHA-256 in hex as its bytes; anything else (never written by the intake) as it is."""
    try:
        return received.hash_bytes(value) if len(value) == 64 else value
    except ValueError:
        return value


def _v5(database: peewee.SqliteDatabase) -> None:
    """Issue 8, Kenya eTIMS (docs/KENYA.md): every document forwarded is a row of invoice, of a
    ``kind``; its normalized ``detail`` (packed like received_json), the upstream's own id and
    receipt link; the rows a row needs synced first (dependency); and the items each POS sells,
    found by code or name, with their remaining stock (item). KPRA rows keep kind 'invoice' and
    NULLs, and have no dependency rows: the claim's NOT EXISTS is one empty probe of the
    dependency primary key. Each step idempotent."""
    columns = {row[1] for row in database.execute_sql("PRAGMA table_info(invoice)")}
    for name, definition in (("kind", "TEXT NOT NULL DEFAULT 'invoice'"),
                             ("detail", "BLOB NULL"), ("upstream_ref", "TEXT NULL"),
                             ("receipt_url", "TEXT NULL")):
        if name not in columns:
            database.execute_sql(f"ALTER TABLE invoice ADD COLUMN {name} {definition}")
    database.execute_sql(
        "CREATE TABLE IF NOT EXISTS dependency ("
        "invoice_id INTEGER NOT NULL REFERENCES invoice (id) ON DELETE CASCADE, "
        "needs_id INTEGER NOT NULL REFERENCES invoice (id), "
        "PRIMARY KEY (invoice_id, needs_id)) WITHOUT ROWID")
    database.execute_sql("CREATE INDEX IF NOT EXISTS dependency_needs_id ON dependency (needs_id)")
    database.execute_sql(
        "CREATE TABLE IF NOT EXISTS item ("
        "id INTEGER PRIMARY KEY, pos_id TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, "
        "outbox_id INTEGER NOT NULL REFERENCES invoice (id), "
        "stock_qty TEXT NOT NULL DEFAULT '0', UNIQUE (pos_id, code))")
    database.execute_sql("CREATE INDEX IF NOT EXISTS item_pos_name ON item (pos_id, name)")


MIGRATIONS = [_v1, _v2, _v3, _v4, _v5]  # MIGRATIONS[n] takes the schema from version n to n + 1
SCHEMA_VERSION = len(MIGRATIONS)
COMPACT_AFTER = {4}  # a file migrated to these versions is VACUUMed once, after the migration


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
        started = time.perf_counter()
        with database.atomic():
            MIGRATIONS[step](database)
            database.execute_sql("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                                 (step + 1, time.time()))
        log.info("database schema migrated to version %d (%.1f s)", step + 1,
                 time.perf_counter() - started)
    if version > 0 and COMPACT_AFTER & set(range(version + 1, SCHEMA_VERSION + 1)):
        compact(database, path)


def compact(database: peewee.SqliteDatabase, path: Path) -> bool:
    """VACUUM: rewrite the file without the room a migration freed. The WAL is emptied before
    (the migration's rewritten pages) and after (the VACUUM writes a copy of the whole database
    into it). Needs free disk space of about twice the compacted file (a temporary copy, then
    the WAL); if that fails, the file is as good as before, only bigger: logged, not raised.
    Returns whether it was done."""
    started = time.perf_counter()
    before = path.stat().st_size
    try:
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.execute_sql("VACUUM")
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except peewee.DatabaseError as why:  # e.g. "database or disk is full"
        log.warning("%s was migrated but not compacted (VACUUM: %s); it works as it is, and "
                    "the room it could give back is used for new invoices", path, why)
        return False
    log.info("database compacted after migrating: %.0f MB -> %.0f MB (%.1f s)", before / 1e6,
             path.stat().st_size / 1e6, time.perf_counter() - started)
    return True


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
