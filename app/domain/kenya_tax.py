"""Kenya eTIMS tax bands (issue 8, docs/KENYA.md "Tax bands"). Pure arithmetic on Decimals.

A line's supply is quantity × unit_price, less its discount = the taxable amount, "as priced":
with tax-inclusive prices the tax is inside it (taxable × r / (100 + r)), with tax-exclusive
prices it comes on top (taxable × r / 100). A band's tax is computed once, on the band's taxable
total (what the seed's headers show: taxAmtB 1602 = 10500 × 18 / 118), rounded half-up to the
rounding step; each line's own tax is rounded the same way, on its own.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from app.domain.errors import InvoiceValidationError
from app.domain.money import CENT, MAX_AMOUNT, NotANumber, canonical, to_decimal

BANDS = ("A", "B", "C", "D", "E")
UPSTREAMS = ("protax", "kra-agent")
HUNDRED = Decimal(100)
ZERO = Decimal(0)
EXEMPT_WORDS = ("", "exempt", "non-vat", "none", "-")  # a band rate given as one of these: no VAT

_DEFAULTS: dict[str, tuple[dict[str, Decimal | None], bool, Decimal]] = {
    # ProTax API v2: A=16% · B=8% · C=0% · D=Exempt; unit prices "excluding VAT".
    "protax": ({"A": Decimal(16), "B": Decimal(8), "C": ZERO, "D": None}, False, CENT),
    # eTIMS codes: A exempt, B 16 %, C 0 %, D non-VAT, E 8 %; the seed's prices include tax.
    "kra-agent": ({"A": None, "B": Decimal(16), "C": ZERO, "D": None, "E": Decimal(8)}, True, CENT),
}
# How the band totals are formed: "band" = once per band on its taxable total (the seed's sale
# and purchase headers); "lines" = the sum of the rounded line taxes (the seed's stock example:
# totTaxAmt 10677.96 = 2 × 5338.98, where 70000 × 18 / 118 would round to 10677.97).
BAND_TAX_MODES = ("band", "lines")


class KenyaValidationError(InvoiceValidationError):
    """Every invalid field of a Kenya document at once (nested ones as ``items[0].quantity``)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.args = (f"Invalid document: check {', '.join(sorted(self.errors))}.",)


@dataclass(frozen=True)
class TaxConfig:
    rates: dict[str, Decimal | None]  # band letter -> percent; None = exempt / non-VAT (tax 0)
    prices_include_tax: bool
    rounding: Decimal  # the step taxes are rounded to (half-up): Decimal("0.01"), Decimal("1")
    band_tax: str = "band"  # one of BAND_TAX_MODES

    def rate(self, band: str) -> Decimal:
        """The band's rate as a number (exempt = 0). KeyError for a band not configured."""
        rate = self.rates[band]
        return ZERO if rate is None else rate


def tax_config(upstream: str, *, rates: Mapping[str, object] | None = None,
               prices_include_tax: bool | None = None, rounding: str | None = None,
               band_tax: str | None = None) -> TaxConfig:
    """The upstream's defaults, overridden by the settings that are given.

    ``rates`` overrides band by band ({"B": 18} keeps the other defaults); a rate of None,
    "exempt", "non-vat" or "" makes the band exempt. Raises ValueError for a bad setting.
    """
    if upstream not in _DEFAULTS:
        raise ValueError(f"upstream must be one of {', '.join(UPSTREAMS)}, got {upstream!r}")
    default_rates, default_inclusive, default_rounding = _DEFAULTS[upstream]
    table = dict(default_rates)
    for band, value in (rates or {}).items():
        letter = str(band).strip().upper()
        if letter not in BANDS:
            raise ValueError(f"tax_bands: {band!r} is not a band (one of {', '.join(BANDS)})")
        table[letter] = _rate(letter, value)
    step = default_rounding if rounding in (None, "") else _step(rounding)
    mode = band_tax or "band"
    if mode not in BAND_TAX_MODES:
        raise ValueError(f"band_tax must be one of {', '.join(BAND_TAX_MODES)}, got {band_tax!r}")
    inclusive = default_inclusive if prices_include_tax is None else bool(prices_include_tax)
    return TaxConfig(rates={b: table[b] for b in BANDS if b in table},
                     prices_include_tax=inclusive, rounding=step, band_tax=mode)


def _rate(band: str, value: object) -> Decimal | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in EXEMPT_WORDS):
        return None
    try:
        rate = to_decimal(value)
    except NotANumber as why:
        raise ValueError(f"tax_bands: the rate of band {band} {why}") from None
    if not ZERO <= rate <= HUNDRED:
        raise ValueError(f"tax_bands: the rate of band {band} must be between 0 and 100 (percent)")
    return rate


def _step(value: object) -> Decimal:
    try:
        step = to_decimal(value)
    except NotANumber as why:
        raise ValueError(f"tax_rounding {why}") from None
    allowed = [Decimal(1).scaleb(-k) for k in range(5)]  # 1, 0.1, 0.01, 0.001, 0.0001
    if step not in allowed:
        raise ValueError(f"tax_rounding must be one of 1, 0.1, 0.01, 0.001, 0.0001; got {value!r}")
    return allowed[allowed.index(step)]


def round_tax(amount: Decimal, config: TaxConfig) -> Decimal:
    return amount.quantize(config.rounding, rounding=ROUND_HALF_UP)


def cents(amount: Decimal) -> Decimal:
    """Money to at most two decimals (half-up); amounts with fewer decimals stay as they are."""
    if amount.as_tuple().exponent >= -2:  # type: ignore[operator]
        return amount
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def tax_of(taxable: Decimal, rate: Decimal, inclusive: bool) -> Decimal:
    """Unrounded tax on a taxable amount at a rate (percent), priced inclusive or exclusive."""
    if not rate:
        return ZERO
    return taxable * rate / (HUNDRED + rate) if inclusive else taxable * rate / HUNDRED


# The detail's number format: exact, normalized (200 and 200.00 both read "200").
text = canonical


def compute(lines: Iterable[Mapping[str, object]], config: TaxConfig, *,
            prices_include_tax: bool | None = None
            ) -> tuple[list[dict], dict[str, dict[str, str]], dict[str, str]]:
    """The detail's ``lines``, ``bands`` and ``totals`` (docs/KENYA.md) for validated lines.

    Each line needs quantity, unit_price and tax_type (Decimals, ints or numeric text) and may
    have discount_rate / discount_amount (a non-zero amount wins); item_code, item_name,
    item_class_code, pkg_unit and qty_unit are copied. Raises KenyaValidationError (naming
    ``items[i].<field>``) for a band that is not configured or a number that is not one.
    """
    inclusive = config.prices_include_tax if prices_include_tax is None else prices_include_tax
    out: list[dict] = []
    errors: dict[str, str] = {}
    band_taxable = {band: ZERO for band in config.rates}
    band_line_tax = {band: ZERO for band in config.rates}
    for index, line in enumerate(lines):
        where = f"items[{index}]"
        band = str(line.get("tax_type") or "").strip().upper()
        if band not in config.rates:
            errors[f"{where}.tax_type"] = (f"{where}.tax_type must be one of the configured bands "
                                           f"{', '.join(config.rates)}, got {line.get('tax_type')!r}")
            continue
        numbers = {}
        for name in ("quantity", "unit_price", "discount_rate", "discount_amount"):
            value = line.get(name)
            if value is None and name.startswith("discount"):
                value = 0
            try:
                numbers[name] = to_decimal(value)
            except NotANumber as why:
                errors[f"{where}.{name}"] = f"{where}.{name} {why}"
        if len(numbers) < 4:
            continue
        rate = config.rate(band)
        supply = cents(numbers["quantity"] * numbers["unit_price"])
        if numbers["discount_amount"]:
            discount = cents(numbers["discount_amount"])
            discount_rate = (discount * HUNDRED / supply).quantize(CENT, ROUND_HALF_UP) if supply else ZERO
        else:
            discount_rate = numbers["discount_rate"]
            discount = cents(supply * discount_rate / HUNDRED)
        taxable = supply - discount
        tax = round_tax(tax_of(taxable, rate, inclusive), config)
        net, gross = (taxable - tax, taxable) if inclusive else (taxable, taxable + tax)
        band_taxable[band] += taxable
        band_line_tax[band] += tax
        out.append({
            "seq": len(out) + 1, "item_code": line.get("item_code"), "item_name": line.get("item_name"),
            "item_class_code": line.get("item_class_code"), "pkg_unit": line.get("pkg_unit"),
            "qty_unit": line.get("qty_unit"), "quantity": text(numbers["quantity"]),
            "unit_price": text(numbers["unit_price"]), "discount_rate": text(discount_rate),
            "discount_amount": text(discount), "supply_amount": text(supply),
            "taxable_amount": text(taxable), "tax_type": band, "tax_rate": text(rate),
            "tax_amount": text(tax), "net_amount": text(net), "gross_amount": text(gross),
        })
    if errors:
        raise KenyaValidationError(errors)
    bands: dict[str, dict[str, str]] = {}
    total_taxable = total_tax = ZERO
    for band in BANDS:
        if band not in config.rates:
            bands[band] = {"rate": "0", "taxable": "0", "tax": "0"}
            continue
        rate = config.rate(band)
        taxable = band_taxable[band]
        if config.band_tax == "lines":
            tax = band_line_tax[band]
        else:
            tax = round_tax(tax_of(taxable, rate, inclusive), config)
        bands[band] = {"rate": text(rate), "taxable": text(taxable), "tax": text(tax)}
        total_taxable += taxable
        total_tax += tax
    net, gross = ((total_taxable - total_tax, total_taxable) if inclusive
                  else (total_taxable, total_taxable + total_tax))
    totals = {"taxable": text(total_taxable), "tax": text(total_tax), "net": text(net),
              "gross": text(gross)}
    return out, bands, totals


def effective_rate(net: Decimal, tax: Decimal) -> Decimal:
    """The row's tax_rate column: tax / net × 100 to 2 decimals; 0 when net is 0."""
    if not net:
        return Decimal("0.00")
    return (tax * HUNDRED / net).copy_abs().quantize(CENT, rounding=ROUND_HALF_UP)


def in_home_currency(amount: Decimal, exchange_rate: Decimal | str | int = 1) -> Decimal:
    """An amount in the sale's currency in KES: amount × exchange_rate, rounded half-up to cents
    (exact Decimal arithmetic, never a float). At rate 1 (a KES sale) the amount stays as it is."""
    rate = Decimal(exchange_rate)
    if rate == 1:
        return amount
    with localcontext() as context:
        # exact: the product has at most the digits of both, the result 26 (below 10^24, cents)
        context.prec = len(amount.as_tuple().digits) + len(rate.as_tuple().digits) + 30
        return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP) + 0


def home_totals(totals: Mapping[str, str], exchange_rate: Decimal | str | int = 1
                ) -> dict[str, Decimal]:
    """A detail's net, tax and gross in KES (docs/KENYA.md "Money columns"): tax and gross are
    each converted (× exchange_rate, half-up to cents) and net is gross − tax, so the row's
    amount + tax_amount is its total_amount as for a KES sale."""
    tax = in_home_currency(Decimal(totals["tax"]), exchange_rate)
    gross = in_home_currency(Decimal(totals["gross"]), exchange_rate)
    net = Decimal(totals["net"]) if Decimal(exchange_rate) == 1 else gross - tax
    return {"net": net, "tax": tax, "gross": gross}


def money_columns(totals: Mapping[str, str], *, negative: bool = False,
                  exchange_rate: Decimal | str | int = 1
                  ) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(amount, tax_rate, tax_amount, total_amount) of a row from a detail's totals, in KES
    (the totals × exchange_rate, see home_totals): amount = net, total_amount = gross; a credit
    note's are negative (tax_rate, the same in any currency, stays positive)."""
    rate = effective_rate(Decimal(totals["net"]), Decimal(totals["tax"]))
    kes = home_totals(totals, exchange_rate)
    net, tax, gross = kes["net"], kes["tax"], kes["gross"]
    if negative:
        net, tax, gross = -net, -tax, -gross
    return net + 0, rate, tax + 0, gross + 0  # (+ 0 turns -0 into 0)


def too_large(totals: Mapping[str, str], exchange_rate: Decimal | str | int = 1) -> bool:
    """Any total, in the sale's currency or in KES, at or above MAX_AMOUNT."""
    figures = [Decimal(value) for value in totals.values()]
    if Decimal(exchange_rate) != 1:
        figures += home_totals(totals, exchange_rate).values()
    return any(value.copy_abs() >= MAX_AMOUNT for value in figures)
