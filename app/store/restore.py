"""Putting a backup in place of the database (``rims-utility restore BACKUP``).

The caller makes sure no service runs on the data folder (the instance lock). Then:
1. the backup is copied next to the database under a temporary name and the copy is checked
   (``quick_check``, and a schema this version understands); a damaged backup changes nothing;
2. every invoice the copy has as not yet confirmed is marked ambiguous: it may have reached
   KPRA after the backup was taken, so a "duplicate" answer when it is sent again counts as
   sent (see the forwarder);
3. the current database and its -wal/-shm/-journal are renamed, never deleted, to
   ``rims.sqlite3.damaged-<UTC time>`` (``.replaced-`` if it was sound) with the same endings,
   so SQLite still pairs the moved -wal with the moved file;
4. the copy is renamed into place (atomic on one disk)."""

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from app.domain.states import PENDING_STATES
from app.store import backups, integrity, repository
from app.store.database import SCHEMA_VERSION, UNSYNCED

_COMPANIONS = ("-wal", "-shm", "-journal")


class RestoreRefused(RuntimeError):
    """Nothing was changed; the message says why."""


@dataclass(frozen=True)
class Contents:
    """What a backup holds."""

    schema_version: int
    invoices: int
    pending: int  # not yet confirmed by KPRA (queued, sending, held)
    newest_received_at: float | None
    newest_invoice: tuple[str, str] | None  # (pos_id, invoice_no)


@dataclass(frozen=True)
class Restored:
    backup: Path
    contents: Contents
    moved_aside: list[Path]  # the previous database and its companions, renamed


def inspect(path: Path) -> Contents:
    """Check a backup (or any database file) without changing it; RestoreRefused if unusable."""
    if not path.is_file():
        raise RestoreRefused(f"There is no backup file {path}.")
    problem = integrity.find_problem(path)
    if problem is None and path.stat().st_size == 0:
        problem = "the file is empty"
    if problem is not None:
        raise RestoreRefused(f"The backup {path} is damaged: {problem}. Nothing was changed; "
                             "choose another backup (rims-utility backups lists them).")
    connection = integrity.connect_read_only(path)
    try:
        return _contents(connection, path)
    finally:
        connection.close()


def restore(backup: Path, db_path: Path, now: float | None = None) -> Restored:
    """Put ``backup`` in place of ``db_path`` (steps in the module docstring)."""
    now = time.time() if now is None else now
    backup = backup.absolute()
    if backup == db_path.absolute():
        raise RestoreRefused(f"{backup} is the database itself, not a backup.")
    inspect(backup)  # refuse before anything is written, even the temporary copy
    temporary = db_path.with_name(f".{db_path.name}.restoring-{os.getpid()}")
    try:
        _copy_file(backup, temporary)
        contents = _prepare(temporary, backup)
        moved = _move_aside(db_path, now)
        os.replace(temporary, db_path)
        backups.sync_directory(db_path.parent)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return Restored(backup, contents, moved)


def _contents(connection: sqlite3.Connection, path: Path) -> Contents:
    try:
        version = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        invoices = connection.execute("SELECT COUNT(*) FROM invoice").fetchone()[0]
        pending = connection.execute(
            f"SELECT COUNT(*) FROM invoice WHERE state IN ({_PENDING}) AND {UNSYNCED}"
        ).fetchone()[0]
        newest = connection.execute(
            "SELECT received_at, pos_id, invoice_no FROM invoice "
            "ORDER BY received_at DESC, id DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        raise RestoreRefused(f"{path} is not a RIMS Utility database (it has no invoice "
                             "tables). Nothing was changed.") from None
    if not version:
        raise RestoreRefused(f"{path} is not a RIMS Utility database. Nothing was changed.")
    if version > SCHEMA_VERSION:
        raise RestoreRefused(f"{path} was made by a newer RIMS Utility (schema {version}); "
                             "install that version to restore it. Nothing was changed.")
    return Contents(version, invoices, pending, newest[0] if newest else None,
                    (newest[1], newest[2]) if newest else None)


_PENDING = ",".join(f"'{state.value}'" for state in PENDING_STATES)


def _prepare(copy: Path, backup: Path) -> Contents:
    """Check the copy that will go in place, then mark its unconfirmed invoices ambiguous."""
    problem = integrity.find_problem(copy)
    if problem is not None:
        raise RestoreRefused(f"The copy of {backup} is damaged ({problem}); the disk may be "
                             "failing. Nothing was changed.")
    connection = sqlite3.connect(str(copy))
    try:
        contents = _contents(connection, backup)
        connection.execute("PRAGMA synchronous=FULL")
        with connection:
            now = time.time()
            connection.execute(f"UPDATE invoice SET ambiguous = 1, updated_at = ? "
                               f"WHERE state IN ({_PENDING}) AND {UNSYNCED}", (now,))
            # Sales made before now that the till sends again may already be at KPRA.
            connection.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                               (repository.RESTORED_AT, repr(now)))
    finally:
        connection.close()
    return contents


def _move_aside(db_path: Path, now: float) -> list[Path]:
    """Rename the database and its companions; the -wal first, so a failure half-way never
    leaves the old -wal beside the restored file."""
    if not db_path.exists() and not any(_companion(db_path, e).exists() for e in _COMPANIONS):
        return []
    sound = db_path.exists() and integrity.find_problem(db_path) is None
    label = "replaced" if sound else "damaged"
    base = db_path.with_name(f"{db_path.name}.{label}-{backups.stamp(now)}")
    moved = []
    for ending in (*_COMPANIONS, ""):
        source = _companion(db_path, ending)
        if source.exists():
            target = _companion(base, ending)
            os.replace(source, target)
            moved.append(target)
    for ending in (*_COMPANIONS, ""):
        if _companion(db_path, ending).exists():  # e.g. recreated by a program still open
            raise RestoreRefused(f"{_companion(db_path, ending)} is still there after moving "
                                 "it aside; is RIMS Utility still running? Nothing was restored.")
    return moved


def _companion(path: Path, ending: str) -> Path:
    return path.with_name(path.name + ending)


def _copy_file(source: Path, target: Path) -> None:
    with open(source, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(4 << 20):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())

