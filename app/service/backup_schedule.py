"""The daily backup, as a background task of the running service (store/backups.py does the
work, in a thread: the event loop never waits for it).

At start, a backup is taken if the newest daily one is older than the interval (24 h), or there
is none; then one whenever the newest becomes that old. Due times come from the backups' names
(wall-clock time), and the task looks again at least every ten minutes, so a PC that slept or
hibernated through the due time backs up soon after it wakes. A failed backup is logged and
tried again after a shorter wait; the service keeps running and the older backups stay."""

import asyncio
import logging
import time
from pathlib import Path

from app.store import backups

log = logging.getLogger(__name__)

LOOK_AGAIN = 600.0  # at most this long between looks at the clock (sleep/hibernate)
RETRY_AFTER = 3600.0  # after a failed backup (e.g. disk full), at most this long


async def keep_daily_backups(db_path: Path, interval: float, keep: int) -> None:
    """Run until cancelled."""
    directory = backups.directory_for(db_path)
    last_taken = 0.0  # names have whole seconds; this run's own backups count to the instant
    while True:
        newest = await asyncio.to_thread(_newest_daily, directory)
        latest = max(newest.taken_at if newest is not None else 0.0, last_taken)
        wait = latest + interval - time.time() if latest else 0.0
        if wait > 0:
            await asyncio.sleep(min(wait, interval, LOOK_AGAIN))
            continue
        try:
            await asyncio.to_thread(backups.take, db_path, directory, backups.DAILY, keep)
            last_taken = time.time()
        except backups.BackupFailed as why:
            log.error("The daily database backup failed: %s. The older backups are kept; "
                      "trying again later.", why)
            await asyncio.sleep(min(interval, RETRY_AFTER))
        except Exception:  # a bug must not end the backups for the rest of the run
            log.exception("The daily database backup failed unexpectedly")
            await asyncio.sleep(min(interval, RETRY_AFTER))


def _newest_daily(directory: Path) -> backups.Backup | None:
    """The newest daily backup, ignoring any dated in the future (the clock was put back)."""
    now = time.time()
    found = [b for b in backups.list_backups(directory, backups.DAILY) if b.taken_at <= now + 60]
    return found[0] if found else None
