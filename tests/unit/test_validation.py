"""One test per validation rule and per warning of issue 2 (domain only, no I/O)."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app.domain import wire_json
from app.domain.errors import InvoiceValidationError
from app.domain.validation import parse_submission

NOW = datetime(2026, 11, 21, 12, 0, 0)
SEED_MINIMUM = {
    "ntn": "K123456", "pos_id": "K123456", "key": "KPRA@123a", "invoice_no": "19",
    "amount": 200, "tax_rate": 5, "tax_amount": 20, "total_amount": 220,
    "date_time": "2026-04-02 12:12:12",
}
CONSISTENT = SEED_MINIMUM | {"tax_amount": 10, "total_amount": 210}


def parse(fields, now=NOW):
    return parse_submission(fields, now=now, local_tz=timezone(timedelta(hours=5)))


def errors_of(fields) -> dict[str, str]:
    with pytest.raises(InvoiceValidationError) as caught:
        parse(fields)
    return caught.value.errors


def codes(fields) -> list[str]:
    return [w.code for w in parse(fields).invoice.warnings]


# ---------------------------------------------------------------- accepted shapes

def test_seed_minimum_example_is_accepted_with_its_tax_mismatch_as_a_warning():
    submission = parse(SEED_MINIMUM)
    invoice = submission.invoice
    assert submission.key == "KPRA@123a"
    assert (invoice.amount, invoice.tax_amount, invoice.total_amount) == (200, 20, 220)
    assert invoice.payment_mode == 1
    assert codes(SEED_MINIMUM) == ["tax_mismatch"]
    assert "key" not in invoice.received, "the key must never be kept with the invoice"


def test_numbers_stay_exact_decimals_from_json_numbers_and_strings():
    fields = wire_json.loads(
        '{"ntn":"N","pos_id":"P","key":"k","invoice_no":"1","amount":0.1,"tax_rate":"16",'
        '"tax_amount":"0.016","total_amount":0.116,"date_time":"2026-11-21 10:00:00"}')
    invoice = parse(fields).invoice
    assert invoice.amount == Decimal("0.1") and isinstance(invoice.amount, Decimal)
    assert invoice.total_amount == Decimal("0.116")
    assert invoice.warnings == ()


def test_live_api_aliases_date_and_sales_tax_are_accepted():
    fields = {k: v for k, v in CONSISTENT.items() if k not in ("date_time", "tax_amount")}
    invoice = parse(fields | {"date": "2025-10-22 12:17:57", "sales_tax": 10}).invoice
    assert invoice.wire_date_time == "2025-10-22 12:17:57"
    assert invoice.tax_amount == 10


def test_conflicting_alias_and_name_is_an_error_naming_both():
    errors = errors_of(CONSISTENT | {"date": "2025-01-01 00:00:00"})
    assert "date_time" in errors and "date" in errors["date_time"]


def test_iso_t_form_is_normalised():
    invoice = parse(CONSISTENT | {"date_time": "2026-04-02T12:12:12"}).invoice
    assert invoice.wire_date_time == "2026-04-02 12:12:12"


def test_utc_timestamp_is_converted_to_the_shops_clock():
    invoice = parse(CONSISTENT | {"date_time": "2026-04-02T07:12:12.345Z"}).invoice
    assert invoice.wire_date_time == "2026-04-02 12:12:12"


def test_live_shaped_post_without_amount_derives_it_with_a_warning():
    # The seed's cURL example: live names, no amount.
    fields = {"ntn": "K123456", "pos_id": "K123456", "key": "KPRA@123a", "invoice_no": "INV123",
              "total_amount": 220, "sales_tax": 20, "tax_rate": 5, "date": "2025-10-22 12:17:57"}
    invoice = parse(fields).invoice
    assert invoice.amount == 200
    assert "amount_derived" in [w.code for w in invoice.warnings]


def test_invoice_no_given_as_a_number_is_text():
    assert parse(CONSISTENT | {"invoice_no": 19}).invoice.invoice_no == "19"


# ---------------------------------------------------------------- one test per rule

@pytest.mark.parametrize("field", ["ntn", "pos_id", "key", "invoice_no", "amount", "tax_rate",
                                   "tax_amount", "total_amount", "date_time"])
def test_each_required_field_is_required(field):
    fields = {k: v for k, v in CONSISTENT.items() if k != field}
    errors = errors_of(fields)
    assert field in errors
    assert "required" in errors[field] and field in errors[field]


def test_all_invalid_fields_are_reported_at_once():
    errors = errors_of(CONSISTENT | {"amount": 0, "tax_rate": 101, "invoice_no": "x" * 51,
                                     "date_time": "yesterday"})
    assert set(errors) == {"amount", "tax_rate", "invoice_no", "date_time"}


def test_invoice_no_must_not_be_blank():
    assert "blank" in errors_of(CONSISTENT | {"invoice_no": "   "})["invoice_no"]


def test_invoice_no_at_most_50_characters():
    assert parse(CONSISTENT | {"invoice_no": "x" * 50}).invoice.invoice_no == "x" * 50
    assert "at most 50" in errors_of(CONSISTENT | {"invoice_no": "x" * 51})["invoice_no"]


@pytest.mark.parametrize("value", [0, -1, "0.00"])
def test_amount_must_be_greater_than_zero(value):
    message = errors_of(CONSISTENT | {"amount": value})["amount"]
    assert message == "amount must be greater than 0"


@pytest.mark.parametrize("value", [0, -5])
def test_total_amount_must_be_greater_than_zero(value):
    assert "greater than 0" in errors_of(CONSISTENT | {"total_amount": value})["total_amount"]


@pytest.mark.parametrize("value", [-0.5, 100.01, 250])
def test_tax_rate_between_0_and_100(value):
    assert "between 0 and 100" in errors_of(CONSISTENT | {"tax_rate": value})["tax_rate"]


@pytest.mark.parametrize("value", [0, 100])
def test_tax_rate_bounds_are_inclusive(value):
    tax = Decimal(200) * value / 100
    invoice = parse(CONSISTENT | {"tax_rate": value, "tax_amount": tax, "total_amount": 200 + tax})
    assert invoice.invoice.tax_rate == value


def test_tax_amount_must_not_be_negative():
    assert "0 or more" in errors_of(CONSISTENT | {"tax_amount": -1})["tax_amount"]


@pytest.mark.parametrize("value", ["abc", "1,000", True, None, [], {}, "NaN", "Infinity", "1e40"])
def test_amount_must_be_a_plain_finite_number(value):
    errors = errors_of(CONSISTENT | {"amount": value})
    assert "amount" in errors and "amount" in errors["amount"]


@pytest.mark.parametrize("value", ["2026-13-01 00:00:00", "2026-02-30 10:00:00",
                                   "2026-04-02 25:00:00", "02/04/2026 12:12:12", "2026-04-02",
                                   "", 20260402])
def test_date_time_must_be_a_valid_date_and_time(value):
    errors = errors_of(CONSISTENT | {"date_time": value})
    assert "date_time" in errors and "date_time" in errors["date_time"]


@pytest.mark.parametrize("value,expected", [(1, 1), (2, 2), ("2", 2), (None, 1), ("card", 1),
                                            ("", 1)])
def test_payment_mode_defaults_to_cash_when_omitted_or_not_numeric(value, expected):
    fields = CONSISTENT | {"payment_mode": value}
    assert parse(fields).invoice.payment_mode == expected


def test_payment_mode_omitted_is_cash():
    assert parse(CONSISTENT).invoice.payment_mode == 1


@pytest.mark.parametrize("value", [0, 3, -1, 1.5, "7"])
def test_payment_mode_other_numbers_are_an_error(value):
    message = errors_of(CONSISTENT | {"payment_mode": value})["payment_mode"]
    assert "1 (cash) or 2 (card)" in message


def test_body_must_be_an_object():
    assert "body" in errors_of([CONSISTENT])


def test_control_characters_in_ids_are_refused():
    assert "control" in errors_of(CONSISTENT | {"pos_id": "K1\x00"})["pos_id"]


# ---------------------------------------------------------------- warnings, not errors

def test_tax_mismatch_warning_beyond_one_paisa():
    assert codes(CONSISTENT | {"tax_amount": Decimal("10.01"), "total_amount": Decimal("210.01")}) == []
    assert codes(CONSISTENT | {"tax_amount": Decimal("10.02"), "total_amount": Decimal("210.02")}) == [
        "tax_mismatch"]


def test_total_mismatch_warning_beyond_one_paisa():
    assert codes(CONSISTENT | {"total_amount": Decimal("210.01")}) == []
    warnings = parse(CONSISTENT | {"total_amount": 215}).invoice.warnings
    assert [w.code for w in warnings] == ["total_mismatch"]
    assert warnings[0].field == "total_amount" and "amount + tax_amount = 210" in warnings[0].message


def test_future_date_warning_after_five_minutes():
    soon = (NOW + timedelta(minutes=4)).strftime("%Y-%m-%d %H:%M:%S")
    later = (NOW + timedelta(minutes=6)).strftime("%Y-%m-%d %H:%M:%S")
    assert codes(CONSISTENT | {"date_time": soon}) == []
    assert codes(CONSISTENT | {"date_time": later}) == ["future_date"]


# ---------------------------------------------------------------- content identity

def test_same_amount_written_differently_has_the_same_content_hash():
    a = parse(CONSISTENT).invoice.content_hash
    b = parse(CONSISTENT | {"amount": "200.00", "tax_rate": "5.0", "invoice_no": 19}).invoice
    assert a == b.content_hash
    assert a != parse(CONSISTENT | {"amount": "200.01"}).invoice.content_hash
