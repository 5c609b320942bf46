"""wire_json writes exactly what the stdlib would, except that Decimals stay exact numbers."""

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import wire_json

plain_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
plain_values = st.recursive(plain_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
exact_values = st.recursive(
    st.one_of(plain_scalars, st.decimals(allow_nan=False, allow_infinity=False, places=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(plain_values)
def test_same_text_as_the_stdlib_without_decimals(value):
    assert wire_json.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(exact_values)
def test_decimals_round_trip_exactly(value):
    back = wire_json.loads(wire_json.dumps(value))
    assert back == value
    assert json.dumps(back, default=str) == json.dumps(value, default=str)  # same digits too


def test_a_decimal_keeps_its_digits():
    assert wire_json.dumps({"amount": Decimal("200.50"), "n": [Decimal("1E+2")]}) == \
        '{"amount":200.50,"n":[1E+2]}'
    assert wire_json.loads(b'{"amount": 200.50, "n": 7}') == {"amount": Decimal("200.50"),
                                                              "n": 7}


def test_not_json_is_refused():
    for text in [b'{"amount": NaN}', b'{"a": Infinity}', b'{"a": 1', b'{"a": "\\ud800"}']:
        try:
            wire_json.loads(text)
        except wire_json.DecodeError:
            continue
        raise AssertionError(f"{text!r} was accepted")

