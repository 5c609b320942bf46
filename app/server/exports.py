"""CSV and XLSX downloads that stream: memory stays bounded however many rows there are.

Cells are Decimal (money: exact, never float), int, str or None. CSV is UTF-8 with a BOM and
CRLF, so Excel opens it right; text that a spreadsheet would run as a formula gets a leading
apostrophe (OWASP "CSV injection"). XLSX is written with xlsxwriter in constant-memory mode in a
worker thread, to a private temporary folder that is always removed."""

import asyncio
import concurrent.futures
import csv
import io
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from app.domain.money import CENT, plain
from app.server.responses import error

if TYPE_CHECKING:  # imported by write_xlsx: an idle service never loads it (~10 MB)
    import xlsxwriter

log = logging.getLogger(__name__)

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SEND_CHUNK = 64 * 1024
MONEY_FORMAT = "#,##0.00"
# Below 10^13 a number with at most two decimals has at most 15 significant digits: a float
# holds it, and Excel shows it, exactly.
MONEY_LIMIT = Decimal(10) ** 13
# Excel shows 15 significant digits; a bigger integer would be silently changed.
INT_LIMIT = 10**15
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MIN_WIDTH, MAX_WIDTH = 8, 60
SHEET_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header
_CSV_FLUSH = 64 * 1024
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")

Row = Sequence[object]


# --- CSV ---------------------------------------------------------------------------------------

def csv_cell(value: object) -> str:
    """A cell's CSV text: Decimal as plain exact text, None as empty, and text that starts like a
    formula with an apostrophe in front. Numbers (Decimal, int) are never altered: -5.00 stays."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, bool | int | float):
        return str(value)
    return csv_cell(str(value))  # dates and the like: their text, guarded like any text


class CsvEncoder:
    """Turns the header and then batches of rows into UTF-8 bytes; the first piece has the BOM."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def header(self, header: Sequence[str]) -> bytes:
        return "\ufeff".encode() + self.rows([header])

    def rows(self, rows: Iterable[Row]) -> bytes:
        self._writer.writerows([csv_cell(v) for v in row] for row in rows)
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode("utf-8", "replace")  # (a lone surrogate must not end the download)


def csv_chunks(header: Sequence[str], rows: Iterable[Row]) -> Iterator[bytes]:
    """The CSV file in pieces of about 64 KiB, BOM and header first."""
    encoder = CsvEncoder()
    yield encoder.header(header)
    pending: list[bytes] = []
    size = 0
    for row in rows:
        piece = encoder.rows((row,))
        pending.append(piece)
        size += len(piece)
        if size >= _CSV_FLUSH:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


# --- XLSX --------------------------------------------------------------------------------------

def excel_money(value: Decimal) -> float | None:
    """The float to store for a money cell, or None when a float would not show it exactly
    (more than two decimals, too large, not finite): the caller writes the exact text then."""
    if not value.is_finite() or value.copy_abs() >= MONEY_LIMIT or value != value.quantize(CENT):
        return None
    return float(value)


def excel_number(value: Decimal) -> float | None:
    """The float for a non-money Decimal (a tax rate): only when Excel shows it exactly."""
    if not value.is_finite() or value.copy_abs() >= MONEY_LIMIT:
        return None
    digits = value.normalize().as_tuple().digits
    if len(digits) > 15:
        return None
    number = float(value)
    return number if Decimal(repr(number)) == value else None


def sheet_title(name: str) -> str:
    """A name Excel accepts: at most 31 characters, none of []:*?/\\, not quoted."""
    cleaned = _SHEET_NAME_BAD.sub("-", name).strip("'")[:31].strip("'")
    return cleaned or "Sheet1"


def write_xlsx(path: Path, sheet_name: str, header: Sequence[str], rows: Iterable[Row], *,
               money_columns: Collection[int] | None = None, tmp_dir: Path | None = None,
               rows_per_sheet: int = SHEET_ROWS) -> int:
    """Write ``rows`` (consumed once, in order) to a new XLSX file; returns the number of rows.

    Memory stays bounded (xlsxwriter's constant_memory: each row goes to a temporary file as it
    is written). Decimal cells are numbers with the 2-decimal money format where a float holds
    them exactly, else their exact text. ``money_columns`` (0-based) names the money columns; by
    default every Decimal is money, while a Decimal outside given money columns (a tax rate) is a
    plain number. Text is always text, never a formula, URL or number. A sheet holds at most
    ``rows_per_sheet`` rows (Excel's limit): the rest continue on "name (2)", "name (3)"… each
    with the header, so no row is ever dropped. On failure no file is left at ``path``."""
    import xlsxwriter

    options: dict[str, object] = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
    }
    if tmp_dir is not None:
        options["tmpdir"] = str(tmp_dir)
    workbook = xlsxwriter.Workbook(str(path), options)
    try:
        formats = {"bold": workbook.add_format({"bold": True}),
                   "money": workbook.add_format({"num_format": MONEY_FORMAT})}
        title = sheet_title(sheet_name)
        sheets = 1
        sheet = _Sheet(workbook, title, header, formats["bold"])
        count = 0
        for row in rows:
            count += 1
            if sheet.rows == rows_per_sheet:
                sheet.finish()
                sheets += 1
                suffix = f" ({sheets})"
                sheet = _Sheet(workbook, title[:31 - len(suffix)] + suffix, header,
                               formats["bold"])
            sheet.write(row, money_columns, formats["money"])
        sheet.finish()
        workbook.close()
    except BaseException:
        _discard(workbook, path)
        raise
    return count


class _Sheet:
    """One worksheet being filled: bold frozen header, rows, then column widths and a filter."""

    def __init__(self, workbook: "xlsxwriter.Workbook", name: str, header: Sequence[str],
                 bold: "xlsxwriter.format.Format") -> None:
        self.sheet = workbook.add_worksheet(name)
        self.sheet.freeze_panes(1, 0)
        self.header = header
        self.widths = [len(str(title)) for title in header]
        for col, title in enumerate(header):
            self.sheet.write_string(0, col, str(title), bold)
        self.rows = 0

    def write(self, row: Row, money_columns: Collection[int] | None,
              money: "xlsxwriter.format.Format") -> None:
        self.rows += 1
        for col, value in enumerate(row):
            is_money = money_columns is None or col in money_columns
            shown = _write_cell(self.sheet, self.rows, col, value, is_money, money)
            if col >= len(self.widths):
                self.widths.append(0)
            if shown > self.widths[col]:
                self.widths[col] = shown

    def finish(self) -> None:
        for col, width in enumerate(self.widths):
            self.sheet.set_column(col, col, min(MAX_WIDTH, max(MIN_WIDTH, width + 2)))
        if self.header:
            self.sheet.autofilter(0, 0, self.rows, len(self.header) - 1)


def _write_cell(sheet: "xlsxwriter.worksheet.Worksheet", row: int, col: int, value: object,
                is_money: bool, money: "xlsxwriter.format.Format") -> int:
    """Write one cell; returns about how many characters it shows (for the column width)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
        return 5
    if isinstance(value, Decimal):
        number = excel_money(value) if is_money else excel_number(value)
        if number is None:
            text = plain(value)
            sheet.write_string(row, col, text)
            return len(text)
        if is_money:
            sheet.write_number(row, col, number, money)
            return len(format(value.quantize(CENT), ",.2f"))
        sheet.write_number(row, col, number)
        return len(plain(value))
    if isinstance(value, int) and abs(value) < INT_LIMIT:
        sheet.write_number(row, col, value)
        return len(str(value))
    text = str(value)
    sheet.write_string(row, col, text)
    return len(text)


def _discard(workbook: "xlsxwriter.Workbook", path: Path) -> None:
    try:
        workbook.close()  # also removes xlsxwriter's own temporary row file
    except Exception:
        log.debug("closing a failed workbook failed too", exc_info=True)
    path.unlink(missing_ok=True)


# --- aiohttp -----------------------------------------------------------------------------------

class _Stopped(Exception):
    """The request went away while the workbook was being written."""


async def send_export(request: web.Request, filename: str, fmt: Literal["csv", "xlsx"],
                      header: Sequence[str], batches: AsyncIterator[list[Row]], *,
                      money_columns: Collection[int] | None = None, sheet_name: str | None = None,
                      tmp_dir: Path | None = None) -> web.StreamResponse:
    """Send ``batches`` as a CSV or XLSX download named ``filename``.

    CSV streams batch by batch. XLSX is written in a worker thread that pulls one batch at a time
    from ``batches`` (which runs on the event loop), so at most two batches are in memory, then
    sent in 64 KiB pieces with its length. A failure before anything is sent answers the one JSON
    error shape (500); after that the connection is aborted, so a download cut short never looks
    complete (CSV: no final chunk; XLSX: fewer bytes than Content-Length). ``money_columns`` as
    for write_xlsx; the sheet is named ``sheet_name``, by default the file name up to its first
    "_" ("invoices_2026-11-21.xlsx" → invoices). ``tmp_dir``: where the workbook is built."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown export format {fmt!r}")
    headers = {
        "Content-Disposition": f'attachment; filename="{_safe_filename(filename)}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    try:
        if fmt == "csv":
            return await _send_csv(request, headers, header, batches)
        sheet = sheet_name or Path(filename).stem.split("_")[0]
        return await _send_xlsx(request, headers, header, batches, sheet, money_columns, tmp_dir)
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except RuntimeError:  # still running in an abandoned worker thread (cancelled)
                log.debug("export batches not closed", exc_info=True)


async def _send_csv(request: web.Request, headers: dict[str, str], header: Sequence[str],
                    batches: AsyncIterator[list[Row]]) -> web.StreamResponse:
    encoder = CsvEncoder()
    try:
        # The first batch is read before anything is sent, so a failing query gets a real answer.
        first = await anext(batches, None)
        head = encoder.header(header) + (encoder.rows(first) if first else b"")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("export %s: could not read the first rows", request.path)
        return error(500)
    response = web.StreamResponse(headers=headers)
    response.content_type = CSV_TYPE
    response.charset = "utf-8"
    try:
        await response.prepare(request)
        await response.write(head)
        async for batch in batches:
            await response.write(encoder.rows(batch))
        await response.write_eof()
    except ConnectionError:
        log.info("export %s: the client went away", request.path)
    except Exception:
        log.exception("export %s failed after sending began; aborting the download", request.path)
        _abort(request)
    return response


async def _send_xlsx(request: web.Request, headers: dict[str, str], header: Sequence[str],
                     batches: AsyncIterator[list[Row]], sheet_name: str,
                     money_columns: Collection[int] | None, tmp_dir: Path | None
                     ) -> web.StreamResponse:
    folder = Path(tempfile.mkdtemp(prefix="rims-export-", dir=tmp_dir))
    remove_folder = True
    try:
        path = folder / "export.xlsx"
        stop = threading.Event()
        rows = _pull_rows(batches, asyncio.get_running_loop(), stop)
        writer = asyncio.ensure_future(asyncio.to_thread(
            write_xlsx, path, sheet_name, header, rows, money_columns=money_columns,
            tmp_dir=folder))
        try:
            await asyncio.shield(writer)
        except asyncio.CancelledError:
            stop.set()  # the worker stops at its next batch and then removes the folder
            writer.add_done_callback(lambda task: _remove_after(task, folder))
            remove_folder = False
            raise
        except web.HTTPException:
            raise
        except Exception:
            log.exception("export %s: could not write the workbook", request.path)
            return error(500)
        response = web.StreamResponse(headers=headers)
        response.content_type = XLSX_TYPE
        response.content_length = path.stat().st_size
        try:
            await response.prepare(request)
            with path.open("rb") as file:
                while chunk := await asyncio.to_thread(file.read, SEND_CHUNK):
                    await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            log.info("export %s: the client went away", request.path)
        except Exception:
            log.exception("export %s failed after sending began; aborting the download",
                          request.path)
            _abort(request)
        return response
    finally:
        if remove_folder:
            shutil.rmtree(folder, ignore_errors=True)


def _pull_rows(batches: AsyncIterator[list[Row]], loop: asyncio.AbstractEventLoop,
               stop: threading.Event) -> Iterator[Row]:
    """Rows for the worker thread. Each batch is fetched on the event loop; the next one is
    requested before the current one is written, so fetching and writing overlap while at most
    two batches exist. An error from ``batches`` is raised here, in the worker."""

    async def fetch() -> list[Row] | None:
        return await anext(batches, None)

    def wait(future: concurrent.futures.Future[list[Row] | None]) -> list[Row] | None:
        while True:
            if stop.is_set() or loop.is_closed():
                future.cancel()
                raise _Stopped
            try:
                return future.result(timeout=0.5)
            except TimeoutError:
                continue

    batch = wait(asyncio.run_coroutine_threadsafe(fetch(), loop))
    while batch is not None:
        upcoming = asyncio.run_coroutine_threadsafe(fetch(), loop)
        try:
            yield from batch
        except BaseException:  # the writer failed or stopped (GeneratorExit): no more batches
            upcoming.cancel()
            raise
        batch = wait(upcoming)


def _remove_after(writer: "asyncio.Future[int]", folder: Path) -> None:
    """After an abandoned worker ends (it stops at its next batch): its folder goes too."""
    if not writer.cancelled() and writer.exception() is not None:
        log.debug("abandoned export stopped", exc_info=writer.exception())
    shutil.rmtree(folder, ignore_errors=True)


def _safe_filename(name: str) -> str:
    """ASCII letters, digits, dot, dash and underscore only: safe in any header and file system."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "export"
    return cleaned[:150]


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
