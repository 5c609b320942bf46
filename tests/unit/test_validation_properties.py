"""Property tests: whatever a POS sends, validation either gives a valid invoice or names the
fields that are wrong; it never crashes, and never lets a rule-breaking value through."""

from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import InvoiceValidationError
from app.domain.validation import parse_submission

FIELDS = ["ntn", "pos_id", "key", "invoice_no", "amount", "tax_rate", "tax_amount",
          "total_amount", "date_time", "date", "sales_tax", "payment_mode"]
NOW = datetime(2026, 11, 21, 12, 0, 0)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=60),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(),
    st.sampled_from(["200", "0", "-1", "1e400", "NaN", "2026-04-02 12:12:12",
                     "2026-04-02T12:12:12Z", "2026-02-30 10:00:00", " 19 ", "", "１２３"]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)
VALID = {"ntn": "K1", "pos_id": "P1", "key": "k", "invoice_no": "1", "amount": 200,
         "tax_rate": 5, "tax_amount": 10, "total_amount": 210, "date_time": "2026-11-21 10:00:00"}


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*FIELDS, "extra"]), json_values, max_size=14))
def test_arbitrary_fields_never_crash(fields):
    try:
        parse_submission(fields, now=NOW)
    except InvoiceValidationError as invalid:
        assert invalid.errors and all(isinstance(m, str) and m for m in invalid.errors.values())


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(VALID)), json_values)
def test_one_changed_field_is_either_valid_or_named(field, value):
    fields = VALID | {field: value}
    try:
        invoice = parse_submission(fields, now=NOW).invoice
    except InvoiceValidationError as invalid:
        assert field in invalid.errors, (field, value, invalid.errors)
        return
    # accepted: the rules hold on what was stored
    assert invoice.amount > 0 and invoice.total_amount > 0 and invoice.tax_amount >= 0
    assert Decimal(0) <= invoice.tax_rate <= 100
    assert 0 < len(invoice.invoice_no) <= 50
    assert invoice.payment_mode in (1, 2)


# Numbers and dates at the edges of what Decimal and datetime can hold: 1E+999999999 made
# abs() raise decimal.Overflow, 1E-999999999 was written out as a billion characters (stored,
# and returned in a warning), and 9999-12-31T23:59:59-14:00 is in the year 10000 once converted
# to local time (OverflowError). Each was a 500 (or worse) through the real server.
extreme_decimals = st.builds(
    lambda digits, exponent, negative: Decimal((int(negative), tuple(digits), exponent)),
    st.lists(st.integers(0, 9), min_size=1, max_size=30),
    st.one_of(st.integers(-999_999_999, 999_999_999), st.integers(-120, 20)), st.booleans())
extreme_numbers = st.one_of(extreme_decimals, extreme_decimals.map(str),
                            extreme_decimals.map(lambda d: f" {d:e} "))
edge_dates = st.builds(
    lambda day, offset, sep: f"{day}{sep}{offset}",
    st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59", "2026-11-21 12:00:00",
                     "9999-12-31 23:59:59.999999999", "0001-01-01 00:00:00.5"]),
    st.sampled_from(["", "Z", "+14:00", "-14:00", "+2359", "-23:59", "+00:00"]),
    st.sampled_from([""]))
MONEY = ["amount", "tax_rate", "tax_amount", "total_amount", "sales_tax", "payment_mode"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(MONEY), extreme_numbers, min_size=1),
       st.one_of(st.none(), edge_dates), st.sampled_from(["date_time", "date"]))
def test_extreme_numbers_and_dates_are_refused_or_kept_small(numbers, date, date_field):
    fields = VALID | numbers | ({date_field: date} if date else {})
    if date_field == "date" and date:
        fields.pop("date_time")
    try:
        invoice = parse_submission(fields, now=NOW).invoice
    except InvoiceValidationError as invalid:
        assert invalid.errors and all(len(m) < 1000 for m in invalid.errors.values())
        return
    # accepted: nothing it stores or shows is larger than what was sent, give or take
    assert all(len(w.message) < 1000 for w in invoice.warnings), invoice.warnings
    assert all(abs(value) < 10**12 for value in (invoice.amount, invoice.total_amount,
                                                invoice.tax_amount))
    assert len(invoice.received_json) < 2000 and len(invoice.wire_date_time) == 19
