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
