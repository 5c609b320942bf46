"""Online backups of the database into ``<data dir>/backups/``: list, take, verify, prune.

- **How**: SQLite's backup API in one step, from a read-only connection of its own (or the
  migrating connection). One step is one read transaction, so the copy is consistent while the
  writer process keeps committing (WAL: readers and the writer do not block each other). The
  copy is made under a hidden temporary name, switched to a single self-contained file
  (``journal_mode=DELETE``), flushed to disk, verified with ``quick_check``, and only then
  renamed into place. Only after that are older backups pruned: a failed or damaged copy never
  costs a good backup.
- **Names** sort by time and say why: ``rims-2026-11-21T09-03-00Z-daily.sqlite3`` (UTC, so they
  sort right through clock changes; listings show local time). ``before-v2`` is the backup
  taken before migrating to schema version 2.
- **Retention**: the newest ``keep`` (7) of *each reason*. Seven daily backups are a week; a
  backup taken before a migration is the only copy in the old format, so daily backups never
  push it out (and migrations are rare, so these stay few).
- Cost, a million invoices (547 MB): copy 2.3 s from a cold cache, verify under 1 s. Disk: each
  backup is as large as the database (this file has no SQL in it but the backup call itself)."""

import contextlib
import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.store import integrity

log = logging.getLogger(__name__)

DIR_NAME = "backups"
KEEP = 7
DAILY = "daily"
_STAMP = "%Y-%m-%dT%H-%M-%SZ"
_NAME = re.compile(r"^rims-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)-([a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)"
                   r"(?:-(\d+))?\.sqlite3$")
_PARTIAL_PREFIX = ".rims-"
_STALE_PARTIAL = 3600.0  # a hidden copy this old was left by a process that died


class BackupFailed(RuntimeError):
    """No backup was made (the older ones are all still there); the message says why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: float  # unix time, from the name
    reason: str
    sequence: int = 0  # several with the same reason in one second

    @property
    def local_time(self) -> str:
        return datetime.fromtimestamp(self.taken_at).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def directory_for(db_path: Path) -> Path:
    return db_path.parent / DIR_NAME


def stamp(moment: float) -> str:
    """A time as it appears in file names: UTC, sortable, no characters Windows refuses."""
    return datetime.fromtimestamp(moment, UTC).strftime(_STAMP)


def parse(path: Path) -> Backup | None:
    """The backup a file name describes; None for any other file."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    taken = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC).timestamp()
    return Backup(path, taken, match[2], int(match[3] or 0))


def list_backups(directory: Path, reason: str | None = None) -> list[Backup]:
    """Backups in ``directory`` (of one reason, if given), newest first."""
    try:
        paths = list(directory.iterdir())
    except OSError:
        return []
    found = [b for b in map(parse, paths) if b is not None and b.path.is_file()]
    if reason is not None:
        found = [b for b in found if b.reason == reason]
    return sorted(found, key=lambda b: (b.taken_at, b.sequence), reverse=True)


def take(source: Path | sqlite3.Connection, directory: Path, reason: str, keep: int = KEEP,
         now: float | None = None) -> Backup:
    """Copy the database (a path, or an open connection to it) into ``directory``, verify the
    copy, then prune older backups of the same reason down to ``keep``. Blocking: call it from
    a thread, never from the event loop. Raises BackupFailed."""
    if not _NAME.match(f"rims-{stamp(0)}-{reason}.sqlite3"):
        raise ValueError(f"not a backup reason: {reason!r}")
    directory.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(directory)
    backup = _free_name(directory, time.time() if now is None else now, reason)
    partial = directory / f"{_PARTIAL_PREFIX}{backup.path.name[5:]}.{os.getpid()}.partial"
    try:
        _copy(source, partial)
        problem = integrity.find_problem(partial)
        if problem is not None:
            raise BackupFailed(f"the copy is damaged, so the database itself may be: {problem}")
        os.replace(partial, backup.path)
        sync_directory(directory)
    except (OSError, sqlite3.Error) as why:
        raise BackupFailed(f"the backup into {directory} failed: {_reason(why)}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    log.info("database backed up to %s", backup.path)
    for old in prune(directory, reason, keep):
        log.info("old backup removed: %s", old.path.name)
    return backup


def prune(directory: Path, reason: str, keep: int = KEEP) -> list[Backup]:
    """Remove all but the newest ``keep`` backups of ``reason``; returns what was removed."""
    removed = []
    for old in list_backups(directory, reason)[max(keep, 1):]:
        try:
            old.path.unlink()
        except OSError as why:
            log.warning("could not remove the old backup %s: %s", old.path, why)
        else:
            removed.append(old)
    return removed


def restore_advice(db_path: Path, shown: int = 3) -> str:
    """What a shopkeeper can do about a damaged database, naming the newest backups."""
    directory = directory_for(db_path)
    found = list_backups(directory)
    data_dir = db_path.parent
    if not found:
        return (f"There is no backup in {directory}. Keep the damaged file (do not delete it) "
                f"and ask for support. To start again with an empty database, move "
                f"{db_path.name} out of {data_dir}; invoices not yet sent to KPRA must then be "
                "sent again from the till.")
    lines = ["To bring back the invoices from the newest backup, run this, then start RIMS "
             "Utility again:",
             f"    rims-utility restore {_argument(found[0].path)} --data-dir "
             f"{_argument(data_dir)}",
             "Newest backups (rims-utility backups lists them all):"]
    lines += [f"    {b.local_time}  {b.reason:<10} {b.path}" for b in found[:shown]]
    lines.append("The restore keeps the damaged file (renamed, not deleted). Invoices the till "
                 "sent after the backup was taken are not in the backup: send them again from "
                 "the till.")
    return "\n".join(lines)


def _copy(source: Path | sqlite3.Connection, target: Path) -> None:
    destination = sqlite3.connect(str(target))
    try:
        if isinstance(source, sqlite3.Connection):
            source.backup(destination)
        else:
            # mode=ro, not immutable: the service may be writing (its -wal exists).
            reader = sqlite3.connect(integrity.uri(source, mode="ro"), uri=True, timeout=30)
            try:
                reader.backup(destination)  # pages=-1: one step, one consistent snapshot
            finally:
                reader.close()
        # One self-contained file: no -wal/-shm beside a backup, even when read.
        destination.execute("PRAGMA journal_mode=DELETE").fetchall()
    finally:
        destination.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def _free_name(directory: Path, moment: float, reason: str) -> Backup:
    taken_at = float(int(moment))
    base = f"rims-{stamp(taken_at)}-{reason}"
    for sequence in range(1000):
        name = f"{base}.sqlite3" if sequence == 0 else f"{base}-{sequence}.sqlite3"
        if not (directory / name).exists():
            return Backup(directory / name, taken_at, reason, sequence)
    raise BackupFailed(f"too many backups named {base} in {directory}")


def _remove_stale_partials(directory: Path) -> None:
    for path in directory.glob(f"{_PARTIAL_PREFIX}*.partial"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _STALE_PARTIAL:
                path.unlink()


def sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a directory for this)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(why: BaseException) -> str:
    if isinstance(why, OSError):
        return why.strerror or str(why)
    text = str(why)
    return "the disk is full" if "full" in text.lower() else text


def _argument(path: Path) -> str:
    """A path as typed on a command line (quoted if it has spaces)."""
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text
