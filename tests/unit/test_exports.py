"""CSV and XLSX exports: what a user opening the file sees (exact money, no formulas run, every
row), streamed from a real aiohttp server on 127.0.0.1 with bounded memory."""

import csv
import io
import threading
import tracemalloc
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import aiohttp
import openpyxl
import pytest
from aiohttp import web

from app.server.exports import MONEY_FORMAT, csv_chunks, send_export, write_xlsx
from app.server.responses import error_shape
from tests.conftest import add_figures, wait_for

HEADER = ("Invoice no", "Amount", "Tax rate", "Attempts", "Last error")


def parse_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def read_xlsx(path: Path) -> list[list[object]]:
    book = openpyxl.load_workbook(path)
    try:
        return [[c.value for c in row] for row in book.active.iter_rows()]
    finally:
        book.close()


# --- CSV ---------------------------------------------------------------------------------------

def test_csv_round_trip_keeps_money_exact_and_none_empty() -> None:
    rows = [("INV-1", Decimal("0.10"), Decimal("16"), 1, None),
            ("INV-2", Decimal("0.20"), Decimal("17.5"), 2, 'said "no", then\nstopped'),
            ("INV-3", Decimal("1E+2"), Decimal("0.123456789"), 0, "Peshawar — پشاور")]
    data = b"".join(csv_chunks(HEADER, rows))
    parsed = parse_csv(data)
    assert parsed[0] == list(HEADER)
    assert parsed[1] == ["INV-1", "0.10", "16", "1", ""]
    assert parsed[2] == ["INV-2", "0.20", "17.5", "2", 'said "no", then\nstopped']
    assert parsed[3] == ["INV-3", "100", "0.123456789", "0", "Peshawar — پشاور"]
    assert sum(Decimal(r[1]) for r in parsed[1:3]) == Decimal("0.30")  # not 0.30000000000000004
    # Every record ends in CRLF; the only bare LF is the one inside the quoted cell.
    assert data.count(b"\r\n") == 4
    assert data.replace(b"\r\n", b"").count(b"\n") == 1


def test_csv_guards_text_that_would_run_as_a_formula_but_not_numbers() -> None:
    risky = ["=HYPERLINK(\"http://x\",\"y\")", "+92 300 1234567", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    rows = [(text, Decimal("-5.00"), Decimal("-0.01"), -3, None) for text in risky]
    rows.append(("safe = fine", Decimal("5.00"), Decimal(0), 3, "a-b"))
    parsed = parse_csv(b"".join(csv_chunks(HEADER, rows)))[1:]
    assert [r[0] for r in parsed] == ["'" + text for text in risky] + ["safe = fine"]
    for row in parsed[:-1]:
        assert row[1:4] == ["-5.00", "-0.01", "-3"]  # numbers stay numbers
    assert parsed[-1][4] == "a-b"


def test_csv_comes_in_pieces_of_about_64_kib() -> None:
    rows = ((f"INV-{i:06d}", Decimal(i) / 100, Decimal(16), i, "x" * 40) for i in range(20_000))
    pieces = list(csv_chunks(HEADER, rows))
    assert len(pieces) > 10
    assert max(len(p) for p in pieces) < 64 * 1024 + 200
    assert len(parse_csv(b"".join(pieces))) == 20_001


# --- XLSX --------------------------------------------------------------------------------------

def test_xlsx_money_is_a_formatted_number_where_exact_and_exact_text_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    rows = [("INV-1", Decimal("1234.50"), Decimal("16"), 1, None),
            ("INV-2", Decimal("0.123456789"), Decimal("17.5"), 2, "=1+1"),
            ("INV-3", Decimal("-5.00"), Decimal("0.1234567890123456789"), 10**16, "http://x.example"),
            ("INV-4", Decimal("10000000000000.00"), Decimal(0), 0, "123"),
            ("INV-5", Decimal("9999999999999.99"), None, -7, "@cmd")]
    assert write_xlsx(path, "invoices", HEADER, iter(rows), money_columns={1}) == 5

    book = openpyxl.load_workbook(path)
    try:
        sheet = book.active
        assert sheet.title == "invoices"
        assert [c.value for c in sheet[1]] == list(HEADER)
        assert all(c.font.b for c in sheet[1])
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == "A1:E6"
        amount = sheet["B2"]
        assert (amount.value, amount.data_type, amount.number_format) == (1234.5, "n", MONEY_FORMAT)
        assert (sheet["B3"].value, sheet["B3"].data_type) == ("0.123456789", "s")  # exact text
        assert (sheet["B4"].value, sheet["B4"].number_format) == (-5, MONEY_FORMAT)
        assert (sheet["B5"].value, sheet["B5"].data_type) == ("10000000000000.00", "s")  # ≥ 10^13
        assert Decimal(repr(sheet["B6"].value)) == Decimal("9999999999999.99")
        # Outside the money columns a Decimal is a plain number when Excel shows it exactly.
        assert (sheet["C2"].value, sheet["C2"].number_format) == (16, "General")
        assert sheet["C3"].value == 17.5
        assert (sheet["C4"].value, sheet["C4"].data_type) == ("0.1234567890123456789", "s")
        assert sheet["C6"].value is None
        # Integers are numbers unless Excel would change them (more than 15 digits).
        assert (sheet["D2"].value, sheet["D4"].value, sheet["D6"].value) == (1, str(10**16), -7)
        # Text is text: never a formula, a link or a number.
        assert (sheet["E3"].value, sheet["E3"].data_type) == ("=1+1", "s")
        assert (sheet["E4"].value, sheet["E4"].hyperlink) == ("http://x.example", None)
        assert (sheet["E5"].value, sheet["E5"].data_type) == ("123", "s")
        assert sheet["E6"].value == "@cmd"
        widths = {col: sheet.column_dimensions[col].width for col in "ABCDE"}
        assert all(8 <= w <= 61 for w in widths.values()), widths
        assert widths["C"] > widths["B"]  # the long exact text is wider than "1,234.50"
    finally:
        book.close()


def test_xlsx_by_default_every_decimal_is_money(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    write_xlsx(path, "sales: [2026/11]", HEADER, [("Total", Decimal("0.10"), Decimal("16"), 3, "")])
    book = openpyxl.load_workbook(path)
    try:
        sheet = book.active
        assert sheet.title == "sales- -2026-11-"  # Excel forbids []:*?/\ in sheet names
        assert [sheet["B2"].number_format, sheet["C2"].number_format] == [MONEY_FORMAT] * 2
        assert sheet["B2"].value == 0.1
    finally:
        book.close()


def test_xlsx_rows_beyond_a_sheet_continue_on_the_next_sheet_never_dropped(tmp_path: Path) -> None:
    # Excel's real limit is 1,048,575 rows under the header (SHEET_ROWS); xlsxwriter silently
    # ignores a row beyond it. The same code path, with a limit of 4 rows a sheet:
    path = tmp_path / "out.xlsx"
    rows = [(f"INV-{n}", Decimal(n), Decimal(16), n, None) for n in range(1, 11)]
    name = "a sheet name of thirty-one chr"
    assert write_xlsx(path, name, HEADER, rows, rows_per_sheet=4) == 10
    book = openpyxl.load_workbook(path)
    try:
        assert book.sheetnames == [name, name[:27] + " (2)", name[:27] + " (3)"]
        sheets = [[[c.value for c in row] for row in sheet.iter_rows()] for sheet in book]
        assert all(sheet[0] == list(HEADER) for sheet in sheets)
        assert [len(sheet) - 1 for sheet in sheets] == [4, 4, 2]
        assert [row[0] for sheet in sheets for row in sheet[1:]] == [r[0] for r in rows]
        assert all(sheet.auto_filter.ref for sheet in book)
    finally:
        book.close()


def test_xlsx_failure_leaves_no_file_behind(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()

    def rows() -> Iterator[Sequence[object]]:
        yield ("INV-1", Decimal("1.00"), Decimal(16), 1, None)
        raise OSError("the database went away")

    with pytest.raises(OSError, match="went away"):
        write_xlsx(work / "out.xlsx", "invoices", HEADER, rows(), tmp_dir=work)
    assert list(work.iterdir()) == []  # neither the output nor xlsxwriter's row file


def test_xlsx_memory_stays_bounded_for_200_000_rows(tmp_path: Path, request: pytest.FixtureRequest
                                                    ) -> None:
    """Peak traced memory must not grow with the row count. Measured on the dev machine: 0.41 MB
    for 20,000 rows and 0.42 MB for 200,000 (xlsxwriter without constant_memory needs 13.6 MB
    for 20,000 such rows, ~136 MB for 200,000). The bound, 8 MB, leaves ~20x headroom for other
    Python versions while still failing if rows were kept in memory."""

    def rows(n: int) -> Iterator[Sequence[object]]:
        for i in range(n):
            yield (f"INV-{i:07d}", Decimal("1000.50") + i, i % 7, None)

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            assert write_xlsx(tmp_path / f"{n}.xlsx", "invoices", HEADER[:4], rows(n),
                              tmp_dir=tmp_path) == n
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(20_000), peak(200_000)
    add_figures(request.config, f"write_xlsx traced peak: {small / 1e6:.2f} MB for 20,000 rows, "
                                f"{large / 1e6:.2f} MB for 200,000 rows")
    assert large < 8_000_000, f"peak {large / 1e6:.2f} MB for 200,000 rows"
    assert large < small + 1_000_000, f"peak grew from {small / 1e6:.2f} to {large / 1e6:.2f} MB"
    book = openpyxl.load_workbook(tmp_path / "200000.xlsx", read_only=True)
    try:
        assert book.active.max_row == 200_001
    finally:
        book.close()


# --- aiohttp -----------------------------------------------------------------------------------

class Batch(list):
    """A list that can be watched with weakref (to count the batches alive at once)."""


class Source:
    """Batches of invoice-like rows, produced on the event loop, counting live batches."""

    def __init__(self, rows: int, batch: int, fail_at: int | None = None):
        self.rows, self.batch, self.fail_at = rows, batch, fail_at
        self.threads: set[int] = set()
        self.alive = 0
        self.most_alive = 0

    def _gone(self) -> None:
        self.alive -= 1

    async def batches(self) -> AsyncIterator[list[Sequence[object]]]:
        for start in range(0, self.rows, self.batch):
            self.threads.add(threading.get_ident())
            if self.fail_at is not None and start >= self.fail_at:
                raise OSError("the database went away")
            batch = Batch((f"INV-{i:06d}", Decimal(i) / 100, Decimal("16"), i % 5,
                           "=cmd" if i % 1000 == 0 else None)
                          for i in range(start, min(start + self.batch, self.rows)))
            self.alive += 1
            self.most_alive = max(self.most_alive, self.alive)
            weakref.finalize(batch, self._gone)
            yield batch
            del batch


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, Source], Path]]:
    """A real server on 127.0.0.1: GET /export/{name}.{format}?rows=&batch=&fail_at= ."""
    work = tmp_path / "work"
    work.mkdir()
    sources: dict[str, Source] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        q = request.query
        source = Source(int(q["rows"]), int(q.get("batch", "1000")),
                        int(q["fail_at"]) if "fail_at" in q else None)
        sources[request.match_info["name"]] = source
        fmt = request.match_info["format"]
        return await send_export(request, q.get("filename", f"invoices_2026-11-21.{fmt}"), fmt, HEADER,
                                 source.batches(), money_columns={1}, tmp_dir=work)

    app = web.Application(middlewares=[error_shape])
    app.router.add_get("/export/{name}.{format}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", sources, work
    finally:
        await runner.cleanup()


async def test_csv_download_streams_every_row(server: tuple[str, dict[str, Source], Path]) -> None:
    base, sources, work = server
    async with aiohttp.ClientSession() as client, \
            client.get(f"{base}/export/a.csv?rows=10000&batch=700") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert answer.headers["Content-Disposition"] == 'attachment; filename="invoices_2026-11-21.csv"'
        assert answer.headers["Cache-Control"] == "no-store"
        assert "Content-Length" not in answer.headers  # streamed (chunked), not built in memory
        rows = parse_csv(await answer.read())
    assert rows[0] == list(HEADER)
    assert len(rows) == 10_001
    assert rows[1] == ["INV-000000", "0", "16", "0", "'=cmd"]
    assert rows[-1] == ["INV-009999", "99.99", "16", "4", ""]
    assert [int(r[0][4:]) for r in rows[1:]] == list(range(10_000))
    assert sources["a"].threads == {threading.get_ident()}  # batches ran on the event loop
    assert list(work.iterdir()) == []


async def test_xlsx_download_has_every_row_and_leaves_no_temporary_file(
        server: tuple[str, dict[str, Source], Path], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    base, sources, work = server
    async with aiohttp.ClientSession() as client, \
            client.get(f"{base}/export/b.xlsx?rows=10000&batch=1000") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        assert answer.headers["Content-Disposition"] == 'attachment; filename="invoices_2026-11-21.xlsx"'
        assert answer.headers["Cache-Control"] == "no-store"
        body = await answer.read()
        assert int(answer.headers["Content-Length"]) == len(body)
    (tmp_path / "got.xlsx").write_bytes(body)
    rows = read_xlsx(tmp_path / "got.xlsx")
    assert rows[0] == list(HEADER)
    assert len(rows) == 10_001
    assert rows[1] == ["INV-000000", 0, 16, 0, "=cmd"]
    assert rows[-1] == ["INV-009999", 99.99, 16, 4, None]
    assert [int(r[0][4:]) for r in rows[1:]] == list(range(10_000))
    source = sources["b"]
    assert source.threads == {threading.get_ident()}  # consumed on the loop, written in a thread
    assert source.most_alive <= 2, f"{source.most_alive} batches in memory at once"
    add_figures(request.config, f"xlsx download of 10,000 rows: at most {source.most_alive} batches "
                                f"of 1,000 alive at once")
    # the handler removes its folder after the last byte went out: the client may be faster
    await wait_for(lambda: not list(work.iterdir()), timeout=5,
                   what="the export's temporary folder removed")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_failure_before_sending_is_the_one_error_shape(
        server: tuple[str, dict[str, Source], Path], fmt: str) -> None:
    base, _, work = server
    async with aiohttp.ClientSession() as client, \
            client.get(f"{base}/export/c.{fmt}?rows=10000&fail_at={0 if fmt == 'csv' else 5000}") as answer:
        assert answer.status == 500
        body = await answer.json()
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == 500
    assert list(work.iterdir()) == []


async def test_csv_failure_after_sending_began_cuts_the_download_visibly(
        server: tuple[str, dict[str, Source], Path]) -> None:
    """A download that breaks half-way must not look like a complete (shorter) file."""
    base, _, _ = server
    async with aiohttp.ClientSession() as client, \
            client.get(f"{base}/export/d.csv?rows=10000&fail_at=5000") as answer:
        assert answer.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await answer.read()


async def test_file_name_cannot_break_the_header(server: tuple[str, dict[str, Source], Path]) -> None:
    base, _, _ = server
    async with aiohttp.ClientSession() as client, \
            client.get(f"{base}/export/e.csv", params={"rows": "1", "filename": 'a"b\r\nX: y/../é.csv'}
                       ) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Disposition"] == 'attachment; filename="a_b__X__y_..__.csv"'
        assert "X" not in answer.headers
