"""Kenya documents (issue 8): every rule names its field; the seeds' documents come out exactly."""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvoiceValidationError
from app.domain.kenya import (
    DEFAULT_ITEM_CLASS,
    KINDS,
    Document,
    KenyaSubmission,
    KenyaValidationError,
    assign_item_codes,
    credit_note_detail,
    credited_quantities,
    kra_item_code,
    parse_credit_note,
    parse_invoice,
    parse_item,
    parse_stock,
    resolve_credit_note,
)
from app.domain.kenya_tax import BANDS, tax_config

D = Decimal
NOW = datetime(2025, 7, 16, 12, 0, 0)
KRA = tax_config("kra-agent", rates={"B": 18}, rounding="1")
PROTAX = tax_config("protax")
SHOP = {"ntn": "P051234567A", "pos_id": "POS-1", "key": "token"}
SALE = {  # seed 002, POST Sale 5.1, as the till posts it to the utility
    **SHOP, "invoice_no": "INV-1", "date_time": "2025-07-16 11:49:31",
    "customer_pin": "A123456789A", "customer_name": "Taxpayer1112", "payment_type": "01",
    "items": [
        {"item_code": "KE1NTXU0000013", "item_name": "test item 1", "item_class_code": "5059690800",
         "quantity": 2, "unit_price": 3500, "tax_type": "B"},
        {"item_code": "KE1NTXU0000014", "item_name": "test item 2", "item_class_code": "5059690800",
         "quantity": 1, "unit_price": 3500, "tax_type": "B"},
    ],
}


def errors_of(parse, fields, **kwargs):
    with pytest.raises(KenyaValidationError) as caught:
        parse(fields, now=NOW, **kwargs)
    assert isinstance(caught.value, InvoiceValidationError)
    return caught.value.errors


def sale(**changes):
    return {**SALE, **changes}


def line(index=0, **changes):
    items = [dict(item) for item in SALE["items"]]
    items[index].update(changes)
    return sale(items=items)


# --- invoice -----------------------------------------------------------------------------------


def test_the_seed_sale():
    submission = parse_invoice(SALE, now=NOW, config=KRA)
    assert isinstance(submission, KenyaSubmission) and submission.key == "token"
    doc = submission.document
    assert (doc.kind, doc.ntn, doc.pos_id, doc.number) == ("invoice", "P051234567A", "POS-1", "INV-1")
    assert (doc.amount, doc.tax_amount, doc.total_amount, doc.tax_rate) == \
        (D(8898), D(1602), D(10500), D("18.00"))
    assert doc.date_time == datetime(2025, 7, 16, 11, 49, 31) and doc.payment_mode == 1
    assert doc.wire_date_time == "2025-07-16 11:49:31"
    detail = doc.detail
    assert detail["kind"] == "invoice" and detail["pin"] == "P051234567A"
    assert (detail["customer_pin"], detail["customer_name"]) == ("A123456789A", "Taxpayer1112")
    assert (detail["payment_type"], detail["sales_type"], detail["currency"], detail["exchange_rate"]) \
        == ("01", "N", "KES", "1")
    assert detail["prices_include_tax"] is True
    assert [x["tax_amount"] for x in detail["lines"]] == ["1068", "534"]
    assert detail["lines"][0]["item_class_code"] == "5059690800"
    assert detail["bands"]["B"] == {"rate": "18", "taxable": "10500", "tax": "1602"}
    assert detail["totals"] == {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"}
    assert doc.needs == ("item:KE1NTXU0000013", "item:KE1NTXU0000014")
    assert [item["item_code"] for item in doc.items] == ["KE1NTXU0000013", "KE1NTXU0000014"]
    assert doc.items[0] == {"kind": "item", "item_code": "KE1NTXU0000013", "item_name": "test item 1",
                            "item_class_code": "5059690800", "item_type": "1", "origin_country": "KE",
                            "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": "3500"}
    assert doc.warnings == () and doc.warnings_json == "[]"
    assert "key" not in doc.received and doc.received["invoice_no"] == "INV-1"
    assert '"key"' not in doc.received_json


def test_the_protax_example():
    doc = parse_invoice(sale(items=[{"item_code": "itm_abc123", "quantity": 5, "unit_price": 10000,
                                     "tax_type": "A"}]), now=NOW, config=PROTAX).document
    assert doc.detail["totals"] == {"taxable": "50000", "tax": "8000", "net": "50000", "gross": "58000"}
    assert (doc.amount, doc.tax_amount, doc.total_amount, doc.tax_rate) == \
        (D(50000), D(8000), D(58000), D("16.00"))
    assert doc.detail["prices_include_tax"] is False


def test_the_till_may_say_how_its_prices_are_meant():
    doc = parse_invoice(sale(prices_include_tax=False), now=NOW, config=KRA).document
    assert doc.detail["totals"] == {"taxable": "10500", "tax": "1890", "net": "10500", "gross": "12390"}
    assert doc.detail["prices_include_tax"] is False


@pytest.mark.parametrize("alias", ["pin", "kra_pin"])
def test_the_shops_pin_may_be_called_pin_or_kra_pin(alias):
    fields = {k: v for k, v in SALE.items() if k != "ntn"} | {alias: "P051234567A"}
    assert parse_invoice(fields, now=NOW, config=KRA).document.ntn == "P051234567A"
    assert "ntn" in errors_of(parse_invoice, fields | {"ntn": "P000000000B"}, config=KRA)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"ntn": None}, "ntn", "required"),
    ({"pos_id": ""}, "pos_id", "required"),
    ({"key": None}, "key", "required"),
    ({"key": True}, "key", "text"),
    ({"invoice_no": None}, "invoice_no", "required"),
    ({"invoice_no": "cn:1"}, "invoice_no", "':'"),
    ({"invoice_no": "x" * 51}, "invoice_no", "at most 50"),
    ({"invoice_no": "A\x01"}, "invoice_no", "control"),
    ({"invoice_no": "   "}, "invoice_no", "blank"),
    ({"date_time": None}, "date_time", "required"),
    ({"date_time": "16/07/2025"}, "date_time", "like 2026-04-02 12:12:12"),
    ({"date_time": "2025-02-30 10:00:00"}, "date_time", "not a real date"),
    ({"customer_pin": "12345"}, "customer_pin", "a letter, 9 digits and a letter"),
    ({"customer_pin": 5}, "customer_pin", "KRA PIN"),
    ({"customer_name": "x" * 201}, "customer_name", "at most 200"),
    ({"payment_type": "08"}, "payment_type", "01 to 07"),
    ({"payment_type": "cash"}, "payment_type", "01 to 07"),
    ({"payment_type": None, "payment_mode": 3}, "payment_mode", "1 (cash) or 2 (card)"),
    ({"sales_type": "X"}, "sales_type", "one of N, C, T"),
    ({"currency": "shillings"}, "currency", "3-letter"),
    ({"currency": "USD"}, "exchange_rate", "required when currency is not KES"),
    ({"currency": "USD", "exchange_rate": 0}, "exchange_rate", "greater than 0"),
    ({"prices_include_tax": "maybe"}, "prices_include_tax", "true or false"),
    ({"total_amount": "lots"}, "total_amount", "must be a number"),
    ({"tax_amount": -1}, "tax_amount", "0 or more"),
    ({"items": None}, "items", "required"),
    ({"items": []}, "items", "1 to 1000"),
    ({"items": [{}] * 1001}, "items", "1 to 1000"),
    ({"items": {"a": 1}}, "items", "list"),
    ({"items": ["x"]}, "items[0]", "must be an object"),
])
def test_invoice_rules_name_their_field(changes, field, words):
    errors = errors_of(parse_invoice, sale(**changes), config=KRA)
    assert field in errors, errors
    assert words in errors[field] and field in errors[field], errors[field]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"item_code": None, "item_name": None}, "items[1].item_code",
     "required when there is no items[1].item_name"),
    ({"item_code": "item:1"}, "items[1].item_code", "':'"),
    ({"item_code": "x" * 51}, "items[1].item_code", "at most 50"),
    ({"item_name": "x" * 201}, "items[1].item_name", "at most 200"),
    ({"quantity": 0}, "items[1].quantity", "greater than 0"),
    ({"quantity": None}, "items[1].quantity", "required"),
    ({"quantity": "two"}, "items[1].quantity", "must be a number"),
    ({"unit_price": -1}, "items[1].unit_price", "0 or more"),
    ({"unit_price": 10**11, "quantity": 100}, "items[1].unit_price", "implausibly large"),
    ({"tax_type": "F"}, "items[1].tax_type", "one of A, B, C, D, E"),
    ({"tax_type": None}, "items[1].tax_type", "required"),
    ({"discount_rate": 101}, "items[1].discount_rate", "at most 100"),
    ({"discount_rate": -5}, "items[1].discount_rate", "0 or more"),
    ({"discount_amount": 3500.01}, "items[1].discount_amount", "not be more than"),
    ({"discount_amount": -1}, "items[1].discount_amount", "0 or more"),
    ({"item_class_code": "123"}, "items[1].item_class_code", "8 to 10 digits"),
    ({"pkg_unit": "TOOLONG"}, "items[1].pkg_unit", "packaging unit"),
    ({"qty_unit": "k g"}, "items[1].qty_unit", "quantity unit"),
    ({"qty_unit": "U", "quantity_unit_code": "KG"}, "items[1].qty_unit", "disagree"),
    ({"item_type": "4"}, "items[1].item_type", "one of 1, 2, 3"),
])
def test_line_rules_name_their_field(changes, field, words):
    errors = errors_of(parse_invoice, line(1, **changes), config=KRA)
    assert field in errors, errors
    assert words in errors[field] and field in errors[field], errors[field]


def test_every_bad_field_is_named_at_once():
    errors = errors_of(parse_invoice, line(0, quantity=0, tax_type="Z") | {"invoice_no": "", "key": None},
                       config=KRA)
    assert {"items[0].quantity", "items[0].tax_type", "invoice_no", "key"} <= set(errors)


def test_protax_has_no_band_e():
    errors = errors_of(parse_invoice, line(0, tax_type="E"), config=PROTAX)
    assert "one of A, B, C, D," in errors["items[0].tax_type"]


def test_not_an_object():
    assert errors_of(parse_invoice, [1, 2], config=KRA) == {
        "body": "must be a JSON object with the document's fields"}


def test_lenient_forms_are_normalized():
    doc = parse_invoice(line(0, tax_type="b", item_type=2, pkg_unit="bg", quantity_unit_code="kg")
                        | {"customer_pin": " a123456789a ", "payment_type": 6, "sales_type": "t",
                           "currency": "usd", "exchange_rate": "129.5", "prices_include_tax": "yes",
                           "date_time": "2025-07-16T08:49:31.25Z"},
                        now=NOW, config=KRA).document
    detail = doc.detail
    assert detail["customer_pin"] == "A123456789A" and detail["payment_type"] == "06"
    assert (detail["sales_type"], detail["currency"], detail["exchange_rate"]) == ("T", "USD", "129.5")
    assert detail["lines"][0]["tax_type"] == "B" and detail["lines"][0]["pkg_unit"] == "BG"
    assert detail["lines"][0]["qty_unit"] == "KG" and doc.items[0]["item_type"] == "2"
    assert doc.payment_mode == 6 and doc.date_time.microsecond == 0  # mobile money


@pytest.mark.parametrize(("mode", "expected"), [(None, "01"), (1, "01"), ("2", "05")])
def test_kpra_payment_mode_is_understood(mode, expected):
    fields = {k: v for k, v in SALE.items() if k != "payment_type"} | {"payment_mode": mode}
    doc = parse_invoice(fields, now=NOW, config=KRA).document
    assert doc.detail["payment_type"] == expected and doc.payment_mode == int(expected)


@pytest.mark.parametrize("code", ["01", "02", "03", "04", "05", "06", "07"])
def test_the_rows_payment_mode_is_the_etims_codes_number(code):
    """Reports group by the row's payment_mode: each eTIMS payment type keeps its own (a credit
    note takes its original's)."""
    doc = parse_invoice(SALE | {"payment_type": code}, now=NOW, config=KRA).document
    assert doc.payment_mode == int(code)
    credit = resolve_credit_note(parse_credit_note(CREDIT, now=NOW).document, doc.detail, {}, KRA)
    assert credit.payment_mode == int(code) and credit.detail["payment_type"] == code


def test_line_defaults():
    doc = parse_invoice(sale(items=[{"item_name": "Sugar", "quantity": 1, "unit_price": 100,
                                     "tax_type": "B"}]), now=NOW, config=KRA).document
    first = doc.detail["lines"][0]
    assert (first["item_code"], first["item_class_code"], first["pkg_unit"], first["qty_unit"]) == \
        (None, DEFAULT_ITEM_CLASS, "NT", "U")
    assert doc.items == ({"kind": "item", "item_code": None, "item_name": "Sugar",
                          "item_class_code": DEFAULT_ITEM_CLASS, "item_type": "1", "origin_country": "KE",
                          "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": "100"},)
    assert doc.needs == ()
    filled = assign_item_codes(doc, {"Sugar": "KE1NTXU0000001"})
    assert filled.detail["lines"][0]["item_code"] == "KE1NTXU0000001"
    assert filled.items[0]["item_code"] == "KE1NTXU0000001"
    assert filled.needs == ("item:KE1NTXU0000001",)
    assert filled.content_hash == doc.content_hash  # a repeated post still matches


def test_claimed_totals_that_differ_are_warnings_never_rejections():
    doc = parse_invoice(sale(total_amount=10600, tax_amount="1602.00", amount=1),
                        now=NOW, config=KRA).document
    codes = {w.code: w for w in doc.warnings}
    assert set(codes) == {"total_mismatch", "amount_mismatch"}
    assert codes["total_mismatch"].field == "total_amount" and "10500" in codes["total_mismatch"].message
    assert doc.total_amount == 10500 and '"total_mismatch"' in doc.warnings_json


def test_future_dates_and_ignored_exchange_rates_are_warnings():
    doc = parse_invoice(sale(date_time="2025-07-16 12:06:00", exchange_rate=2), now=NOW, config=KRA).document
    assert {w.code for w in doc.warnings} == {"future_date", "exchange_rate_ignored"}
    assert doc.detail["exchange_rate"] == "1"
    assert parse_invoice(sale(date_time="2025-07-16 12:04:59"), now=NOW, config=KRA).document.warnings == ()


def test_same_content_same_hash():
    one = parse_invoice(SALE, now=NOW, config=KRA).document
    same = parse_invoice(line(0, quantity="2.00", unit_price="3500.0") | {"extra": 1}, now=NOW,
                         config=KRA).document
    other = parse_invoice(line(0, quantity=3), now=NOW, config=KRA).document
    assert one.content_hash == same.content_hash != other.content_hash
    assert len(one.content_hash) == 64
    assert replace(one, detail={}).content_hash == one.content_hash
    assert parse_invoice(sale(pos_id="POS-2"), now=NOW, config=KRA).document.content_hash != one.content_hash


# --- credit notes ------------------------------------------------------------------------------

CREDIT = {**SHOP, "credit_note_no": "CN-1", "original_invoice_no": "INV-1", "reason": "Goods returned"}


def original():
    return parse_invoice(SALE, now=NOW, config=KRA).document.detail


def test_a_full_credit_note_seed_002_6_1():
    doc = parse_credit_note(CREDIT, now=NOW).document
    assert (doc.kind, doc.number, doc.needs) == ("credit_note", "cn:CN-1", ("INV-1",))
    assert doc.detail == {"kind": "credit_note", "credit_note_no": "CN-1", "original_invoice_no": "INV-1",
                          "reason": "Goods returned", "reason_code": "06", "date_time": "2025-07-16 12:00:00",
                          "full": True, "requested_full": True, "items": None}
    assert doc.amount == doc.total_amount == 0
    resolved = resolve_credit_note(doc, original(), {}, KRA)
    detail = resolved.detail
    assert detail["full"] is True and detail["customer_pin"] == "A123456789A"
    assert [(x["item_code"], x["quantity"], x["tax_amount"]) for x in detail["lines"]] == \
        [("KE1NTXU0000013", "2", "1068"), ("KE1NTXU0000014", "1", "534")]
    assert detail["bands"]["B"] == {"rate": "18", "taxable": "10500", "tax": "1602"}
    assert detail["totals"] == {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"}
    assert (resolved.amount, resolved.tax_amount, resolved.total_amount, resolved.tax_rate) == \
        (D(-8898), D(-1602), D(-10500), D("18.00"))
    assert resolved.content_hash == doc.content_hash


def test_a_partial_credit_note_and_what_is_left():
    asked = parse_credit_note(CREDIT | {"items": [{"item_code": "KE1NTXU0000013", "quantity": 1}]},
                              now=NOW).document
    detail = credit_note_detail(asked.detail, original(), {}, KRA)
    assert detail["full"] is False and detail["items"] == [{"item_code": "KE1NTXU0000013", "quantity": "1"}]
    assert [(x["item_code"], x["quantity"], x["tax_amount"]) for x in detail["lines"]] == \
        [("KE1NTXU0000013", "1", "534")]
    assert detail["totals"]["gross"] == "3500"
    done = credited_quantities([detail])
    assert done == {"KE1NTXU0000013": D(1)}
    again = parse_credit_note(CREDIT | {"items": [{"item_code": "KE1NTXU0000013", "quantity": 2},
                                                  {"item_code": "KE1NTXU0000014", "quantity": 2},
                                                  {"item_code": "NOPE"}]}, now=NOW).document
    with pytest.raises(KenyaValidationError) as caught:
        credit_note_detail(again.detail, original(), done, KRA)
    assert caught.value.errors == {
        "items[0].quantity": "items[0].quantity may credit at most 1 more of KE1NTXU0000013",
        "items[1].quantity": "items[1].quantity may credit at most 1 more of KE1NTXU0000014",
        "items[2].item_code": "items[2].item_code: invoice INV-1 has no item NOPE",
    }
    rest = credit_note_detail(parse_credit_note(CREDIT, now=NOW).document.detail, original(), done, KRA)
    assert [(x["item_code"], x["quantity"]) for x in rest["lines"]] == \
        [("KE1NTXU0000013", "1"), ("KE1NTXU0000014", "1")]
    assert rest["full"] is False and rest["requested_full"] is True
    everything = credited_quantities([detail, rest])
    with pytest.raises(KenyaValidationError) as caught:
        credit_note_detail(parse_credit_note(CREDIT, now=NOW).document.detail, original(), everything, KRA)
    assert "credited in full already" in caught.value.errors["original_invoice_no"]
    with pytest.raises(KenyaValidationError) as caught:
        credit_note_detail(again.detail, original(), everything, KRA)
    assert "credited in full already" in caught.value.errors["items[0].quantity"]


def test_a_foreign_currency_sale_stores_kes_money_columns_and_keeps_its_own_figures():
    doc = parse_invoice(sale(currency="USD", exchange_rate="129.4567"), now=NOW, config=KRA).document
    detail = doc.detail  # what the connectors send: the sale's own currency, untouched
    assert (detail["currency"], detail["exchange_rate"]) == ("USD", "129.4567")
    assert detail["totals"] == {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"}
    assert detail["bands"]["B"] == {"rate": "18", "taxable": "10500", "tax": "1602"}
    assert [x["gross_amount"] for x in detail["lines"]] == ["7000", "3500"]
    # the row's columns, summed by reports: KES, half-up to cents (10500 × 129.4567 =
    # 1359295.35; 1602 × 129.4567 = 207389.6334 → 207389.63; net = gross − tax)
    assert (doc.amount, doc.tax_amount, doc.total_amount, doc.tax_rate) == \
        (D("1151905.72"), D("207389.63"), D("1359295.35"), D("18.00"))
    assert parse_invoice(sale(currency="USD", exchange_rate="1.0"), now=NOW, config=KRA).document \
        .total_amount == D(10500)
    kes = parse_invoice(sale(), now=NOW, config=KRA).document
    assert (kes.amount, kes.tax_amount, kes.total_amount) == (D(8898), D(1602), D(10500))
    assert kes.content_hash != doc.content_hash


def test_a_credit_note_of_a_foreign_currency_sale_is_in_kes_at_the_originals_rate():
    usd = parse_invoice(sale(currency="USD", exchange_rate="129.4567"), now=NOW, config=KRA).document.detail
    full = resolve_credit_note(parse_credit_note(CREDIT, now=NOW).document, usd, {}, KRA)
    assert (full.detail["currency"], full.detail["exchange_rate"]) == ("USD", "129.4567")
    assert full.detail["totals"] == {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"}
    assert (full.amount, full.tax_amount, full.total_amount, full.tax_rate) == \
        (D("-1151905.72"), D("-207389.63"), D("-1359295.35"), D("18.00"))
    asked = parse_credit_note(CREDIT | {"items": [{"item_code": "KE1NTXU0000013", "quantity": 1}]},
                              now=NOW).document
    part = resolve_credit_note(asked, usd, {}, KRA)  # 3500 USD, tax 534 USD
    assert part.detail["totals"]["gross"] == "3500" and part.detail["totals"]["tax"] == "534"
    # 3500 × 129.4567 = 453098.45; 534 × 129.4567 = 69129.8778 → 69129.88
    assert (part.amount, part.tax_amount, part.total_amount) == \
        (D("-383968.57"), D("-69129.88"), D("-453098.45"))


def test_a_credit_note_keeps_the_originals_rates_and_prorates_discounts():
    invoice = parse_invoice(line(0, discount_amount=700), now=NOW, config=KRA).document.detail
    later = tax_config("kra-agent")  # B back at 16 %: the original's 18 % still applies
    asked = parse_credit_note(CREDIT | {"items": [{"item_code": "KE1NTXU0000013", "quantity": 1}]},
                              now=NOW).document
    detail = credit_note_detail(asked.detail, invoice, {}, later)
    first = detail["lines"][0]
    assert (first["discount_amount"], first["taxable_amount"], first["tax_rate"]) == ("350", "3150", "18")


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"credit_note_no": None}, "credit_note_no", "required"),
    ({"credit_note_no": "a:b"}, "credit_note_no", "':'"),
    ({"original_invoice_no": ""}, "original_invoice_no", "required"),
    ({"reason": None}, "reason", "required"),
    ({"reason_code": "14"}, "reason_code", "01 to 13"),
    ({"date_time": "yesterday"}, "date_time", "like 2026-04-02"),
    ({"items": []}, "items", "left out to credit the whole invoice"),
    ({"items": [5]}, "items[0]", "must be an object"),
    ({"items": [{"quantity": 1}]}, "items[0].item_code", "required"),
    ({"items": [{"item_code": "A", "quantity": 0}]}, "items[0].quantity", "greater than 0"),
    ({"ntn": None}, "ntn", "required"),
])
def test_credit_note_rules_name_their_field(changes, field, words):
    errors = errors_of(parse_credit_note, CREDIT | changes)
    assert field in errors and words in errors[field], errors


def test_credit_note_reason_code_and_date():
    doc = parse_credit_note(CREDIT | {"reason_code": 3, "date_time": "2025-07-17 09:00:00"}, now=NOW).document
    assert doc.detail["reason_code"] == "03" and doc.date_time == datetime(2025, 7, 17, 9)
    assert doc.warnings[0].code == "future_date"


# --- items -------------------------------------------------------------------------------------

ITEM = {**SHOP, "item_code": "KE1NTXU0000013", "item_name": "Sinda Engine Oil 20W50",
        "item_class_code": "9901300101", "tax_type": "B", "unit_price": 2900}


def test_an_item_seed_002_4_1():
    doc = parse_item(ITEM, now=NOW, config=KRA).document
    assert (doc.kind, doc.number, doc.needs, doc.amount) == ("item", "item:KE1NTXU0000013", (), 0)
    assert doc.detail == {"kind": "item", "item_code": "KE1NTXU0000013",
                          "item_name": "Sinda Engine Oil 20W50",
                          "item_class_code": "9901300101", "item_type": "1", "origin_country": "KE",
                          "pkg_unit": "NT", "qty_unit": "U", "tax_type": "B", "unit_price": "2900"}


def test_a_protax_style_item_without_a_code():
    doc = parse_item({**SHOP, "item_name": "IT Consulting Services", "item_class_code": "99111002",
                      "packaging_unit_code": "NX", "quantity_unit_code": "HUR", "tax_type_code": "A",
                      "unit_price": 10000}, now=NOW, config=PROTAX).document
    assert doc.number == "item:" and doc.detail["item_code"] is None
    assert (doc.detail["pkg_unit"], doc.detail["qty_unit"], doc.detail["tax_type"]) == ("NX", "HUR", "A")
    code = kra_item_code(doc.detail["item_type"], "NX", "HUR", 1)
    named = assign_item_codes(doc, {"IT Consulting Services": code})
    assert named.number == f"item:{code}" and named.detail["item_code"] == code == "KE1NXHUR0000001"


def test_kra_item_codes_look_like_the_seeds():
    assert kra_item_code("1", "NT", "U", 13) == "KE1NTXU0000013"
    assert kra_item_code("2", "bg", "kg", 1) == "KE2BGKG0000001"
    with pytest.raises(ValueError):
        kra_item_code("1", "NT", "U", 10**7)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"item_name": None}, "item_name", "required"),
    ({"item_code": "a:b"}, "item_code", "':'"),
    ({"item_class_code": "99-11"}, "item_class_code", "8 to 10 digits"),
    ({"item_class_code": "12345678901"}, "item_class_code", "8 to 10 digits"),
    ({"pkg_unit": "N T"}, "pkg_unit", "packaging unit"),
    ({"tax_type": "Q"}, "tax_type", "one of A, B, C, D, E"),
    ({"tax_type": None}, "tax_type", "required"),
    ({"tax_type_code": "A"}, "tax_type", "disagree"),
    ({"unit_price": None}, "unit_price", "required"),
    ({"unit_price": -3}, "unit_price", "0 or more"),
    ({"item_type": 9}, "item_type", "one of 1, 2, 3"),
    ({"origin_country": "Kenya"}, "origin_country", "2-letter"),
])
def test_item_rules_name_their_field(changes, field, words):
    errors = errors_of(parse_item, ITEM | changes, config=KRA)
    assert field in errors and words in errors[field], errors


# --- stock -------------------------------------------------------------------------------------

STOCK = {**SHOP, "item_code": "KE1NTXU0000013", "adjustment_type": "IN", "quantity": 100,
         "date": "2026-04-12", "reference": "GRN-7", "unit_cost": 4500}


def test_a_stock_adjustment_seed_004():
    doc = parse_stock(STOCK, now=NOW).document
    assert (doc.kind, doc.number, doc.needs) == ("stock", "stock:GRN-7", ("item:KE1NTXU0000013",))
    assert doc.date_time == datetime(2026, 4, 12) and doc.total_amount == 0
    assert doc.detail == {"kind": "stock", "reference": "GRN-7", "item_code": "KE1NTXU0000013",
                          "item_name": None, "item_class_code": None, "pkg_unit": None, "qty_unit": None,
                          "tax_type": None, "tax_rate": None, "adjustment_type": "IN", "quantity": "100",
                          "date": "2026-04-12", "unit_cost": "4500", "remaining_quantity": None}
    filled = replace(doc, detail={**doc.detail, "remaining_quantity": "110", "item_name": "x"})
    assert filled.content_hash == doc.content_hash
    assert parse_stock(STOCK | {"quantity": "100.0", "unit_cost": "4500.00"}, now=NOW).document.content_hash \
        == doc.content_hash


def test_stock_defaults_and_aliases():
    doc = parse_stock({k: v for k, v in STOCK.items() if k not in ("date", "unit_cost")}
                      | {"adjustment_type": "damage"}, now=NOW).document
    assert doc.detail["date"] == "2025-07-16" and doc.detail["unit_cost"] is None
    assert doc.detail["adjustment_type"] == "DAMAGE"
    doc = parse_stock({k: v for k, v in STOCK.items() if k != "date"} | {"adjustment_date": "2026-04-13"},
                      now=NOW).document
    assert doc.detail["date"] == "2026-04-13"


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"item_code": None}, "item_code", "required"),
    ({"adjustment_type": "LOST"}, "adjustment_type", "one of IN, OUT, DAMAGE, RETURN"),
    ({"adjustment_type": None}, "adjustment_type", "required"),
    ({"quantity": 0}, "quantity", "greater than 0"),
    ({"quantity": -5}, "quantity", "greater than 0"),
    ({"date": "12/04/2026"}, "date", "like 2026-04-12"),
    ({"date": "2026-02-30"}, "date", "not a real date"),
    ({"adjustment_date": "2026-04-13"}, "date", "disagree"),
    ({"reference": None}, "reference", "makes a repeated post safe"),
    ({"reference": "a:b"}, "reference", "':'"),
    ({"unit_cost": -1}, "unit_cost", "0 or more"),
])
def test_stock_rules_name_their_field(changes, field, words):
    errors = errors_of(parse_stock, STOCK | changes)
    assert field in errors and words in errors[field], errors


# --- properties --------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=30),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(),
    st.sampled_from(["200", "0", "-1", "1e400", "NaN", "2026-04-02 12:12:12", "A", "B", "E", "01",
                     "2026-04-02", "KES", "USD", "IN", "P051234567A", "", "１２３", "a:b"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
line_fields = ["item_code", "item_name", "quantity", "unit_price", "tax_type", "discount_rate",
               "discount_amount", "item_class_code", "pkg_unit", "qty_unit", "packaging_unit_code",
               "item_type", "adjustment_type"]
lines = st.lists(st.dictionaries(st.sampled_from(line_fields), json_values, max_size=8), max_size=3)
FIELDS = sorted({*SALE, *CREDIT, *ITEM, *STOCK, "pin", "kra_pin", "payment_mode", "sales_type", "currency",
                 "exchange_rate", "prices_include_tax", "total_amount", "tax_amount", "amount", "reason_code",
                 "date_time", "tax_type_code", "adjustment_date", "quantity_unit_code", "extra"})
PARSERS = [
    lambda f: parse_invoice(f, now=NOW, config=KRA), lambda f: parse_invoice(f, now=NOW, config=PROTAX),
    lambda f: parse_credit_note(f, now=NOW), lambda f: parse_item(f, now=NOW, config=PROTAX),
    lambda f: parse_stock(f, now=NOW),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSERS), st.dictionaries(st.sampled_from(FIELDS), st.one_of(json_values, lines),
                                                 max_size=16))
def test_arbitrary_input_never_crashes(parse, fields):
    try:
        document = parse(fields).document
    except KenyaValidationError as invalid:
        assert invalid.errors and all(isinstance(m, str) and m for m in invalid.errors.values())
        return
    assert isinstance(document, Document) and document.kind in KINDS
    assert len(document.content_hash) == 64
    document.received_json, document.warnings_json  # noqa: B018


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["invoice_no", "date_time", "customer_pin", "payment_type", "currency",
                        "prices_include_tax", "total_amount", "items", "ntn", "key"]), json_values)
def test_one_changed_invoice_field_is_either_valid_or_named(field, value):
    try:
        document = parse_invoice(sale(**{field: value}), now=NOW, config=KRA).document
    except KenyaValidationError as invalid:
        assert any(name == field or name.startswith((f"{field}[", f"{field}.")) or name == "exchange_rate"
                   for name in invalid.errors), (field, value, invalid.errors)
        return
    assert document.total_amount > 0 and ":" not in document.number


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["item_code", "item_name", "quantity", "unit_price", "tax_type", "discount_rate",
                        "discount_amount", "item_class_code", "pkg_unit", "item_type"]), json_values,
       st.sampled_from([KRA, PROTAX]))
def test_one_changed_line_field_is_either_valid_or_named_and_totals_add_up(field, value, config):
    fields = line(1, **{field: value}) | {"items": [SALE["items"][1] | {field: value, "tax_type": "A"}]
                                           if field != "tax_type" else [SALE["items"][1] | {field: value}]}
    try:
        document = parse_invoice(fields, now=NOW, config=config).document
    except KenyaValidationError as invalid:
        assert any(name.startswith("items[0]") for name in invalid.errors), (field, value, invalid.errors)
        return
    detail = document.detail
    assert set(detail["bands"]) == set(BANDS)
    assert D(detail["totals"]["tax"]) == sum(D(b["tax"]) for b in detail["bands"].values())
    assert D(detail["totals"]["taxable"]) == sum(D(b["taxable"]) for b in detail["bands"].values())
    assert document.amount + document.tax_amount == document.total_amount


def test_a_credit_note_item_without_quantity_takes_all_that_is_left_of_it():
    asked = parse_credit_note(CREDIT | {"items": [{"item_code": "KE1NTXU0000013"}]}, now=NOW).document
    assert asked.detail["items"] == [{"item_code": "KE1NTXU0000013", "quantity": None}]
    detail = credit_note_detail(asked.detail, original(), {"KE1NTXU0000013": D("0.5")}, KRA)
    assert [(x["item_code"], x["quantity"]) for x in detail["lines"]] == [("KE1NTXU0000013", "1.5")]


def test_credit_note_hash_is_of_what_was_asked():
    one = parse_credit_note(CREDIT | {"items": [{"item_code": "A", "quantity": 2}]}, now=NOW).document
    same = parse_credit_note(CREDIT | {"items": [{"item_code": "A", "quantity": "2.0"}], "extra": 1},
                             now=NOW).document
    other = parse_credit_note(CREDIT | {"items": [{"item_code": "A", "quantity": 1}]}, now=NOW).document
    assert one.content_hash == same.content_hash != other.content_hash


def test_defaulted_dates_do_not_change_the_hash_of_a_repeated_post():
    later = NOW.replace(day=17)
    assert parse_credit_note(CREDIT, now=NOW).document.content_hash == \
        parse_credit_note(CREDIT, now=later).document.content_hash
    assert parse_credit_note(CREDIT, now=later).document.detail["date_time"] == "2025-07-17 12:00:00"
    undated = {k: v for k, v in STOCK.items() if k != "date"}
    assert parse_stock(undated, now=NOW).document.content_hash == \
        parse_stock(undated, now=later).document.content_hash
    dated = parse_stock(STOCK, now=NOW).document
    assert parse_stock(undated, now=NOW).document.content_hash != dated.content_hash
