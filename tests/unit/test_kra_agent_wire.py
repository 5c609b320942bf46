"""Every KRA Agent request example of seed 002 that the utility sends, rebuilt from the row the
utility would hold (docs/KENYA.md "detail") and compared with the document's JSON
(tests/fixtures/kra_agent/requests/, copied verbatim): field names, order, shapes and amounts.

Fields we deliberately send differently (DIFFERS below), and why:
- regrId/regrNm/modrId/modrNm: "RIMS Utility", not the example's "Test";
- requestID: "<pos>-<row id>-<step>", stable across retries (the agent answers a repeat with its
  first answer), not the example's placeholder;
- credit note orgInvcNo: the original sale's invcNo (the example's 0 names no sale);
  rcptPbctDt: the refund's own time (the example's 20201118120300 matches no other date in it);
  otp_code: not sent (the utility works unattended; there is no OTP);
- insertStockIO sarTyCd: from the movement type (IN→06, RETURN→03, OUT→16, DAMAGE→15); the
  example's "11" is a sale, which the utility reports as a sale; cmcKey null (the agent knows the
  device by Client-ID; the utility never keeps the cmcKey); custTin null (no customer in a stock
  movement); remark: the movement's reference (GRN number) instead of null.
"""

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from app.connectors import kra_agent_wire as wire
from app.domain import wire_json
from app.domain.states import State
from app.store.records import InvoiceRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kra_agent" / "requests"
REGISTRAR = {"regrId": "RIMS Utility", "regrNm": "RIMS Utility", "modrId": "RIMS Utility",
             "modrNm": "RIMS Utility"}
# 2025-07-16 11:49:31 in Nairobi (UTC+3): the examples' lastReqDt
RECEIVED = datetime.fromisoformat("2025-07-16T11:49:31+03:00").timestamp()


def fixture(name: str) -> dict:
    return wire_json.loads((FIXTURES / f"{name}.json").read_bytes())


def record(kind: str, detail: dict, *, id_: int = 1, pos_id: str = "POS1",
           ntn: str = "P051234567A", refs: dict | None = None, invoice_no: str = "x",
           ambiguous: bool = False) -> InvoiceRecord:
    return InvoiceRecord(
        id=id_, pos_id=pos_id, invoice_no=invoice_no, ntn=ntn, amount=Decimal(0),
        tax_rate=Decimal(0), tax_amount=Decimal(0), total_amount=Decimal(0),
        date_time=detail.get("date_time", "2025-07-16 11:49:31"), payment_mode=1, warnings=[],
        content_hash="h", state=State.SENDING, received_at=RECEIVED, updated_at=RECEIVED,
        attempts=0, next_attempt_at=0, ambiguous=ambiguous, last_error=None, last_status=None,
        transaction_id=None, synced_at=None, kind=kind, detail=detail, refs=refs or {})


def same(ours: object, theirs: object, **ours_instead: object) -> None:
    """Equal as JSON text (names, order, types, exact numbers), once the fields we send on
    purpose differently are replaced in the document's example by ours."""
    expected = dict(theirs) if isinstance(theirs, dict) else theirs
    if isinstance(expected, dict):
        for key, value in ours_instead.items():
            assert key in expected, key
            expected[key] = value
    assert wire_json.dumps(ours) == wire_json.dumps(expected)


def _line(seq, code, name, qty, supply, tax, net):
    return {"seq": seq, "item_code": code, "item_name": name, "item_class_code": "5059690800",
            "pkg_unit": "NT", "qty_unit": "U", "quantity": qty, "unit_price": "3500",
            "discount_rate": "0", "discount_amount": "0", "supply_amount": supply,
            "taxable_amount": supply, "tax_type": "B", "tax_rate": "18", "tax_amount": tax,
            "net_amount": net, "gross_amount": supply}


def _bands():
    zero = {"rate": "0", "taxable": "0", "tax": "0"}
    return {"A": zero, "B": {"rate": "18", "taxable": "10500", "tax": "1602"}, "C": zero,
            "D": zero, "E": zero}


SALE_DETAIL = {
    "kind": "invoice", "invoice_no": "1414", "date_time": "2025-07-16 11:49:31",
    "pin": "P051234567A", "customer_pin": "A123456789A", "customer_name": "Taxpayer1112",
    "payment_type": "01", "sales_type": "N", "currency": "KES", "exchange_rate": "1",
    "prices_include_tax": True,
    "lines": [_line(1, "KE1NTXU0000013", "test item 1", "2", "7000", "1068", "5932"),
              _line(2, "KE1NTXU0000013", "test item 2", "1", "3500", "534", "2966")],
    "bands": _bands(),
    "totals": {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"},
}

CREDIT_DETAIL = {
    **SALE_DETAIL, "kind": "credit_note", "credit_note_no": "50041", "original_invoice_no": "1414",
    "date_time": "2025-07-11 10:12:07", "original_date_time": "2020-01-27 21:03:00",
    "customer_pin": "A123456789Z", "reason": "Goods returned", "reason_code": "06", "full": True,
    "lines": [_line(1, "KE1NTXU0000013", "test item 1", "2", "7000", "1068", "5932"),
              _line(2, "KE1NTXU0000014", "test item 2", "1", "3500", "534", "2966")],
}


def test_sale_example_is_rebuilt_from_the_row():
    row = record("invoice", SALE_DETAIL, id_=101, pos_id="POS1", invoice_no="1414")
    form = wire.sale_form(row)
    example = fixture("sale")
    assert set(form) == set(example) == {"sales", "requestID"}
    same(wire_json.loads(form["sales"]), example["sales"], **REGISTRAR)
    assert form["requestID"] == "POS1-101-sale"


def test_sale_amounts_are_json_numbers_never_floats():
    text = wire.sale_form(record("invoice", SALE_DETAIL, id_=101))["sales"]
    assert '"taxAmtB":1602,' in text and '"taxRtB":18,' in text and '"trdInvcNo":1414,' in text
    cents = {**SALE_DETAIL, "totals": {**SALE_DETAIL["totals"], "tax": "1601.69"}}
    assert '"totTaxAmt":1601.69,' in wire.sale_form(record("invoice", cents))["sales"]


def test_a_non_numeric_till_number_goes_as_text():
    detail = {**SALE_DETAIL, "invoice_no": "INV-1"}
    assert wire.sale(detail, invc_no=5)["trdInvcNo"] == "INV-1"
    assert wire.sale({**detail, "invoice_no": "0099"}, invc_no=5)["trdInvcNo"] == "0099"


def test_credit_note_example_is_rebuilt_from_the_row():
    row = record("credit_note", CREDIT_DETAIL, id_=4578, invoice_no="cn:50041",
                 refs={"1414": ("1056138", "101")})
    form = wire.sale_form(row)
    example = fixture("credit_note")
    assert set(example) - set(form) == {"otp_code"}  # not sent: no OTP in unattended sending
    theirs = example["sales"]
    same(wire_json.loads(form["sales"]), theirs, orgInvcNo=101,
         receipt={**theirs["receipt"], "rcptPbctDt": "20250711101207"}, **REGISTRAR)
    assert form["requestID"] == "POS1-4578-credit"


def test_credit_note_without_the_original_date_is_dated_by_itself():
    detail = {k: v for k, v in CREDIT_DETAIL.items() if k != "original_date_time"}
    sales = wire.sale(detail, invc_no=7, org_invc_no=101)
    assert sales["cfmDt"] == sales["cnclDt"] == "20250711101207" and sales["salesDt"] == "20250711"


def test_credit_note_needs_the_originals_invoice_number():
    row = record("credit_note", CREDIT_DETAIL, refs={"1414": ("1056138", None)})
    with pytest.raises(KeyError):
        wire.sale_form(row)


ITEM_DETAIL = {"kind": "item", "item_code": "KE1NTXU0000013", "item_name": "Sinda Engine Oil 20W50",
               "item_class_code": "9901300101", "item_type": "1", "origin_country": "KE",
               "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": "2900"}


def test_product_example_is_rebuilt_one_row_per_product():
    example = fixture("product_save")
    assert set(example) == {"products", "requestID"}
    theirs = example["products"]["products"]
    assert len(theirs) == 3
    for index, product in enumerate(theirs):
        row = record("item", {**ITEM_DETAIL, "item_code": product["itemCd"]}, id_=10 + index,
                     invoice_no=f"item:{product['itemCd']}")
        form = wire.item_form(row)
        ours = wire_json.loads(form["products"])
        assert list(ours) == ["products"] and len(ours["products"]) == 1
        same(ours["products"][0], product, **REGISTRAR)
        assert form["requestID"] == f"POS1-{10 + index}-item"


STOCK_DETAIL = {"kind": "stock", "reference": "GRN-7", "item_code": "KE1NTXU0000001",
                "item_name": "test item1", "item_class_code": "5059690800", "pkg_unit": "NT",
                "qty_unit": "U", "tax_type": "B", "tax_rate": "18", "adjustment_type": "IN",
                "quantity": "10", "date": "2020-01-26", "unit_cost": "3500",
                "remaining_quantity": "10"}


def test_stock_io_example_is_rebuilt_from_two_movements():
    second = {**STOCK_DETAIL, "item_code": "KE1NTXU0000002", "item_name": "test item2",
              "pkg_unit": "BL"}
    ours = wire.stock_io([STOCK_DETAIL, second], sar_no=2, tin="A123456789Z")
    example = fixture("stock_io")
    assert set(example) == {"data", "requestID"}
    same(ours, example["data"], sarTyCd="06", cmcKey=None, custTin=None, remark="GRN-7",
         **REGISTRAR)
    assert ours["totTaxAmt"] == Decimal("10677.96")  # 2 × 5338.98: inclusive, to cents


def test_one_stock_row_makes_both_requests_with_their_own_request_ids():
    row = record("stock", STOCK_DETAIL, id_=2, ntn="A123456789Z", invoice_no="stock:GRN-7")
    moved, master = wire.stock_forms(row)
    data = wire_json.loads(moved["data"])
    assert data["sarNo"] == data["orgSarNo"] == 2 and data["totItemCnt"] == 1
    assert data["itemList"][0]["taxAmt"] == Decimal("5338.98")
    assert (moved["requestID"], master["requestID"]) == ("POS1-2-stockio", "POS1-2-stockmaster")
    example = fixture("stock_master")
    same(wire_json.loads(master["data"]),
         {**example["data"], "itemCd": "KE1NTXU0000001"}, **REGISTRAR)
    assert set(master) == set(example)


@pytest.mark.parametrize("kind,code", [("IN", "06"), ("RETURN", "03"), ("OUT", "16"),
                                       ("DAMAGE", "15")])
def test_stock_movement_types(kind, code):
    assert wire.stock_io([{**STOCK_DETAIL, "adjustment_type": kind}], sar_no=1,
                         tin="P")["sarTyCd"] == code


def test_stock_tax_exclusive_and_given():
    assert wire.stock_tax({**STOCK_DETAIL, "prices_include_tax": False}) == Decimal("6300.00")
    assert wire.stock_tax({**STOCK_DETAIL, "tax_amount": "12.5"}) == Decimal("12.5")


def test_request_ids_are_stable_per_row_and_step():
    row = record("invoice", SALE_DETAIL, id_=9)
    assert wire.sale_form(row)["requestID"] == wire.sale_form(row)["requestID"] == "POS1-9-sale"


def test_numbers():
    assert wire.num("7000.00") == 7000 and isinstance(wire.num("7000.00"), int)
    assert str(wire.num("5338.980")) == "5338.98"
    assert wire.num(None) is None and wire.num0("") == 0
    assert wire.compact_dt("2025-07-16 11:49:31") == "20250716114931"
    assert wire.compact_date("2025-07-16") == "20250716"


def test_every_fixture_is_the_documents_json():
    for path in FIXTURES.glob("*.json"):
        json.loads(path.read_text())  # valid JSON, numbers as the document wrote them
    assert {p.stem for p in FIXTURES.glob("*.json")} == {
        "login", "refresh_token", "pos_setup", "product_save", "sale", "credit_note", "stock_io",
        "stock_master"}
