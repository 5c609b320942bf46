"""Every ProTax API v2 request example of seed 004 that the utility sends, rebuilt from the row
the utility would hold (docs/KENYA.md "detail") and compared with the document's JSON
(tests/fixtures/protax/requests/, copied verbatim).

Deliberate differences: the invoice carries ``offline_mode: true`` (ProTax queues it when KRA is
unreachable; the utility polls), and a stock adjustment carries its ``reference`` (optional in
the document, the GRN number). Not sent by the utility at all: ``PUT /items/{id}`` (items are
registered once; a price change is the till's business) and ``POST /webhooks`` (a desktop cannot
receive webhooks: the utility polls ``GET /invoices/{id}``).
"""

from decimal import Decimal
from pathlib import Path

import pytest

from app.connectors import protax_wire as wire
from app.domain import wire_json
from app.domain.kenya import PAYMENT_TYPES
from app.sandbox.protax_api import PAYMENT_TYPES as PROTAX_TYPES
from tests.unit.test_kra_agent_wire import record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protax" / "requests"
NOT_SENT = {"item_update", "webhook"}


def fixture(name: str) -> dict:
    return wire_json.loads((FIXTURES / f"{name}.json").read_bytes())


def same(ours: object, theirs: object) -> None:
    assert wire_json.dumps(ours) == wire_json.dumps(theirs)


def _line(code="SRV-1", qty="5", price="10000", net="50000", tax="8000", gross="58000",
          discount="0", tax_type="A"):
    return {"seq": 1, "item_code": code, "item_name": "IT Consulting Services",
            "item_class_code": "99111002", "pkg_unit": "NX", "qty_unit": "HUR", "quantity": qty,
            "unit_price": price, "discount_rate": "0", "discount_amount": discount,
            "supply_amount": str(Decimal(qty) * Decimal(price)), "taxable_amount": net,
            "tax_type": tax_type, "tax_rate": "16", "tax_amount": tax, "net_amount": net,
            "gross_amount": gross}


INVOICE_DETAIL = {
    "kind": "invoice", "invoice_no": "INV-2026-001", "date_time": "2026-04-12 09:30:00",
    "pin": "P051234567B", "customer_pin": "P051234567A", "customer_name": "Acme Ltd",
    "payment_type": "01", "sales_type": "N", "currency": "KES", "exchange_rate": "1",
    "prices_include_tax": False, "lines": [_line()],
    "bands": {"A": {"rate": "16", "taxable": "50000", "tax": "8000"}},
    "totals": {"taxable": "50000", "tax": "8000", "net": "50000", "gross": "58000"},
}
REFS = {"item:SRV-1": ("itm_abc123", "itm_abc123")}


def test_invoice_example_is_rebuilt_from_the_row():
    row = record("invoice", INVOICE_DETAIL, refs=REFS, invoice_no="INV-2026-001")
    example = fixture("invoice")
    assert (example["method"], example["path"]) == ("POST", "/invoices")
    same(wire.invoice(row.detail, row.refs), {**example["body"], "offline_mode": True})


def test_walk_in_customer_and_foreign_currency():
    detail = {**INVOICE_DETAIL, "customer_name": None, "customer_pin": None, "currency": "USD",
              "exchange_rate": "129.5"}
    body = wire.invoice(detail, REFS)
    assert body["customer_name"] == "Walk-in customer" and "customer_pin" not in body
    assert body["currency_code"] == "USD" and body["exchange_rate"] == Decimal("129.5")
    assert "exchange_rate" not in wire.invoice(INVOICE_DETAIL, REFS)


def test_tax_inclusive_prices_go_out_net_of_vat_to_the_cent():
    whole = {**INVOICE_DETAIL, "prices_include_tax": True,
             "lines": [_line(price="11600", net="50000", gross="58000")]}
    assert wire.invoice(whole, REFS)["items"][0]["unit_price"] == 10000
    odd = {**INVOICE_DETAIL, "prices_include_tax": True,
           "lines": [_line(qty="3", price="100", net="258.62", tax="41.38", gross="300")]}
    assert wire.invoice(odd, REFS)["items"][0]["unit_price"] == Decimal("86.21")
    discounted = {**INVOICE_DETAIL,
                  "lines": [_line(qty="2", price="100", net="180", discount="20", gross="208.8")]}
    assert wire.invoice(discounted, REFS)["items"][0]["unit_price"] == 90


@pytest.mark.parametrize(("etims", "protax"), [
    ("01", "01"),  # cash
    ("02", "02"),  # credit
    ("03", "02"),  # cash/credit: part of it is owed
    ("04", "03"),  # bank cheque → ProTax's Cheque
    ("05", "01"),  # debit/credit card: ProTax has none; paid at the sale, like cash
    ("06", "04"),  # mobile money → ProTax's Mobile Money
    ("07", "01"),  # other: cash, ProTax's default
    (None, "01"),
])
def test_etims_payment_types_map_to_protax_codes(etims, protax):
    """ProTax knows only 01 Cash, 02 Credit, 03 Cheque, 04 Mobile Money (seed 004); the row's
    detail keeps the till's eTIMS code 01..07."""
    detail = {**INVOICE_DETAIL, "payment_type": etims}
    assert wire.invoice(detail, REFS)["payment_type_code"] == protax
    assert detail["payment_type"] == etims


def test_every_etims_payment_type_maps_to_one_protax_accepts():
    assert set(wire.PAYMENT_TYPE_CODES) == set(PAYMENT_TYPES)
    assert set(wire.PAYMENT_TYPE_CODES.values()) <= set(PROTAX_TYPES) == {"01", "02", "03", "04"}


def test_an_item_without_its_protax_id_is_not_sent():
    with pytest.raises(wire.MissingReference):
        wire.invoice(INVOICE_DETAIL, {})


CREDIT_DETAIL = {**INVOICE_DETAIL, "kind": "credit_note", "credit_note_no": "CN-1",
                 "original_invoice_no": "INV-2026-001", "reason": "Goods returned by customer",
                 "reason_code": "06", "full": True}


def test_full_credit_note_example_is_rebuilt_from_the_row():
    row = record("credit_note", CREDIT_DETAIL, invoice_no="cn:CN-1",
                 refs={"INV-2026-001": ("inv_xyz789", "KRA20260412001234"), **REFS})
    example = fixture("credit_note")
    assert (example["method"], example["path"]) == ("POST", "/invoices/credit-note")
    same(wire.credit_note(row.detail, row.refs), example["body"])


def test_partial_credit_note_lists_its_items():
    detail = {**CREDIT_DETAIL, "full": False, "lines": [_line(qty="2", net="20000")]}
    body = wire.credit_note(detail, {"INV-2026-001": ("inv_xyz789", None), **REFS})
    assert body["items"] == [{"item_id": "itm_abc123", "quantity": 2, "unit_price": 10000,
                              "tax_type_code": "A"}]


ITEM_DETAIL = {"kind": "item", "item_code": "KE2NXHUR0000001", "item_name": "IT Consulting Services",
               "item_class_code": "99111002", "item_type": "2", "origin_country": "KE",
               "pkg_unit": "NX", "qty_unit": "HUR", "tax_type": "A", "unit_price": "10000"}


def test_item_example_is_rebuilt_from_the_row():
    example = fixture("item")
    assert (example["method"], example["path"]) == ("POST", "/items")
    same(wire.item(record("item", ITEM_DETAIL).detail), example["body"])


STOCK_DETAIL = {"kind": "stock", "reference": "GRN-7", "item_code": "SRV-1", "item_name": "x",
                "item_class_code": "99111002", "pkg_unit": "NX", "qty_unit": "U",
                "tax_type": "A", "tax_rate": "16", "adjustment_type": "IN", "quantity": "100",
                "date": "2026-04-12", "unit_cost": "4500", "remaining_quantity": "110"}


def test_stock_adjustment_example_is_rebuilt_from_the_row():
    example = fixture("stock_adjustment")
    assert (example["method"], example["path"]) == ("POST", "/stock/adjustment")
    body = wire.stock_adjustment(record("stock", STOCK_DETAIL).detail, REFS)
    theirs = dict(example["body"])
    theirs = {k: theirs[k] for k in ("item_id", "adjustment_type", "quantity", "adjustment_date")}
    same(body, {**theirs, "reference": "GRN-7", "unit_cost": example["body"]["unit_cost"]})


def test_every_fixture_is_sent_or_listed_as_not_sent():
    assert {p.stem for p in FIXTURES.glob("*.json")} - NOT_SENT == {
        "invoice", "credit_note", "item", "stock_adjustment"}


@pytest.mark.parametrize("key,kind", [("ptx_test_abc", "test"), ("ptx_live_abc", "live"),
                                      ("abc", "unknown")])
def test_key_kind(key, kind):
    assert wire.key_kind(key) == kind
