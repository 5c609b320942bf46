"""`rims-utility backups` and `rims-utility restore BACKUP` (store/backups.py, store/restore.py).

Restore takes the data folder's instance lock (service/instance.py) for the whole time, so it
refuses while a service runs there, and no service can start half-way through."""

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app import logs, settings
from app.domain.invoice import wire_time

if TYPE_CHECKING:
    from app.store.backups import Backup
    from app.store.restore import Restored

log = logging.getLogger("rims")


def add_commands(commands: argparse._SubParsersAction,
                 data_dir_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    listing = commands.add_parser("backups", help="list the database backups, newest first")
    data_dir_flag(listing)
    restore = commands.add_parser(
        "restore", help="put a backup in place of the database (the service must be stopped)")
    restore.add_argument("backup", metavar="BACKUP",
                         help="the backup file: a path, or a name from `rims-utility backups`")
    data_dir_flag(restore)


def list_backups(args: argparse.Namespace) -> int:
    from app.store import backups

    config = settings.load(args.data_dir)
    directory = backups.directory_for(config.db_path)
    found = backups.list_backups(directory)
    if not found:
        print(f"No backups yet in {directory}. RIMS Utility takes one every day while it runs.")
        return 0
    print(f"Backups in {directory} (newest first, times are this PC's):")
    for backup in found:
        print(f"  {backup.local_time}  {backup.reason:<10} {_size(backup.size):>9}  "
              f"{backup.path.name}")
    print(f"To restore one, stop RIMS Utility, then: rims-utility restore NAME --data-dir "
          f"{_argument(config.data_dir)}")
    return 0


def restore(args: argparse.Namespace) -> int:
    from app.service import instance
    from app.store import backups
    from app.store import restore as restoring

    config = settings.load(args.data_dir)
    source = _find(Path(args.backup), backups.directory_for(config.db_path))
    try:
        lock = instance.InstanceLock(config.data_dir).acquire()
    except instance.AlreadyRunning as why:
        print(f"rims-utility restore: {why}\nA database cannot be restored while RIMS Utility "
              "uses it: stop it (close the tray app, or end `rims-utility serve`), then run the "
              "restore again.", file=sys.stderr)
        return 1
    try:
        logs.setup(config.log_dir, console=False)
        done = restoring.restore(source, config.db_path)
    except restoring.RestoreRefused as why:
        print(f"rims-utility restore: {why}", file=sys.stderr)
        return 1
    except OSError as why:
        print(f"rims-utility restore: the restore failed ({why}). Check {config.data_dir}: "
              "the previous database is either still in place or renamed beside it.",
              file=sys.stderr)
        return 1
    finally:
        lock.release()
    log.warning("database restored from %s; the previous one was moved to %s", done.backup,
                ", ".join(str(p) for p in done.moved_aside) or "(there was none)")
    _report(done, backups.parse(done.backup))
    return 0


def _report(done: "Restored", named: "Backup | None") -> None:
    when = f" taken {named.local_time}" if named is not None else ""
    print(f"Restored the invoice database from the backup{when}:\n    {done.backup}")
    if done.moved_aside:
        print("The previous database was moved aside (not deleted):")
        for path in done.moved_aside:
            print(f"    {path}")
    contents = done.contents
    if contents.invoices == 0:
        print("The restored database holds no invoices.")
    else:
        print(f"The restored database holds {contents.invoices:,} invoice(s).")
        if contents.pending:
            print(f"{contents.pending:,} of them were not yet confirmed by KPRA in the backup: "
                  "they will be sent (again) when RIMS Utility starts; KPRA's answer that one "
                  "is a duplicate counts as sent.")
    if contents.newest_invoice is not None:
        pos_id, invoice_no = contents.newest_invoice
        print(f"The newest invoice in it was received {wire_time(contents.newest_received_at)} "
              f"(invoice {invoice_no} of POS {pos_id}).")
        print("Invoices the till sent after that time are not in it: send them again from the "
              "till.")
    print("Start RIMS Utility again to continue (rims-utility serve).")


def _find(given: Path, directory: Path) -> Path:
    """A path as given, or else a name in the backups folder."""
    if given.exists() or given.name != str(given):
        return given
    return directory / given.name


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    scaled, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def _argument(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text
