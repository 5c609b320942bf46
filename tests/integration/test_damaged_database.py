"""A damaged database is refused untouched; daily backups; `rims-utility restore` (issue 3, item 4).

Real SQLite files damaged on disk, real `rims-utility` processes."""

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from app.store import backups, database, integrity, repository
from app.store import restore as restoring
from app.store.database import open_database
from tests.conftest import wait_for
from tests.integration.conftest import POS_ID, invoice
from tests.integration.test_cli import CLI, _up, free_port, run_cli

DB = "rims.sqlite3"
GOLDEN_INVOICES = 60


# ---------------------------------------------------------------- helpers

def _start(data_dir: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "serve", "--practice", "--port", str(port),
                             "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group: the writer dies with it


async def _stop(process: subprocess.Popen) -> str:
    """SIGTERM, wait for a clean exit (the database is closed and its -wal folded in)."""
    try:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output
    return output


async def _post(http: aiohttp.ClientSession, number: str) -> int:
    async with http.post("/api/invoice", json=invoice(number)) as response:
        return response.status


async def _state(http: aiohttp.ClientSession, number: str) -> str | None:
    async with http.get(f"/api/invoices/{POS_ID}/{number}") as response:
        if response.status == 404:
            return None
        return (await response.json())["data"]["state"]


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(directory: Path) -> dict[str, str]:
    return {p.name: _hash(p) for p in sorted(directory.iterdir()) if p.is_file()}


def _config(data_dir: Path, **values: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()]
    (data_dir / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _backup_holding(directory: Path, invoices: int) -> backups.Backup | None:
    for backup in backups.list_backups(directory):
        try:
            if restoring.inspect(backup.path).invoices == invoices:
                return backup
        except restoring.RestoreRefused:
            pass
    return None


async def _fill(data_dir: Path, count: int) -> None:
    port = free_port()
    process = _start(data_dir, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer")
            for n in range(count):
                assert await _post(http, f"G-{n}") == 201
            for n in range(count):  # all sent: nothing changes in the file after this
                await wait_for(lambda n=n: _is(http, f"G-{n}", "synced"), what=f"G-{n} synced")
    finally:
        await _stop(process)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose database holds GOLDEN_INVOICES invoices, closed cleanly (no -wal),
    with the daily backup the service took at its start."""
    data_dir = tmp_path_factory.mktemp("golden") / "data"
    with ThreadPoolExecutor(1) as pool:  # its own event loop, away from the tests' loops
        pool.submit(asyncio.run, _fill(data_dir, GOLDEN_INVOICES)).result(timeout=120)
    assert (data_dir / DB).exists() and not (data_dir / (DB + "-wal")).exists()
    assert backups.list_backups(data_dir / "backups", backups.DAILY)
    return data_dir


@pytest.fixture
def data_dir(golden: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(golden, copy, ignore=shutil.ignore_patterns("rims-utility.lock"))
    return copy


# ---------------------------------------------------------------- ways a file gets damaged

def _overwrite_middle_pages(path: Path) -> None:
    size = path.stat().st_size
    pages = size // 4096
    with open(path, "r+b") as handle:
        handle.seek(pages // 3 * 4096)
        handle.write(bytes([0xA5]) * (max(pages // 3, 1) * 4096))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage_header(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.write(b"this is not an SQLite header, it was overwritten!!" * 2)


def _empty(path: Path) -> None:
    os.truncate(path, 0)


DAMAGE = {
    "middle-pages": (_overwrite_middle_pages, "contents are damaged"),
    "truncated": (_truncate, "cut off"),
    "garbage-header": (_garbage_header, "not an SQLite database"),
    "emptied": (_empty, "empty"),
}


# ---------------------------------------------------------------- start-up refuses

@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_database_is_refused_at_start_and_left_untouched(data_dir: Path, damage: str):
    db = data_dir / DB
    damage_file, what = DAMAGE[damage]
    damage_file(db)
    before, backups_before = _hash(db), _hashes(data_dir / "backups")

    result = run_cli("serve", "--practice", "--port", "0", "--data-dir", str(data_dir))

    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr
    assert "database is damaged" in message and what in message
    assert str(db) in message
    newest = backups.list_backups(data_dir / "backups")[0]
    assert f"rims-utility restore {newest.path} --data-dir {data_dir}" in message
    assert newest.local_time in message, "the backups are listed with their dates"
    assert _hash(db) == before, "the damaged file was written to"
    assert not (data_dir / (DB + "-wal")).exists() and not (data_dir / (DB + "-shm")).exists()
    assert _hashes(data_dir / "backups") == backups_before, "no backup of a damaged file"

    status = run_cli("status", "--data-dir", str(data_dir))  # the same answer, no traceback
    assert status.returncode == 1 and "rims-utility restore" in status.stderr
    assert "Traceback" not in status.stderr
    assert _hash(db) == before and not (data_dir / (DB + "-wal")).exists()


# ---------------------------------------------------------------- daily backups

async def test_a_daily_backup_is_taken_at_start_then_every_interval_keeping_seven(
        data_dir: Path):
    directory = data_dir / "backups"
    shutil.rmtree(directory)
    directory.mkdir()
    source = data_dir / DB
    day = 86400
    now = time.time()
    old_daily = [directory / f"rims-{backups.stamp(now - d * day)}-daily.sqlite3"
                 for d in range(10, 1, -1)]  # nine, 10 to 2 days old: a start-up backup is due
    migration = directory / f"rims-{backups.stamp(now - 30 * day)}-before-v2.sqlite3"
    for path in [*old_daily, migration]:
        shutil.copyfile(source, path)
    _config(data_dir, backup_interval=0.5)  # keep: the default, 7

    port = free_port()
    process = _start(data_dir, port)
    try:
        def taken() -> list[backups.Backup]:
            return [b for b in backups.list_backups(directory, backups.DAILY)
                    if b.path not in old_daily]

        await wait_for(lambda: len(taken()) >= 3, what="a backup at start, then two more")
        await wait_for(lambda: len(backups.list_backups(directory, backups.DAILY)) == 7,
                       what="pruning down to seven daily backups")
    finally:
        await _stop(process)

    daily = backups.list_backups(directory, backups.DAILY)
    assert len(daily) == 7
    kept_old = [b.path for b in daily if b.path in old_daily]
    assert kept_old == sorted(kept_old, reverse=True) and kept_old == old_daily[::-1][:len(kept_old)]
    assert migration.exists(), "a backup taken before a migration is not pushed out by dailies"
    assert not list(directory.glob(".*")), "no half-made copies left behind"
    newest = daily[0]
    assert integrity.find_problem(newest.path) is None
    assert restoring.inspect(newest.path).invoices == GOLDEN_INVOICES
    assert not newest.path.with_name(newest.path.name + "-wal").exists()

    listing = run_cli("backups", "--data-dir", str(data_dir))
    assert listing.returncode == 0
    assert listing.stdout.index(newest.path.name) < listing.stdout.index(migration.name)


def test_a_migration_is_preceded_by_a_verified_backup(data_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    """The next schema version (a step that adds a table) stands in for a real future one."""
    def _next(db: object) -> None:
        db.execute_sql("CREATE TABLE next_feature (id INTEGER PRIMARY KEY)")  # type: ignore

    current = database.SCHEMA_VERSION
    monkeypatch.setattr(database, "MIGRATIONS", [*database.MIGRATIONS, _next])
    monkeypatch.setattr(database, "SCHEMA_VERSION", len(database.MIGRATIONS))
    open_database(data_dir / DB).close()
    taken = backups.list_backups(data_dir / "backups", f"before-v{current + 1}")
    assert len(taken) == 1
    contents = restoring.inspect(taken[0].path)
    assert (contents.schema_version, contents.invoices) == (current, GOLDEN_INVOICES)


def test_backups_taken_in_the_same_second_get_names_in_order(tmp_path: Path, data_dir: Path):
    directory = tmp_path / "backups"
    made = [backups.take(data_dir / DB, directory, backups.DAILY, keep=2, now=1_800_000_000.5)
            for _ in range(3)]
    assert [b.path.name for b in made] == [
        "rims-2027-01-15T08-00-00Z-daily.sqlite3", "rims-2027-01-15T08-00-00Z-daily-1.sqlite3",
        "rims-2027-01-15T08-00-00Z-daily-2.sqlite3"]
    assert backups.list_backups(directory) == made[:0:-1], "newest first, the oldest pruned"


def test_a_backup_of_a_damaged_database_is_discarded_and_the_older_ones_kept(data_dir: Path):
    directory = data_dir / "backups"
    before = _hashes(directory)
    _overwrite_middle_pages(data_dir / DB)
    with pytest.raises(backups.BackupFailed, match="damaged"):
        backups.take(data_dir / DB, directory, backups.DAILY, keep=1)
    assert _hashes(directory) == before, "nothing pruned, nothing half-made left"


# ---------------------------------------------------------------- restore

async def test_restore_brings_back_the_invoices_and_the_service_takes_new_ones(tmp_path: Path):
    data_dir = tmp_path / "data"
    _config(data_dir, backup_interval=0.3, backup_keep=1000, sending_paused=True)
    port = free_port()
    process = _start(data_dir, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer")
            for n in range(1, 6):
                assert await _post(http, f"R-{n}") == 201
            chosen = await wait_for(lambda: _backup_holding(data_dir / "backups", 5),
                                    what="a backup holding the five invoices")
            assert await _post(http, "R-6") == 201  # after the backup: must be sent again
    finally:
        await _stop(process)

    db = data_dir / DB
    _overwrite_middle_pages(db)
    damaged = _hash(db)
    result = run_cli("restore", chosen.path.name, "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "holds 5 invoice(s)" in result.stdout
    assert "invoice R-5 of POS" in result.stdout and "send them again" in result.stdout
    assert "5 of them were not yet confirmed" in result.stdout
    moved = list(data_dir.glob(f"{DB}.damaged-*"))
    assert len(moved) == 1 and _hash(moved[0]) == damaged, "the damaged file is kept as it was"
    assert str(moved[0]) in result.stdout

    database = open_database(db)  # the unconfirmed ones may have reached KPRA since
    with database.connection_context():
        record = repository.get_invoice(database, POS_ID, "R-1")
        assert record is not None and record.ambiguous
    database.close()

    _config(data_dir, backup_interval=0.3, backup_keep=1000)  # sending on again
    port = free_port()
    process = _start(data_dir, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer after the restore")
            for n in range(1, 6):
                await wait_for(lambda n=n: _is(http, f"R-{n}", "synced"), what=f"R-{n} synced")
            assert await _state(http, "R-6") is None
            assert await _post(http, "R-7") == 201
            await wait_for(lambda: _is(http, "R-7", "synced"), what="R-7 synced")
    finally:
        await _stop(process)


async def _is(http: aiohttp.ClientSession, number: str, state: str) -> bool:
    return await _state(http, number) == state


async def test_a_sale_sent_again_after_a_restore_is_synced_not_rejected(tmp_path: Path):
    """The backup predates an invoice that did reach KPRA. After the restore the till sends it
    again; KPRA says it already has it. That is our own earlier send, not another program's, so
    the invoice is synced, not rejected (a new sale after the restore keeps the strict rule)."""
    data_dir = tmp_path / "data"
    _config(data_dir, backup_interval=0.3, backup_keep=1000)
    port = free_port()
    process = _start(data_dir, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer")
            assert await _post(http, "S-1") == 201
            await wait_for(lambda: _is(http, "S-1", "synced"), what="S-1 synced")
            chosen = await wait_for(lambda: _backup_holding(data_dir / "backups", 1),
                                    what="a backup holding S-1")
            assert await _post(http, "S-2") == 201  # reaches KPRA, but is not in the backup
            await wait_for(lambda: _is(http, "S-2", "synced"), what="S-2 synced")
    finally:
        await _stop(process)

    _overwrite_middle_pages(data_dir / DB)
    result = run_cli("restore", chosen.path.name, "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr

    port = free_port()
    process = _start(data_dir, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer after the restore")
            assert await _state(http, "S-2") is None, "S-2 was lost with the damaged file"
            assert await _post(http, "S-2") == 201  # the till sends it again
            await wait_for(lambda: _state_in(http, "S-2", {"synced", "rejected"}),
                           what="S-2 sent again")
            assert await _state(http, "S-2") == "synced"
    finally:
        await _stop(process)


async def _state_in(http: aiohttp.ClientSession, number: str, states: set[str]) -> bool:
    return await _state(http, number) in states


def test_restore_refuses_a_damaged_backup_and_changes_nothing(data_dir: Path):
    backup = backups.list_backups(data_dir / "backups")[0].path
    bad = backup.with_name(backup.name.replace("daily", "manual"))
    shutil.copyfile(data_dir / DB, bad)
    _garbage_header(bad)
    before = _hashes(data_dir)

    result = run_cli("restore", str(bad), "--data-dir", str(data_dir))

    assert result.returncode == 1
    assert "is damaged" in result.stderr and "Nothing was changed" in result.stderr
    after = _hashes(data_dir)
    after.pop("rims-utility.lock", None)  # the lock the restore held
    assert after == before
    missing = run_cli("restore", "no-such-backup.sqlite3", "--data-dir", str(data_dir))
    assert missing.returncode == 1 and "There is no backup file" in missing.stderr


async def test_restore_refuses_while_the_service_runs(data_dir: Path):
    backup = backups.list_backups(data_dir / "backups")[0].path
    port = free_port()
    process = _start(data_dir, port)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer")
            result = await asyncio.to_thread(run_cli, "restore", str(backup),
                                             "--data-dir", str(data_dir))
            assert result.returncode == 1
            assert "already running" in result.stderr and "stop it" in result.stderr
            assert not list(data_dir.glob(f"{DB}.*")), "nothing was moved aside"
            assert await _state(http, "G-0") == "synced", "the running service still has it"
    finally:
        await _stop(process)
