"""When the disk does not take an invoice the POS hears 503, nothing already stored changes,
and intake resumes by itself once there is room again. SQLite's own limit on the database size
(max_page_count on the writer's connection) produces the same SQLITE_FULL error a full disk does."""

from tests.conftest import wait_for
from tests.integration.conftest import invoice


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

    big_note = "x" * 30000  # needs new pages, so the insert cannot fit
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
