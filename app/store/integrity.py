"""Is a database file sound? Checked before anything opens it for writing, and on every backup.

The check never writes: not to the file, not to its -wal, and it creates no -wal or -shm. With no
-wal beside the file, nobody has it open in WAL mode (SQLite deletes the -wal when the last
connection closes), so it is read with ``immutable=1`` (no locks, no -shm; ``mode=ro`` would
create an empty -wal and -shm). Should another program write it meanwhile, the file's size or
time changes and the check runs again. With a -wal (the service runs, or it stopped without
closing), it is read with ``mode=ro``, which reads the -wal but never checkpoints it.

Which check, and what it costs (measured on a 547 MB file with a million invoices and a million
attempts, SQLite 3.40, 2-core VM; ``bench`` commands in the docstring of ``find_problem``):

    ==========================  ============  ==========================
    check                       warm cache    cold cache (after a boot)
    ==========================  ============  ==========================
    PRAGMA quick_check          0.6–1.1 s     10 s
    PRAGMA integrity_check      2.1 s         9.4 s
    read the file, then quick   0.8–1.7 s     0.8–1.7 s (the same)
    ==========================  ============  ==========================

``quick_check`` is what runs: it walks every b-tree page (page structure, cell bounds, free
list, page ownership, record formats, NOT NULL), which is what a torn write, a truncated file or
a disk error breaks. ``integrity_check`` also cross-checks every index against its table, which
costs twice as much and finds nothing a disk fault does not also show to ``quick_check``.

On a cold cache (the usual start: the shop PC just booted) the b-tree walk is random I/O and
took 10 s. Reading the file once from start to end first (sequential, so the OS reads ahead)
puts it in the OS cache, and the walk then runs at warm speed: about a second in all, for a
million invoices. The same read also finds sectors the disk can no longer read."""

import sqlite3
import struct
from pathlib import Path

_MAGIC = b"SQLite format 3\x00"
_READ_CHUNK = 4 << 20
_SHOWN = 3  # problems quoted from quick_check


class DamagedDatabase(RuntimeError):
    """The file cannot be used as it is. The message says what happened, where and what to do."""

    def __init__(self, path: Path, problem: str, advice: str = ""):
        self.path, self.problem = path, problem
        text = (f"The invoice database is damaged, so RIMS Utility will not use it and has not "
                f"changed it.\n  File: {path}\n  What is wrong: {problem}")
        super().__init__(text + ("\n" + advice if advice else ""))


def uri(path: Path, **params: str) -> str:
    """A ``file:`` URI SQLite accepts for any path (spaces, ``#``, ``?``, Windows drives)."""
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return path.absolute().as_uri() + (f"?{query}" if query else "")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to ``path`` (see the module docstring)."""
    if _wal_size(path) is not None:
        return sqlite3.connect(uri(path, mode="ro"), uri=True, timeout=10)
    return sqlite3.connect(uri(path, immutable="1"), uri=True)


def find_problem(path: Path) -> str | None:
    """None if ``path`` is a sound SQLite database, else what is wrong, in plain words.

    An empty file counts as sound here (SQLite treats it as a new database); whether it should
    be empty is the caller's question. Measured with (cold: ``echo 3 > /proc/sys/vm/drop_caches``
    first): ``python -c "import sqlite3,time;c=sqlite3.connect('file:rims.sqlite3?immutable=1',
    uri=True);t=time.time();c.execute('pragma quick_check').fetchall();print(time.time()-t)"``."""
    for _ in range(3):
        before = _stamp(path)
        problem = _problem(path)
        if problem is None or _stamp(path) == before:
            return problem
        # The file changed while it was read (another program wrote it); look again.
    return problem


def _problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as why:
        return f"the file cannot be read ({why.strerror or why})"
    if size == 0:
        return None
    if len(header) < 100 or not header.startswith(_MAGIC):
        return ("it is not an SQLite database file: its first bytes were overwritten, or it was "
                "never completely written")
    expected = _expected_size(header)
    if expected and size < expected and not _wal_size(path):
        return (f"the file is cut off (truncated): it has {size:,} bytes of the {expected:,} "
                "it should have")
    try:
        _read_through(path)
    except OSError as why:
        return f"the disk could not read the whole file ({why.strerror or why})"
    try:
        connection = connect_read_only(path)
        try:
            rows = connection.execute(f"PRAGMA quick_check({_SHOWN})").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as why:
        name = getattr(why, "sqlite_errorname", "")
        if name == "SQLITE_NOTADB":
            return "it is not an SQLite database file (SQLite: file is not a database)"
        if name.startswith("SQLITE_CORRUPT"):
            return f"its contents are damaged (SQLite: {why})"
        if name.startswith("SQLITE_IOERR"):
            return f"the disk could not read the whole file (SQLite: {why})"
        raise  # not about the file's contents (e.g. no permission): the caller reports it
    found = [line.strip() for row in rows for line in str(row[0]).splitlines()
             if line.strip() and not line.startswith("***")]  # "*** in database main ***"
    if found == ["ok"]:
        return None
    return "its contents are damaged (SQLite found: " + "; ".join(found[:_SHOWN]) + ")"


def _expected_size(header: bytes) -> int:
    """Page size × page count from the header, when the header says its count is valid."""
    page_size = struct.unpack_from(">H", header, 16)[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack_from(">II", header, 24)
    valid_for = struct.unpack_from(">I", header, 92)[0]
    if page_count == 0 or change_counter != valid_for:
        return 0
    return page_size * page_count


def _read_through(path: Path) -> None:
    with open(path, "rb", buffering=0) as handle:
        while handle.read(_READ_CHUNK):
            pass


def _wal_size(path: Path) -> int | None:
    """The size of the -wal beside ``path``; None when there is none."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size
    except OSError:
        return None


def _stamp(path: Path) -> tuple[int, int, int | None]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1, None)
    return (stat.st_size, stat.st_mtime_ns, _wal_size(path))
