"""Kenya tax bands (docs/KENYA.md "Tax bands"): the seeds' own figures, reproduced exactly."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.kenya_tax import (
    BANDS,
    KenyaValidationError,
    TaxConfig,
    compute,
    effective_rate,
    in_home_currency,
    money_columns,
    tax_config,
    too_large,
)

D = Decimal


def line(code, quantity, price, band="B", **extra):
    return {"item_code": code, "item_name": f"name of {code}", "quantity": D(quantity),
            "unit_price": D(price), "tax_type": band, **extra}


# --- settings ----------------------------------------------------------------------------------


def test_protax_defaults():
    config = tax_config("protax")
    assert config.rates == {"A": D(16), "B": D(8), "C": D(0), "D": None}
    assert config.prices_include_tax is False and config.rounding == D("0.01")
    assert config.band_tax == "band"


def test_kra_agent_defaults():
    config = tax_config("kra-agent")
    assert config.rates == {"A": None, "B": D(16), "C": D(0), "D": None, "E": D(8)}
    assert config.prices_include_tax is True and config.rounding == D("0.01")


def test_overrides_band_by_band():
    config = tax_config("kra-agent", rates={"b": "18", "E": "exempt"}, prices_include_tax=False,
                        rounding="1", band_tax="lines")
    assert config.rates["B"] == 18 and config.rates["E"] is None and config.rates["C"] == 0
    assert config.prices_include_tax is False and config.rounding == D(1) and config.band_tax == "lines"
    assert list(config.rates) == [band for band in BANDS if band in config.rates]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"rates": {"F": 5}}, "not a band"),
    ({"rates": {"A": "lots"}}, "band A must be a number"),
    ({"rates": {"A": 101}}, "between 0 and 100"),
    ({"rates": {"A": -1}}, "between 0 and 100"),
    ({"rounding": "0.05"}, "tax_rounding"),
    ({"rounding": "x"}, "tax_rounding"),
    ({"band_tax": "each"}, "band_tax"),
])
def test_bad_settings_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        tax_config("protax", **kwargs)


def test_unknown_upstream():
    with pytest.raises(ValueError, match="upstream"):
        tax_config("kpra")


# --- the seeds' examples -----------------------------------------------------------------------

SEED_SALE = [line("KE1NTXU0000013", 2, 3500), line("KE1NTXU0000013", 1, 3500)]


def test_kra_agent_sale_example_seed_002_5_1():
    """POST Sale 5.1 (and the credit note 6.1): B = 18 %, prices include tax, whole shillings."""
    config = tax_config("kra-agent", rates={"B": 18}, rounding="1")
    lines, bands, totals = compute(SEED_SALE, config)
    assert [(x["supply_amount"], x["taxable_amount"], x["tax_amount"], x["gross_amount"]) for x in lines] \
        == [("7000", "7000", "1068", "7000"), ("3500", "3500", "534", "3500")]
    assert [x["net_amount"] for x in lines] == ["5932", "2966"]
    assert [x["seq"] for x in lines] == [1, 2] and lines[0]["tax_rate"] == "18"
    assert bands["B"] == {"rate": "18", "taxable": "10500", "tax": "1602"}  # taxblAmtB, taxAmtB
    assert all(bands[b] == {"rate": "0", "taxable": "0", "tax": "0"} for b in "ACD")
    assert bands["E"] == {"rate": "8", "taxable": "0", "tax": "0"}
    # totTaxblAmt 10500, totTaxAmt 1602, totAmt 10500 (tax-inclusive: the total is the taxable)
    assert totals == {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"}


def test_kra_agent_purchase_example_seed_002_9_2_is_tax_exclusive():
    """insertTrnsPurchase: taxAmt 1260 and 630, taxAmtB 1890 = 18 % of 10500. The seed's totAmt
    there is 10500 (= totTaxblAmt), not 12390: the connector sends what the upstream expects;
    our gross is taxable + tax."""
    config = tax_config("kra-agent", rates={"B": 18}, prices_include_tax=False)
    lines, bands, totals = compute([line("KE1NTXU0000001", 2, 3500), line("KE1NTXU0000002", 1, 3500)],
                                   config)
    assert [x["tax_amount"] for x in lines] == ["1260", "630"]
    assert [x["gross_amount"] for x in lines] == ["8260", "4130"]
    assert bands["B"] == {"rate": "18", "taxable": "10500", "tax": "1890"}
    assert totals == {"taxable": "10500", "tax": "1890", "net": "10500", "gross": "12390"}


def test_kra_agent_stock_example_seed_002_10_1_rounds_to_cents():
    """insertStockIO: 10 × 3500 at 18 % inclusive → taxAmt 5338.98 per line and totTaxAmt
    10677.96, the sum of the rounded lines. Computed once on the band (70000 × 18 / 118 =
    10677.966…) it would be 10677.97: that is what band_tax="lines" is for."""
    lines_in = [line("KE1NTXU0000001", 10, 3500), line("KE1NTXU0000002", 10, 3500)]
    by_lines = tax_config("kra-agent", rates={"B": 18}, band_tax="lines")
    lines, bands, totals = compute(lines_in, by_lines)
    assert [x["tax_amount"] for x in lines] == ["5338.98", "5338.98"]
    assert [x["taxable_amount"] for x in lines] == ["35000", "35000"]
    assert totals["taxable"] == "70000" and totals["tax"] == "10677.96" and totals["gross"] == "70000"
    assert bands["B"]["tax"] == "10677.96"
    _, bands, totals = compute(lines_in, tax_config("kra-agent", rates={"B": 18}))
    assert bands["B"]["tax"] == totals["tax"] == "10677.97"


def test_protax_invoice_example_seed_004():
    """5 × 10000, band A (16 %), prices exclude VAT → subtotal 50000, tax 8000, total 58000."""
    lines, bands, totals = compute([line("itm_abc123", 5, 10000, "A")], tax_config("protax"))
    assert lines[0]["tax_amount"] == "8000" and lines[0]["gross_amount"] == "58000"
    assert bands["A"] == {"rate": "16", "taxable": "50000", "tax": "8000"}
    assert totals == {"taxable": "50000", "tax": "8000", "net": "50000", "gross": "58000"}
    assert bands["E"] == {"rate": "0", "taxable": "0", "tax": "0"}  # ProTax has no band E


def test_prices_include_tax_per_call_overrides_the_config():
    _, _, totals = compute([line("x", 5, 10000, "A")], tax_config("protax"), prices_include_tax=True)
    assert totals == {"taxable": "50000", "tax": "6896.55", "net": "43103.45", "gross": "50000"}


# --- discounts, exempt bands, odd numbers ------------------------------------------------------


def test_discount_rate_and_amount():
    config = tax_config("protax")
    lines, _, totals = compute([line("a", 2, 100, "A", discount_rate=D(10)),
                                line("b", 1, 100, "A", discount_amount=D(25))], config)
    assert (lines[0]["discount_amount"], lines[0]["taxable_amount"], lines[0]["tax_amount"]) == \
        ("20", "180", "28.8")
    assert (lines[1]["discount_rate"], lines[1]["taxable_amount"], lines[1]["tax_amount"]) == \
        ("25", "75", "12")
    assert totals == {"taxable": "255", "tax": "40.8", "net": "255", "gross": "295.8"}


def test_exempt_band_has_no_tax():
    lines, bands, totals = compute([line("a", 3, 99.99, "D")], tax_config("protax"))
    assert lines[0]["tax_amount"] == "0" and lines[0]["tax_rate"] == "0"
    assert bands["D"] == {"rate": "0", "taxable": "299.97", "tax": "0"}
    assert totals["gross"] == "299.97"


def test_money_is_rounded_to_cents_half_up():
    lines, _, _ = compute([line("a", "0.333", "10.05", "A")], tax_config("protax"))
    assert lines[0]["supply_amount"] == "3.35"  # 3.34665
    assert lines[0]["tax_amount"] == "0.54"  # 16 % of 3.35 = 0.536


def test_numbers_as_text_are_accepted_and_normalized():
    lines, _, _ = compute([{"item_code": "a", "quantity": "2.000", "unit_price": "3500.00",
                            "tax_type": "b"}], tax_config("kra-agent", rates={"B": 18}, rounding="1"))
    assert lines[0]["quantity"] == "2" and lines[0]["unit_price"] == "3500"
    assert lines[0]["tax_amount"] == "1068"


def test_unconfigured_band_and_bad_numbers_name_the_line():
    with pytest.raises(KenyaValidationError) as caught:
        compute([line("a", 1, 1, "A"), line("b", 1, 1, "E"), {"tax_type": "A", "quantity": "x",
                                                             "unit_price": 1}], tax_config("protax"))
    assert set(caught.value.errors) == {"items[1].tax_type", "items[2].quantity"}
    assert "configured bands A, B, C, D" in caught.value.errors["items[1].tax_type"]


def test_effective_rate_and_money_columns():
    totals = {"taxable": "10500", "tax": "1602", "net": "8898", "gross": "10500"}
    assert money_columns(totals) == (D(8898), D("18.00"), D(1602), D(10500))
    assert money_columns(totals, negative=True) == (D(-8898), D("18.00"), D(-1602), D(-10500))
    assert effective_rate(D(0), D(0)) == 0
    assert str(money_columns({"net": "0", "tax": "0", "gross": "0"}, negative=True)[0]) == "0"


def test_money_columns_of_a_foreign_currency_sale_are_in_kes():
    usd = {"taxable": "100", "tax": "13.79", "net": "86.21", "gross": "100"}
    assert money_columns(usd, exchange_rate=D(129)) == \
        (D("11121.09"), D("16.00"), D("1778.91"), D("12900.00"))
    assert money_columns(usd, exchange_rate="129", negative=True) == \
        (D("-11121.09"), D("16.00"), D("-1778.91"), D("-12900.00"))
    # half-up to cents, exactly: 13.79 × 129.555 = 1786.56345 → 1786.56; 100 × 129.555 =
    # 12955.5 → 12955.50; net = gross − tax (= 86.21 × 129.555 = 11168.93655 → 11168.94)
    amount, rate, tax, total = money_columns(usd, exchange_rate="129.555")
    assert (amount, tax, total) == (D("11168.94"), D("1786.56"), D("12955.50"))
    assert amount + tax == total and rate == D("16.00")
    assert in_home_currency(D("0.005"), D(1)) == D("0.005")  # a KES figure stays as it is
    assert in_home_currency(D("0.5"), D("0.01")) == D("0.01")  # 0.005 rounds half-up
    assert in_home_currency(D("-0.5"), D("0.01")) == D("-0.01")
    assert money_columns(usd) == (D("86.21"), D("16.00"), D("13.79"), D(100))  # rate 1: as is


def test_too_large_counts_the_kes_figures_too():
    totals = {"taxable": "10000000000", "tax": "0", "net": "10000000000", "gross": "10000000000"}
    assert not too_large(totals) and not too_large(totals, D(99))
    assert too_large(totals, D(100))


# --- properties --------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
lines_strategy = st.lists(st.fixed_dictionaries(
    {"item_code": st.just("x"), "quantity": st.decimals(min_value="0.001", max_value=10**4, places=3),
     "unit_price": money, "tax_type": st.sampled_from("ABCDE"),
     "discount_rate": st.decimals(min_value=0, max_value=100, places=2)}), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(lines_strategy, st.booleans(), st.sampled_from(["1", "0.01", "0.001"]),
       st.sampled_from(["band", "lines"]), st.sampled_from([{}, {"B": 18}, {"A": 16, "D": 2}]))
def test_totals_are_the_sum_of_the_bands(lines_in, inclusive, rounding, mode, rates):
    config = tax_config("kra-agent", rates=rates, rounding=rounding, band_tax=mode)
    lines, bands, totals = compute(lines_in, config, prices_include_tax=inclusive)
    assert set(bands) == set(BANDS) and len(lines) == len(lines_in)
    assert D(totals["taxable"]) == sum(D(b["taxable"]) for b in bands.values())
    assert D(totals["tax"]) == sum(D(b["tax"]) for b in bands.values())
    assert D(totals["taxable"]) == sum(D(x["taxable_amount"]) for x in lines)
    assert D(totals["gross"]) - D(totals["net"]) == D(totals["tax"])
    assert D(totals["taxable"]) == D(totals["gross"] if inclusive else totals["net"])
    for x in lines:
        assert D(x["gross_amount"]) - D(x["net_amount"]) == D(x["tax_amount"]) >= 0
        assert D(x["supply_amount"]) - D(x["discount_amount"]) == D(x["taxable_amount"]) >= 0
    for band, figures in bands.items():
        line_tax = sum((D(x["tax_amount"]) for x in lines if x["tax_type"] == band), D(0))
        if mode == "lines":
            assert D(figures["tax"]) == line_tax
        else:  # once per band: within half a step per line of the lines' sum
            count = sum(1 for x in lines if x["tax_type"] == band)
            assert abs(D(figures["tax"]) - line_tax) <= D(rounding) * (count + 1) / 2


def test_tax_config_is_a_frozen_value():
    config = TaxConfig(rates={"A": D(16)}, prices_include_tax=False, rounding=D("0.01"))
    assert config.band_tax == "band" and config.rate("A") == 16
    with pytest.raises(AttributeError):
        config.rounding = D(1)  # type: ignore[misc]
