"""The async face of the store for code on the event loop: writes through the single writer,
reads on a small thread pool (blocking SQLite never runs on the loop thread)."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import peewee

from app.domain.states import State
from app.store import listing, reports
from app.store import repository as repo
from app.store.database import open_database
from app.store.records import AttemptRecord, InvoiceRecord, PosRecord, Summary
from app.store.writer import Writer


class Store:
    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop):
        self.path = path
        self.database: peewee.SqliteDatabase = open_database(path)
        self.writer = Writer(path, loop)
        # Each reader thread keeps its own connection open for its whole life.
        self._readers = ThreadPoolExecutor(
            max_workers=2, thread_name_prefix="rims-db-read",
            initializer=lambda: self.database.connect(reuse_if_open=True))
        self._loop = loop

    async def start(self) -> None:
        """Start the writer process."""
        await self.writer.start()

    async def close(self) -> None:
        await self.writer.stop()
        self._readers.shutdown(wait=True)
        self.database.close()

    async def _read(self, fn: Any, *args: Any) -> Any:
        return await self._loop.run_in_executor(self._readers, fn, self.database, *args)

    def _write(self, fn: Any, *args: Any) -> asyncio.Future:
        return self.writer.submit(fn, *args)

    # writes
    def write_batched(self, fn: Any, item: Any, prepare: Any = None) -> asyncio.Future:
        """Group-commit ``item`` with every other pending one of ``fn`` (see Writer)."""
        return self.writer.submit_batched(fn, item, prepare)

    def set_writer_context(self, **values: Any) -> None:
        """What ``prepare`` steps in the writer process see (e.g. the POS credentials)."""
        self.writer.set_context(**values)

    async def claim_due(self, limit: int) -> list[InvoiceRecord]:
        return await self._write(repo.claim_due, time.time(), limit)

    async def recover_interrupted(self, keep: list[int] | None = None) -> int:
        return await self._write(repo.recover_interrupted, time.time(), keep or [])

    async def mark_synced(self, invoice_id: int, transaction_id: str | None,
                          attempt: AttemptRecord, upstream_ref: str | None = None,
                          receipt_url: str | None = None) -> None:
        await self._write(repo.mark_synced, invoice_id, transaction_id, attempt, upstream_ref,
                          receipt_url)

    async def mark_submitted(self, invoice_id: int, upstream_ref: str | None,
                             next_attempt_at: float, attempt: AttemptRecord) -> None:
        """Kenya: the upstream holds it but has not finished (docs/KENYA.md, Submitted)."""
        await self._write(repo.mark_submitted, invoice_id, upstream_ref, next_attempt_at, attempt)

    async def mark_retry(self, invoice_id: int, next_attempt_at: float, ambiguous: bool,
                         attempt: AttemptRecord) -> None:
        await self._write(repo.mark_retry, invoice_id, next_attempt_at, ambiguous, attempt)

    async def mark_rejected(self, invoice_id: int, attempt: AttemptRecord) -> None:
        await self._write(repo.mark_rejected, invoice_id, attempt)

    async def hold_pos(self, pos_id: str, reason: str, invoice_id: int | None = None,
                       attempt: AttemptRecord | None = None) -> None:
        await self._write(repo.hold_pos, pos_id, reason, invoice_id, attempt)

    async def release_pos(self, pos_id: str) -> int:
        return await self._write(repo.release_pos, pos_id)

    async def upsert_pos(self, ntn: str, pos_id: str, upstream: str = "kpra") -> None:
        await self._write(repo.upsert_pos, ntn, pos_id, upstream)

    async def retry_invoice(self, invoice_id: int, who: str) -> tuple[str, int]:
        return await self._write(repo.retry_invoice, invoice_id, who)

    async def retry_all(self, states: list[str], who: str) -> tuple[int, list[str]]:
        return await self._write(repo.retry_all, states, who)

    # reads
    async def get_invoice(self, pos_id: str, invoice_no: str) -> InvoiceRecord | None:
        return await self._read(repo.get_invoice, pos_id, invoice_no)

    async def attempts_of(self, invoice_id: int) -> list[AttemptRecord]:
        return await self._read(repo.attempts_of, invoice_id)

    async def list_pos(self) -> list[PosRecord]:
        return await self._read(repo.list_pos)

    async def next_due_at(self) -> float | None:
        return await self._read(repo.next_due_at)

    async def summary(self) -> Summary:
        return await self._read(repo.summary)

    async def restored_at(self) -> float | None:
        return await self._read(repo.restored_at)

    # the dashboard's reads (listing.py, reports.py)
    async def list_invoices(self, f: listing.InvoiceFilter, limit: int,
                            after: listing.Cursor | None = None
                            ) -> tuple[list[InvoiceRecord], listing.Cursor | None]:
        return await self._read(listing.list_invoices, f, limit, after)

    async def export_rows(self, f: listing.InvoiceFilter, batch: int,
                          after: listing.Cursor | None = None
                          ) -> tuple[list[tuple], listing.Cursor | None]:
        return await self._read(listing.export_rows, f, batch, after)

    async def invoice_with_attempts(self, invoice_id: int
                                    ) -> tuple[InvoiceRecord, list[AttemptRecord]] | None:
        return await self._read(listing.invoice_with_attempts, invoice_id)

    async def pos_ids(self) -> list[str]:
        return await self._read(listing.pos_ids)

    async def totals(self, f: listing.InvoiceFilter) -> reports.Totals:
        return await self._read(reports.totals, f)

    async def per_period(self, f: listing.InvoiceFilter, period: str
                         ) -> dict[str, reports.Totals]:
        return await self._read(reports.per_period, f, period)

    async def sales(self, f: listing.InvoiceFilter, period: str) -> list[reports.SalesRow]:
        return await self._read(reports.sales, f, period)

    async def per_day_and_state(self, f: listing.InvoiceFilter
                                ) -> dict[tuple[str, State], reports.Totals]:
        return await self._read(reports.per_day_and_state, f)

    async def problems(self) -> list[tuple[State, str, int]]:
        return await self._read(reports.problems)
