"""The dashboard's JSON API in Kenya mode (docs/KENYA.md) against a real Core on 127.0.0.1 and
a real SQLite file: the kinds, credit notes negative and linked to their original, the lines,
bands, customer and receipt link of a row, what it waits for, sums over sales and credit notes
only, the per-band report, the Kenya export columns, the receipt QR, and ProTax's customer PIN
look-up.

The rows are a shop's day as the Kenya intake stores them (kind, detail, upstream_ref,
receipt_url of schema v5), written into the database file before the utility starts, with
sending paused (nothing is forwarded: the states are the ones written). The utility is told its
upstream through its ServerDeps, as Core does from settings.upstream."""

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import time
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import aiohttp
import openpyxl
import pytest

from app.sandbox.kpra import KpraSandbox
from app.server.invoice_api import DEPS
from app.service import upstreams
from app.service.core import Core
from app.settings import load
from app.store.database import open_database
from app.store.received import pack
from tests.conftest import wait_for
from tests.integration.conftest import Utility, configure_pos
from tests.integration.test_dashboard_session import Browser, browser_of

# A Kenyan shop: its KRA PIN, its till, the till's key (a ProTax test key's shape).
NTN, POS_ID, KEY = "P052233445Q", "TILL-1", "ptx_test_4f9a2c7d1e"
YESTERDAY = dt.date.today() - dt.timedelta(days=1)
DAY = YESTERDAY.isoformat()
KRA_CHECKER = "https://etims.example.co.ke/kra-agent/sale/invoice-checker/eyJpdiI6IjBObWdkNkZW"
OIL, BRAKE, MAIZE, BREAD = "KE1NTXU0000013", "KE1NTXU0000014", "KE2NTXU0000003", "KE2NTXU0000004"


def _line(seq: int, code: str, name: str, qty: str, price: str, band: str, rate: str,
          tax: str, discount: str = "0") -> dict:
    gross = Decimal(qty) * Decimal(price) - Decimal(discount)
    return {"seq": seq, "item_code": code, "item_name": name, "item_class_code": "5059690800",
            "pkg_unit": "NT", "qty_unit": "U", "quantity": qty, "unit_price": price,
            "discount_rate": "0", "discount_amount": discount,
            "supply_amount": str(Decimal(qty) * Decimal(price)), "taxable_amount": str(gross),
            "tax_type": band, "tax_rate": rate, "tax_amount": tax,
            "net_amount": str(gross - Decimal(tax)), "gross_amount": str(gross)}


def _bands(lines: list[dict]) -> dict:
    rates = {"A": "0", "B": "16", "C": "0", "D": "0", "E": "8"}
    bands = {b: {"rate": r, "taxable": Decimal(0), "tax": Decimal(0)} for b, r in rates.items()}
    for line in lines:
        bands[line["tax_type"]]["taxable"] += Decimal(line["taxable_amount"])
        bands[line["tax_type"]]["tax"] += Decimal(line["tax_amount"])
    return {b: {"rate": v["rate"], "taxable": str(v["taxable"]), "tax": str(v["tax"])}
            for b, v in bands.items()}


def sale_detail(number: str, lines: list[dict], **more: object) -> dict:
    bands = _bands(lines)
    taxable = sum(Decimal(b["taxable"]) for b in bands.values())
    tax = sum(Decimal(b["tax"]) for b in bands.values())
    return {"kind": "invoice", "invoice_no": number, "date_time": f"{DAY} 10:15:00",
            "pin": NTN, "customer_pin": None, "customer_name": None, "payment_type": "01",
            "sales_type": "N", "currency": "KES", "exchange_rate": "1",
            "prices_include_tax": True, "lines": lines, "bands": bands,
            "totals": {"taxable": str(taxable), "tax": str(tax), "net": str(taxable - tax),
                       "gross": str(taxable)}} | more


SALE_1_LINES = [_line(1, OIL, "Sinda Engine Oil 20W50 4L", "2", "3500", "B", "16", "965.52"),
                _line(2, BREAD, "Festive white bread 400g", "1", "65", "E", "8", "4.81"),
                _line(3, MAIZE, "Jogoo maize flour 2kg", "2", "230", "A", "0", "0")]
SALE_2_LINES = [_line(1, BRAKE, "Brake fluid DOT4 500ml", "1", "1200", "B", "16", "165.52")]
CN_1_LINES = [_line(1, OIL, "Sinda Engine Oil 20W50 4L", "1", "3500", "B", "16", "482.76")]

# (invoice_no, kind, state, hh:mm, detail, transaction_id, upstream_ref, receipt_url, error)
ROWS = [
    (f"item:{OIL}", "item", "synced", "08:00",
     {"kind": "item", "item_code": OIL, "item_name": "Sinda Engine Oil 20W50 4L",
      "item_class_code": "9901300101", "item_type": "1", "origin_country": "KE",
      "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": "3500"},
     None, "6801", None, None),
    (f"item:{BRAKE}", "item", "queued", "10:40",
     {"kind": "item", "item_code": BRAKE, "item_name": "Brake fluid DOT4 500ml",
      "item_class_code": "9901300101", "item_type": "1", "origin_country": "KE",
      "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": "1200"},
     None, None, None, None),
    ("stock:GRN-7", "stock", "synced", "08:30",
     {"kind": "stock", "reference": "GRN-7", "item_code": OIL,
      "item_name": "Sinda Engine Oil 20W50 4L", "item_class_code": "9901300101",
      "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "tax_rate": "16",
      "adjustment_type": "IN", "quantity": "24", "date": DAY, "unit_cost": "2900",
      "remaining_quantity": "30"}, None, "6802", None, None),
    ("INV-1001", "invoice", "synced", "10:15",
     sale_detail("INV-1001", SALE_1_LINES, customer_pin="P051234567A",
                 customer_name="Mombasa Auto Spares Ltd"),
     "KRACU0100000013/57", "6843", KRA_CHECKER + "1001", None),
    ("INV-1002", "invoice", "queued", "10:45", sale_detail("INV-1002", SALE_2_LINES),
     None, None, None, None),
    ("cn:CN-1", "credit_note", "synced", "11:30",
     sale_detail("CN-1", CN_1_LINES, kind="credit_note", credit_note_no="CN-1",
                 original_invoice_no="INV-1001", reason="Goods returned", reason_code="06",
                 full=False, customer_pin="P051234567A",
                 customer_name="Mombasa Auto Spares Ltd"),
     "KRACU0100000013/58", "6850", KRA_CHECKER + "CN1", None),
    ("cn:CN-2", "credit_note", "queued", "11:50",
     sale_detail("CN-2", SALE_2_LINES, kind="credit_note", credit_note_no="CN-2",
                 original_invoice_no="INV-1002", reason="Wrong item", reason_code="03",
                 full=True), None, None, None, None),
]


def _money(detail: dict, negative: bool) -> tuple[str, str, str, str]:
    """The row's columns (docs/KENYA.md): net, effective rate, tax, gross; credit notes < 0."""
    totals = detail.get("totals")
    if not totals:
        return "0", "0", "0", "0"
    net, tax, gross = (Decimal(totals[k]) for k in ("net", "tax", "gross"))
    rate = (tax / net * 100).quantize(Decimal("0.01")) if net else Decimal(0)
    fx = Decimal(detail.get("exchange_rate") or 1)  # in KES, like kenya_tax.money_columns
    if fx != 1:
        tax, gross = ((x * fx).quantize(Decimal("0.01"), ROUND_HALF_UP) for x in (tax, gross))
        net = gross - tax
    sign = -1 if negative else 1
    return str(sign * net), str(rate), str(sign * tax), str(sign * gross)


def write_kenya_rows(data_dir: Path, rows: list = ROWS) -> None:
    """The rows, as Kenya's intake stores them (schema v5), into the utility's database; a
    sale's or credit note's payment_mode is its eTIMS payment type's number (kenya.py)."""
    database = open_database(data_dir / "rims.sqlite3")
    with database.connection_context(), database.atomic():
        for number, kind, state, hhmm, detail, txid, ref, receipt, err in rows:
            now = time.mktime(time.strptime(f"{DAY} {hhmm}", "%Y-%m-%d %H:%M")) + 2
            amount, rate, tax, total = _money(detail, kind == "credit_note")
            body = json.dumps(detail, sort_keys=True)
            synced = state == "synced"
            database.execute_sql(
                "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, "
                "total_amount, date_time, payment_mode, received_json, warnings_json, "
                "content_hash, state, received_at, updated_at, attempts, next_attempt_at, "
                "ambiguous, last_error, transaction_id, synced_at, kind, detail, upstream_ref, "
                "receipt_url) VALUES (?,?,?,?,?,?,?,?,?,?,'[]',?,?,?,?,?,?,0,?,?,?,?,?,?,?)",
                (POS_ID, number, NTN, amount, rate, tax, total, f"{DAY} {hhmm}:00",
                 int(detail.get("payment_type") or "01"), pack(body),
                 hashlib.sha256(body.encode()).digest(), state, now, now + 1,
                 1 if synced else 0, now, err, txid, now + 1 if synced else None,
                 kind, pack(body), ref, receipt))
            if synced:
                (invoice_id,) = database.execute_sql("SELECT last_insert_rowid()").fetchone()
                database.execute_sql(
                    "INSERT INTO attempt (invoice_id, started_at, duration_ms, http_status, "
                    "outcome, message) VALUES (?, ?, 640, 200, 'accepted', ?)",
                    (invoice_id, now + 0.4, f"Recorded: {txid or ref}"))
        database.execute_sql("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                             ("last_synced_at", repr(now + 1)))
    database.close()


async def kenya_utility(tmp_path: Path, sandbox: KpraSandbox, upstream: str,
                        key_mode: str | None = None, lookup=None, rows: list = ROWS) -> Utility:
    data_dir = tmp_path / f"data-{upstream}"
    configure_pos(data_dir, NTN, POS_ID, KEY)
    write_kenya_rows(data_dir, rows)
    running = await Utility(data_dir, sandbox, sending_paused=True).start()
    deps = running.core._runner.app[DEPS]
    deps.upstream, deps.key_mode, deps.lookup_customer = upstream, key_mode, lookup
    return running


CUSTOMERS = {"P051234567A": {"pin": "P051234567A", "name": "Mombasa Auto Spares Ltd",
                             "status": "active"}}
ASKED: list[str] = []


async def fake_lookup(pin: str) -> dict | None:
    """Stands in for Facade.lookup_customer (ProTax's GET /customers?pin=)."""
    ASKED.append(pin)
    return CUSTOMERS.get(pin)


@pytest.fixture
async def kra(tmp_path: Path, sandbox: KpraSandbox) -> AsyncIterator[Utility]:
    running = await kenya_utility(tmp_path, sandbox, "kra-agent")
    yield running
    await running.stop()


@pytest.fixture
async def protax(tmp_path: Path, sandbox: KpraSandbox) -> AsyncIterator[Utility]:
    running = await kenya_utility(tmp_path, sandbox, "protax", "test", fake_lookup)
    yield running
    await running.stop()


@pytest.fixture
async def kra_browser(kra: Utility) -> AsyncIterator[Browser]:
    async with browser_of(kra) as browser:
        status, body, _ = await browser.sign_in(POS_ID, KEY)
        assert status == 200, body
        yield browser


@pytest.fixture
async def protax_browser(protax: Utility) -> AsyncIterator[Browser]:
    async with browser_of(protax) as browser:
        status, body, _ = await browser.sign_in(POS_ID, KEY)
        assert status == 200, body
        yield browser


async def get(browser: Browser, path: str, status: int = 200, **params: object) -> dict:
    code, body, _ = await browser.call("GET", path, params={k: str(v) for k, v in params.items()})
    assert code == status, body
    return body


async def download(browser: Browser, path: str, **params: str) -> tuple[str, bytes]:
    async with browser.http.get(path, params=params) as response:
        assert response.status == 200, await response.text()
        return response.content_type, await response.read()


async def rows_by_number(browser: Browser, **params: object) -> dict[str, dict]:
    items = (await get(browser, "/api/dashboard/invoices", **params))["data"]["items"]
    return {i["invoice_no"]: i for i in items}


async def test_authority_names_the_upstream(kra_browser, protax_browser):
    kra = (await get(kra_browser, "/api/dashboard/authority"))["data"]
    assert kra["authority"] == "KRA eTIMS via KRA Agent" and kra["kenya"] is True
    assert kra["customer_lookup"] is False and "no customer PIN look-up" in \
        kra["customer_lookup_absent"]
    assert kra["currency"] == "KES" and kra["key_mode"] is None
    protax = (await get(protax_browser, "/api/dashboard/authority"))["data"]
    assert protax["authority"] == "KRA eTIMS via ProTax (TEST key)"
    assert protax["customer_lookup"] is True and protax["customer_lookup_absent"] is None
    overview = (await get(protax_browser, "/api/dashboard/overview"))["data"]
    assert overview["authority"] == protax


async def test_kpra_mode_is_unchanged(utility):
    async with browser_of(utility) as browser:
        status, body, _ = await browser.sign_in()
        assert status == 200, body
        data = (await get(browser, "/api/dashboard/authority"))["data"]
        assert data["kenya"] is False and data["authority"] == "KPRA RIMS"
        body = await get(browser, "/api/dashboard/customers", 404, pin="P051234567A")
        assert "ProTax only" in body["message"]
        bands = (await get(browser, "/api/dashboard/reports/tax-bands"))["data"]
        assert bands["bands"] == [] and bands["kenya"] is False


async def test_list_has_kinds_numbers_and_no_money_for_items(kra_browser):
    rows = await rows_by_number(kra_browser)
    assert set(rows) == {r[0] for r in ROWS}
    assert {n: r["kind_name"] for n, r in rows.items()} == {
        f"item:{OIL}": "Item registration", f"item:{BRAKE}": "Item registration",
        "stock:GRN-7": "Stock adjustment", "INV-1001": "Sale", "INV-1002": "Sale",
        "cn:CN-1": "Credit note", "cn:CN-2": "Credit note"}
    cn = rows["cn:CN-1"]
    assert cn["number"] == "CN-1" and cn["original_invoice_no"] == "INV-1001"
    assert cn["total_amount"] == "-3500" and cn["tax_amount"] == "-482.76"
    assert cn["currency"] == "KES" and cn["has_money"] is True
    assert cn["receipt_url"] == KRA_CHECKER + "CN1" and cn["upstream_ref"] == "6850"
    item = rows[f"item:{OIL}"]
    assert item["has_money"] is False and item["item_name"] == "Sinda Engine Oil 20W50 4L"
    assert item["number"] == OIL
    assert rows["INV-1001"]["customer_pin"] == "P051234567A"
    assert list(await rows_by_number(kra_browser, kind="credit_note")) == ["cn:CN-2", "cn:CN-1"]
    assert set(await rows_by_number(kra_browser, kind="item")) == {f"item:{OIL}",
                                                                   f"item:{BRAKE}"}
    assert list(await rows_by_number(kra_browser, kind="stock")) == ["stock:GRN-7"]
    assert list(await rows_by_number(kra_browser, kind="credit_note", q="CN-1")) == ["cn:CN-1"]
    assert list(await rows_by_number(kra_browser, kind="item", q="KE1NTXU0000013")) == [
        f"item:{OIL}"]
    bad = await get(kra_browser, "/api/dashboard/invoices", 400, kind="refund")
    assert "kind" in bad["errors"]


async def test_detail_has_lines_bands_customer_ids_and_receipt(kra_browser):
    rows = await rows_by_number(kra_browser)
    body = await get(kra_browser, f"/api/dashboard/invoices/{rows['INV-1001']['id']}")
    d = body["data"]
    assert body["message"] == "Sale INV-1001 is synced."
    assert [(ln["item_code"], ln["quantity"], ln["unit_price"], ln["tax_type"], ln["tax_rate"],
             ln["tax_amount"], ln["total"]) for ln in d["lines"]] == [
        (OIL, "2", "3500", "B", "16", "965.52", "7000"),
        (BREAD, "1", "65", "E", "8", "4.81", "65"),
        (MAIZE, "2", "230", "A", "0", "0", "460")]
    assert {b["band"]: (b["taxable"], b["tax"]) for b in d["bands"]} == {
        "A": ("460", "0"), "B": ("7000", "965.52"), "C": ("0", "0"), "D": ("0", "0"),
        "E": ("65", "4.81")}
    assert d["band_totals"] == {"taxable": "7525", "tax": "970.33", "net": "6554.67",
                                "gross": "7525"}
    assert d["customer_pin"] == "P051234567A" and d["customer_name"] == \
        "Mombasa Auto Spares Ltd"
    assert d["transaction_id"] == "KRACU0100000013/57" and d["upstream_ref"] == "6843"
    assert d["receipt_url"] == KRA_CHECKER + "1001"
    assert d["receipt_link_text"] == "Open on KRA's invoice checker"
    assert d["waiting_for"] == []
    kind, svg = await download(kra_browser, d["receipt_qr_svg"])
    assert kind == "image/svg+xml" and svg.startswith(b"<?xml")
    kind, png = await download(kra_browser, d["receipt_qr_png"])
    assert kind == "image/png" and png.startswith(b"\x89PNG")


async def test_credit_note_is_negative_and_linked(kra_browser):
    rows = await rows_by_number(kra_browser)
    d = (await get(kra_browser, f"/api/dashboard/invoices/{rows['cn:CN-1']['id']}"))["data"]
    assert d["original_invoice_id"] == rows["INV-1001"]["id"]
    assert d["reason"] == "Goods returned" and d["credit_note_no"] == "CN-1"
    assert d["lines"][0]["tax_amount"] == "-482.76" and d["lines"][0]["total"] == "-3500"
    assert {b["band"]: b["tax"] for b in d["bands"]}["B"] == "-482.76"
    assert d["amount"] == "-3017.24" and d["total_amount"] == "-3500"


async def test_what_a_row_waits_for(kra_browser):
    rows = await rows_by_number(kra_browser)
    sale = (await get(kra_browser, f"/api/dashboard/invoices/{rows['INV-1002']['id']}"))["data"]
    assert sale["waiting_for"] == [{
        "invoice_id": rows[f"item:{BRAKE}"]["id"], "invoice_no": BRAKE, "kind": "item",
        "state": "queued", "message": f"waiting for item {BRAKE} to be registered"}]
    assert sale["receipt_qr_svg"] is None
    status, body, _ = await kra_browser.call(
        "GET", f"/api/dashboard/invoices/{rows['INV-1002']['id']}/receipt-qr.svg")
    assert status == 404 and "once KRA eTIMS has signed" in body["message"]
    cn = (await get(kra_browser, f"/api/dashboard/invoices/{rows['cn:CN-2']['id']}"))["data"]
    assert [w["message"] for w in cn["waiting_for"]] == [
        "waiting for invoice INV-1002 to be accepted"]
    stock = (await get(kra_browser,
                       f"/api/dashboard/invoices/{rows['stock:GRN-7']['id']}"))["data"]
    assert stock["waiting_for"] == [] and stock["document"]["Quantity"] == "24"
    assert stock["lines"] == [] and stock["bands"] == []


async def test_a_credit_note_s_original_is_read_once(kra, kra_browser, monkeypatch):
    """CN-2's original (INV-1002, not sent yet) is both what it waits for and its link."""
    rows = await rows_by_number(kra_browser)
    store = kra.core._runner.app[DEPS].store
    asked: list[str] = []
    get_invoice = store.get_invoice

    async def counting(pos_id: str, invoice_no: str):
        asked.append(invoice_no)
        return await get_invoice(pos_id, invoice_no)

    monkeypatch.setattr(store, "get_invoice", counting)
    cn = (await get(kra_browser, f"/api/dashboard/invoices/{rows['cn:CN-2']['id']}"))["data"]
    assert cn["original_invoice_id"] == rows["INV-1002"]["id"]
    assert [w["invoice_no"] for w in cn["waiting_for"]] == ["INV-1002"]
    assert asked == ["INV-1002"]


async def test_sums_cover_sales_and_credit_notes_only(kra_browser):
    frame = {"from": DAY, "to": DAY}
    sales = (await get(kra_browser, "/api/dashboard/reports/sales", **frame))["data"]
    # INV-1001 7525 + INV-1002 1200 − CN-1 3500 − CN-2 1200; items and stock not counted
    assert sales["totals"] == {"count": 4, "amount": "3537.43", "tax": "487.57",
                               "total": "4025"}
    recon = (await get(kra_browser, "/api/dashboard/reports/reconciliation", **frame))["data"]
    assert recon["local"]["count"] == 4 and recon["confirmed"]["total"] == "4025"
    bands = (await get(kra_browser, "/api/dashboard/reports/tax-bands", **frame))
    data = bands["data"]
    assert {b["band"]: (b["taxable"], b["tax"]) for b in data["bands"]} == {
        "A": ("460", "0"), "B": ("3500", "482.76"), "C": ("0", "0"), "D": ("0", "0"),
        "E": ("65", "4.81")}
    assert data["totals"] == {"taxable": "4025", "tax": "487.57"}
    assert data["sales"]["count"] == 2 and data["credit_notes"]["total"] == "-4700"
    assert data["net"]["total"] == "4025" and "tax 487.57 KES" in bands["message"]


async def test_sales_report_of_items_sums_to_zero(kra_browser):
    """A kind asked for narrows the sums; items and stock carry no money, so nothing is summed
    (not every sale, as if no kind were asked for)."""
    frame = {"from": DAY, "to": DAY}
    for kind in ("item", "stock"):
        data = (await get(kra_browser, "/api/dashboard/reports/sales", kind=kind,
                          **frame))["data"]
        assert data["totals"] == {"count": 0, "amount": "0", "tax": "0", "total": "0"}
        assert data["rows"] == [] and data["by_pos"] == []
    notes = (await get(kra_browser, "/api/dashboard/reports/sales", kind="credit_note",
                       **frame))["data"]
    assert notes["totals"]["count"] == 2 and notes["totals"]["total"] == "-4700"


async def test_kenya_exports_have_kind_customer_and_bands(kra_browser):
    _, raw = await download(kra_browser, "/api/dashboard/export/invoices.csv")
    text = raw.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    by_number = {r["Invoice no"]: r for r in table}
    sale = by_number["INV-1001"]
    assert sale["Kind"] == "Sale" and sale["Customer PIN"] == "P051234567A"
    assert sale["Band B taxable"] == "7000" and sale["Band B tax"] == "965.52"
    assert sale["Band E tax"] == "4.81" and sale["Receipt link"] == KRA_CHECKER + "1001"
    cn = by_number["cn:CN-1"]
    assert cn["Kind"] == "Credit note" and cn["Original invoice"] == "INV-1001"
    assert cn["Total"] == "-3500" and cn["Band B tax"] == "-482.76"
    item = by_number[f"item:{OIL}"]
    assert item["Kind"] == "Item registration" and item["Total"] == ""
    _, raw = await download(kra_browser, "/api/dashboard/export/invoices.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(raw)).active
    header = [c.value for c in sheet[1]]
    assert "Band B tax" in header and "Customer PIN" in header
    _, raw = await download(kra_browser, "/api/dashboard/export/tax-bands.csv",
                            **{"from": DAY, "to": DAY})
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == ["Band", "Rate", "Documents", "Taxable (KES)", "Tax (KES)"]
    assert lines[2] == ["Band B", "16", "4", "3500", "482.76"]
    assert lines[-1] == ["Total", "", "", "4025", "487.57"]


def _paid_with(row: tuple, payment_type: str, number: str | None = None,
               original: str | None = None) -> tuple:
    """A row of ROWS, paid another way (and renumbered); a credit note takes its original's."""
    detail = row[4] | {"payment_type": payment_type}
    if number:
        detail |= {"invoice_no": number}
    if original:
        detail |= {"original_invoice_no": original}
    return (number or row[0], *row[1:4], detail, *row[5:])


# The shop's day paid in eTIMS payment types: INV-1001 and its credit note CN-1 by mobile money
# (06), INV-1002 and CN-2 by card (05), INV-1003 by cheque (04), INV-1004 in cash (01).
PAID_ROWS = [*(r for r in ROWS if r[1] in ("item", "stock")),
             _paid_with(ROWS[3], "06"), _paid_with(ROWS[5], "06"),
             _paid_with(ROWS[4], "05"), _paid_with(ROWS[6], "05"),
             _paid_with(ROWS[4], "04", "INV-1003"), _paid_with(ROWS[4], "01", "INV-1004")]


@pytest.fixture
async def paid_browser(tmp_path: Path, sandbox: KpraSandbox) -> AsyncIterator[Browser]:
    running = await kenya_utility(tmp_path, sandbox, "protax", "test", rows=PAID_ROWS)
    try:
        async with browser_of(running) as browser:
            status, body, _ = await browser.sign_in(POS_ID, KEY)
            assert status == 200, body
            yield browser
    finally:
        await running.stop()


async def test_sales_report_groups_by_etims_payment_type(paid_browser):
    frame = {"from": DAY, "to": DAY}
    data = (await get(paid_browser, "/api/dashboard/reports/sales", **frame))["data"]
    assert [(m["payment_mode"], m["payment_mode_name"], m["count"], m["total"])
            for m in data["by_payment_mode"]] == [
        (1, "Cash", 1, "1200"), (4, "Bank cheque", 1, "1200"), (5, "Card", 2, "0"),
        (6, "Mobile money", 2, "4025")]
    assert {r["payment_mode_name"] for r in data["rows"]} == {
        "Cash", "Bank cheque", "Card", "Mobile money"}
    assert data["totals"]["count"] == 6 and data["totals"]["total"] == "6425"
    # the filter takes every eTIMS type (and only those)
    mobile = (await get(paid_browser, "/api/dashboard/reports/sales", payment_mode=6,
                        **frame))["data"]
    assert [(m["payment_mode_name"], m["total"]) for m in mobile["by_payment_mode"]] == [
        ("Mobile money", "4025")]
    credit = (await get(paid_browser, "/api/dashboard/reports/sales", payment_mode=2,
                        **frame))["data"]
    assert credit["by_payment_mode"] == [] and credit["totals"]["count"] == 0
    bad = await get(paid_browser, "/api/dashboard/reports/sales", 400, payment_mode=8)
    assert "7 (other)" in bad["errors"]["payment_mode"]
    # the filter's choices, the list and the exports name them the same way
    authority = (await get(paid_browser, "/api/dashboard/authority"))["data"]
    assert [m["payment_mode_name"] for m in authority["payment_modes"]] == [
        "Cash", "Credit", "Cash/credit", "Bank cheque", "Card", "Mobile money", "Other"]
    rows = await rows_by_number(paid_browser, payment_mode=5)
    assert {n: r["payment_mode_name"] for n, r in rows.items()} == {
        "INV-1002": "Card", "cn:CN-2": "Card"}
    _, raw = await download(paid_browser, "/api/dashboard/export/sales.csv", **frame)
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {line[2] for line in lines[1:-1]} == {"Cash", "Bank cheque", "Card", "Mobile money"}
    _, raw = await download(paid_browser, "/api/dashboard/export/invoices.csv")
    table = {r["Invoice no"]: r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}
    assert (table["INV-1003"]["Payment mode"], table["cn:CN-1"]["Payment mode"]) == (
        "Bank cheque", "Mobile money")


async def test_kpra_payment_modes_stay_cash_and_card(utility):
    async with browser_of(utility) as browser:
        status, body, _ = await browser.sign_in()
        assert status == 200, body
        data = (await get(browser, "/api/dashboard/authority"))["data"]
        assert data["payment_modes"] == [{"payment_mode": 1, "payment_mode_name": "Cash"},
                                         {"payment_mode": 2, "payment_mode_name": "Card"}]
        bad = await get(browser, "/api/dashboard/reports/sales", 400, payment_mode=6)
        assert bad["errors"]["payment_mode"] == "must be 1 (cash) or 2 (card)"


async def test_customer_pin_lookup(protax, protax_browser, kra_browser):
    ASKED.clear()
    found = await get(protax_browser, "/api/dashboard/customers", pin="p051234567a")
    assert found["data"] == {"pin": "P051234567A", "found": True,
                             "name": "Mombasa Auto Spares Ltd",
                             "details": CUSTOMERS["P051234567A"]}
    missing = await get(protax_browser, "/api/dashboard/customers", pin="A000000000Z")
    assert missing["data"]["found"] is False and "knows no taxpayer" in missing["message"]
    for bad in ("", "P05123456A", "0512345678A", "P0512345678", "P051234567AB",
                "P\u0660\u0665\u0661\u0662\u0663\u0664\u0665\u0666\u0667A"):  # Arabic-Indic digits
        body = await get(protax_browser, "/api/dashboard/customers", 400, pin=bad)
        assert "letter, 9 digits and a letter" in body["message"]
    assert ASKED == ["P051234567A", "A000000000Z"], "bad PINs never reach ProTax"
    body = await get(kra_browser, "/api/dashboard/customers", 404, pin="P051234567A")
    assert "ProTax only" in body["message"]
    async with browser_of(protax) as nobody:
        status, _, _ = await nobody.call("GET", "/api/dashboard/customers",
                                         params={"pin": "P051234567A"})
        assert status == 401


# ---------------------------------------------------------------- end to end, practice mode
# A Core in practice mode for each Kenya upstream (its own sandbox over HTTPS): the till posts
# a sale and a credit note, the forwarder sends them, and the dashboard shows what the sandbox
# answered. ServerDeps gets what Core fills in from settings.upstream and the Facade.

async def practice_core(tmp_path: Path, upstream: str) -> Core:
    settings = dataclasses.replace(load(tmp_path / f"practice-{upstream}", port=0),
                                   upstream=upstream, practice=True)
    core = Core(settings)
    await core.start()
    deps = core._runner.app[DEPS]
    deps.upstream = upstream
    deps.key_mode = await core.facade.protax_key_mode()
    deps.lookup_customer = core.facade.lookup_customer if upstream == "protax" else None
    return core


def _till_key(upstream: str) -> str:
    if upstream == "protax":
        from app.sandbox import protax as sandbox
        return sandbox.DEFAULT_KEY
    return upstreams.KENYA_PRACTICE_TILL_KEY


@pytest.mark.parametrize("upstream", ["kra-agent", "protax"])
async def test_practice_sale_and_credit_note_end_to_end(tmp_path, upstream):
    core = await practice_core(tmp_path, upstream)
    try:
        key = _till_key(upstream)
        who = {"ntn": upstreams.KENYA_PRACTICE_PIN, "pos_id": upstreams.KENYA_PRACTICE_POS_ID,
               "key": key}
        async with aiohttp.ClientSession(base_url=core.base_url,
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            sale = {**who, "invoice_no": "E2E-1", "date_time": f"{DAY} 10:15:00",
                    "customer_pin": "P051234567A", "customer_name": "Acme Ltd",
                    "items": [{"item_code": OIL, "item_name": "Sinda Engine Oil 20W50 4L",
                               "quantity": 2, "unit_price": 3500, "tax_type": "B",
                               "item_class_code": "5059690800"}]}
            async with http.post("/api/invoice", json=sale) as response:
                assert response.status == 201, await response.text()
            credit = {**who, "credit_note_no": "E2E-CN-1", "original_invoice_no": "E2E-1",
                      "reason": "Goods returned", "date_time": f"{DAY} 11:00:00"}
            async with http.post("/api/credit-note", json=credit) as response:
                assert response.status == 201, await response.text()

            async def synced(number: str) -> bool:
                async with http.get(f"/api/invoices/{who['pos_id']}/{number}") as response:
                    return (await response.json())["data"].get("state") == "synced"

            for number in ("E2E-1", "cn:E2E-CN-1"):
                await wait_for(lambda n=number: synced(n), what=f"{number} synced")
            async with http.post("/api/session", json={"pos_id": who["pos_id"],
                                                       "key": key}) as response:
                assert response.status == 200, await response.text()
            async with http.get("/api/dashboard/invoices") as response:
                items = {i["invoice_no"]: i for i in (await response.json())["data"]["items"]}
            assert {i["kind"] for i in items.values()} == {"invoice", "credit_note", "item"}
            sale_row, credit_row = items["E2E-1"], items["cn:E2E-CN-1"]
            assert sale_row["receipt_url"] and sale_row["upstream_ref"]
            assert credit_row["total_amount"] == f"-{sale_row['total_amount']}"
            async with http.get(f"/api/dashboard/invoices/{sale_row['id']}") as response:
                d = (await response.json())["data"]
            assert d["lines"][0]["item_code"] == OIL and d["customer_name"] == "Acme Ltd"
            assert {b["band"]: b["tax"] for b in d["bands"]}["B"] == d["tax_amount"]
            assert d["receipt_link_text"] == ("Open on KRA's invoice checker"
                                              if upstream == "kra-agent"
                                              else "Open ProTax's receipt QR page")
            async with http.get(d["receipt_qr_png"]) as response:
                assert response.status == 200 and response.content_type == "image/png"
            async with http.get(f"/api/dashboard/invoices/{credit_row['id']}") as response:
                cn = (await response.json())["data"]
            assert cn["original_invoice_id"] == sale_row["id"] and cn["receipt_url"]
            async with http.get("/api/dashboard/reports/tax-bands",
                                params={"from": DAY, "to": DAY}) as response:
                bands = (await response.json())["data"]
            assert {k: Decimal(v) for k, v in bands["totals"].items()} == {
                "taxable": 0, "tax": 0}, "the full credit note cancels the sale"
            assert bands["sales"]["count"] == 1 and bands["credit_notes"]["count"] == 1
            async with http.get("/api/dashboard/authority") as response:
                authority = (await response.json())["data"]
            if upstream == "protax":
                assert authority["authority"] == "KRA eTIMS via ProTax (TEST key)"
                async with http.get("/api/dashboard/customers",
                                    params={"pin": "P051234567A"}) as response:
                    found = (await response.json())["data"]
                assert found["found"] is True and found["name"] == "Acme Ltd"
                async with http.get("/api/dashboard/customers",
                                    params={"pin": "P999999999Z"}) as response:
                    assert (await response.json())["data"]["found"] is False
            else:
                assert authority["authority"] == "KRA eTIMS via KRA Agent"
    finally:
        await core.stop()
