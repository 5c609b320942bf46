"""When the disk does not take an invoice the POS hears 503, nothing already stored changes,
and intake resumes by itself once there is room again. SQLite's own limit on the database size
(max_page_count on the writer's connection) produces the same SQLITE_FULL error a full disk does."""

import base64
import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.conftest import Utility, configure_pos, invoice


def _limit_pages(db, pages: int | None) -> None:  # runs in the writer process
    db.execute_sql(f"PRAGMA max_page_count = {1073741823 if pages is None else int(pages)}")


def _count_pages(db) -> int:  # runs in the writer process
    return db.execute_sql("PRAGMA page_count").fetchone()[0]


async def _set_max_pages(utility, pages: int | None) -> None:
    await utility.core.store.writer.submit(_limit_pages, pages)  # on the writer's connection


async def _page_count(utility) -> int:
    return await utility.core.store.writer.submit(_count_pages)


async def test_full_storage_answers_503_and_recovers(utility):
    status, _, _ = await utility.post(invoice("KEEP-1"))
    assert status == 201
    await wait_for(lambda: _synced(utility, "KEEP-1"), what="KEEP-1 synced")
    await _set_max_pages(utility, await _page_count(utility))  # no room for one more page

    # Needs new pages, so the insert cannot fit: random, since the till's JSON is stored
    # deflated (a note of one repeated letter would take a few bytes).
    big_note = base64.b64encode(os.urandom(22_500)).decode()
    status, answer, headers = await utility.post(invoice("FULL-1", note=big_note))
    assert status == 503, answer
    assert answer["status"] == 503 and "NOT saved" in answer["message"]
    assert "disk is full" in answer["message"]
    assert headers.get("Retry-After") == "5"
    assert await utility.state_of("FULL-1") is None, "a 503 must mean nothing was stored"
    kept = await utility.status_of("KEEP-1")
    assert kept["state"] == "synced" and kept["transaction_id"], "stored invoices are untouched"

    await _set_max_pages(utility, None)  # space is back
    status, _, _ = await utility.post(invoice("FULL-1", note=big_note))
    assert status == 201
    await wait_for(lambda: _synced(utility, "FULL-1"), what="FULL-1 synced after space returned")


async def _synced(utility, number: str) -> bool:
    return await utility.state_of(number) == "synced"


# ------------------------------------------------------------ a real full filesystem

@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, mounted for this test (needs the right to mount: root here)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if not sys.platform.startswith("linux"):
        pytest.skip("a size-limited tmpfs needs Linux; the SQLITE_FULL test above still runs")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=700", "tmpfs",
                             str(mount_point)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a size-limited tmpfs on this machine "
                    f"({(result.stderr or result.stdout).strip() or 'mount failed'}); the "
                    "SQLITE_FULL test above still runs")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(path: Path) -> Path:
    """Fill the filesystem holding ``path`` to the last byte."""
    filler = path / "filler.bin"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        while True:  # big chunks, then smaller ones, until not even one byte fits
            try:
                out.write(chunk)
            except OSError as why:
                if why.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[:len(chunk) // 2]
    assert shutil.disk_usage(path).free < 65536, "the filesystem did not fill up"
    return filler


async def test_a_really_full_disk_answers_503_keeps_everything_and_recovers(
        small_filesystem, sandbox):
    data_dir = small_filesystem / "data"
    configure_pos(data_dir)
    utility = await Utility(data_dir, sandbox).start()
    try:
        acknowledged = []
        for n in range(20):
            status, _, _ = await utility.post(invoice(f"DISK-{n}"))
            assert status == 201
            acknowledged.append(f"DISK-{n}")
        filler = _fill(small_filesystem)
        note = "x" * 20000  # every post needs new pages now
        statuses = []
        for n in range(40):
            status, answer, headers = await utility.post(invoice(f"NOROOM-{n}", note=note))
            statuses.append(status)
            if status == 201:
                acknowledged.append(f"NOROOM-{n}")
                continue
            assert status == 503, answer
            assert "disk is full" in answer["message"] and "NOT saved" in answer["message"]
            assert headers.get("Retry-After") == "5"
            assert await utility.state_of(f"NOROOM-{n}") is None, "a 503 must store nothing"
        assert 503 in statuses, f"the disk never filled up: {statuses}"

        filler.unlink()  # space is back: intake resumes by itself, no restart
        status, _, _ = await utility.post(invoice("AFTER-1", note=note))
        assert status == 201
        acknowledged.append("AFTER-1")
        for number in acknowledged:
            await wait_for(lambda n=number: _synced(utility, n), what=f"{number} synced")
    finally:
        await utility.stop()
    database = sqlite3.connect(data_dir / "rims.sqlite3")
    try:
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {n for (n,) in database.execute("SELECT invoice_no FROM invoice")}
    finally:
        database.close()
    assert set(acknowledged) <= stored
