"""Money and numeric parsing. Money is Decimal, never float: values are kept exactly as sent."""

from decimal import Decimal, InvalidOperation

# Big enough for any real invoice, small enough that a typo like 1e30 is caught.
MAX_AMOUNT = Decimal("1000000000000")  # 10^12
# Nor may a number be absurdly small: written out (as it is stored and shown), 1E-999999999
# would be a billion characters. A number's adjusted() (the exponent of its first digit) must
# be at least this; float noise such as 5.551115123125783E-17 passes.
MIN_ADJUSTED = -100
CENT = Decimal("0.01")


class NotANumber(ValueError):
    pass


def to_decimal(value: object) -> Decimal:
    """A JSON number (already a Decimal/int thanks to the parser) or a numeric string.

    Rejects booleans, NaN/Infinity and anything that is not plainly a number, with a reason.
    """
    if isinstance(value, bool):
        raise NotANumber("must be a number, not true/false")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):  # only reachable when a caller parsed JSON without Decimal
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise NotANumber("must be a number, got an empty value")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise NotANumber(f"must be a number like 200 or 200.50, got {value!r}") from None
    elif value is None:
        raise NotANumber("must be a number, got null")
    else:
        raise NotANumber(f"must be a number, got {type(value).__name__}")
    if not number.is_finite():
        raise NotANumber("must be a finite number")
    if number.copy_abs() >= MAX_AMOUNT:  # (abs() would raise Overflow for 1E+999999999)
        raise NotANumber("is implausibly large (must be below 1,000,000,000,000)")
    if number.adjusted() < MIN_ADJUSTED:
        raise NotANumber("is implausibly small (more than 100 zeros after the decimal point)")
    return number


def plain(number: Decimal) -> str:
    """The number as plain decimal text (no exponent), exactly as precise as it was given."""
    text = str(number)  # the same text, faster, unless str() chose an exponent
    return text if "E" not in text else format(number, "f")


def canonical(number: Decimal) -> str:
    """Equal numbers give equal text (200 == 200.0 == "2E+2"): used for content hashing."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def differs(a: Decimal, b: Decimal, tolerance: Decimal = CENT) -> bool:
    return abs(a - b) > tolerance
