"""The seed's validation rules, made precise (issue 2). Every invalid field is reported at once."""

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from app.domain.errors import InvoiceValidationError
from app.domain.invoice import CARD, CASH, Invoice, Submission, Warning
from app.domain.money import MAX_AMOUNT, MIN_ADJUSTED, NotANumber, differs, plain, to_decimal

MAX_INVOICE_NO = 50
MAX_ID = 64
MAX_KEY = 256
FUTURE_TOLERANCE = timedelta(minutes=5)

# The live API's names for two utility fields (seed, "Field Mapping").
ALIASES = {"date_time": "date", "tax_amount": "sales_tax"}

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_INT = int(MAX_AMOUNT)


def parse_submission(
    fields: object, *, now: datetime, local_tz: tzinfo | None = None
) -> Submission:
    """Validate what a POS posted. ``now`` is the shop's naive local time.

    Raises InvoiceValidationError naming every bad field and the rule it breaks.
    """
    if type(fields) is not dict and not isinstance(fields, Mapping):
        raise InvoiceValidationError({"body": "must be a JSON object with the invoice fields"})
    errors: dict[str, str] = {}
    warnings: list[Warning] = []
    ntn = _text(fields, "ntn", MAX_ID, errors)
    pos_id = _text(fields, "pos_id", MAX_ID, errors)
    key = _text(fields, "key", MAX_KEY, errors)
    invoice_no = _text(fields, "invoice_no", MAX_INVOICE_NO, errors)

    live_shaped = (fields.get("date") not in (None, "")
                   or fields.get("sales_tax") not in (None, ""))  # ALIASES' values
    tax_amount = _number(fields, "tax_amount", errors)
    total_amount = _number(fields, "total_amount", errors)
    tax_rate = _number(fields, "tax_rate", errors)
    amount = None
    if fields.get("amount") in (None, "") and live_shaped and None not in (tax_amount, total_amount):
        # The seed's own live-API example omits amount; a POS written from it must not lose sales.
        amount = total_amount - tax_amount
        warnings.append(
            Warning("amount_derived", "amount", f"amount was missing; taken as total_amount − "
                    f"tax_amount = {plain(amount)}")
        )
    else:
        amount = _number(fields, "amount", errors)

    if amount is not None and amount <= 0:
        errors["amount"] = "amount must be greater than 0"
    if total_amount is not None and total_amount <= 0:
        errors["total_amount"] = "total_amount must be greater than 0"
    if tax_rate is not None and not (0 <= tax_rate <= 100):
        errors["tax_rate"] = "tax_rate must be between 0 and 100 (a percentage)"
    if tax_amount is not None and tax_amount < 0:
        errors["tax_amount"] = "tax_amount must be 0 or more"

    date_time = _date_time(fields, errors, local_tz)
    payment_mode = _payment_mode(fields.get("payment_mode"), errors)

    if errors:
        raise InvoiceValidationError(errors)

    assert amount is not None and tax_rate is not None and tax_amount is not None
    assert total_amount is not None and date_time is not None
    expected_tax = amount * tax_rate / 100
    if differs(tax_amount, expected_tax):
        warnings.append(Warning(
            "tax_mismatch", "tax_amount",
            f"tax_amount {plain(tax_amount)} is not amount × tax_rate / 100 = "
            f"{plain(expected_tax.quantize(Decimal('0.01')))}",
        ))
    if differs(total_amount, amount + tax_amount):
        warnings.append(Warning(
            "total_mismatch", "total_amount",
            f"total_amount {plain(total_amount)} is not amount + tax_amount = "
            f"{plain(amount + tax_amount)}",
        ))
    if date_time - now > FUTURE_TOLERANCE:
        warnings.append(Warning(
            "future_date", "date_time",
            f"date_time {date_time:%Y-%m-%d %H:%M:%S} is more than 5 minutes in the future "
            f"(this PC's clock says {now:%Y-%m-%d %H:%M:%S}); check the till's clock",
        ))

    received = {name: value for name, value in fields.items() if name != "key"}
    invoice = Invoice(
        ntn=ntn, pos_id=pos_id, invoice_no=invoice_no,  # type: ignore[arg-type]
        amount=amount, tax_rate=tax_rate, tax_amount=tax_amount, total_amount=total_amount,
        date_time=date_time, payment_mode=payment_mode, warnings=tuple(warnings),
        received=received,
    )
    return Submission(invoice=invoice, key=key)  # type: ignore[arg-type]


def _text(fields: Mapping, name: str, limit: int, errors: dict[str, str]) -> str | None:
    value = fields.get(name)
    kind = type(value)
    if kind is str:
        stripped = value.strip()  # type: ignore[union-attr]
        if stripped and len(stripped) <= limit and not _CONTROL.search(stripped):
            return stripped  # the usual case, checked once
    elif value is None:
        errors[name] = f"{name} is required"
        return None
    elif kind is bool or not isinstance(value, str | int):
        errors[name] = f"{name} must be text"
        return None
    else:
        stripped = str(value).strip()
    if value == "":
        errors[name] = f"{name} is required"
    elif not stripped:
        errors[name] = f"{name} must not be blank"
    elif len(stripped) > limit:
        errors[name] = f"{name} must be at most {limit} characters (got {len(stripped)})"
    elif _CONTROL.search(stripped):
        errors[name] = f"{name} must not contain control characters"
    else:
        return stripped
    return None


def _number(fields: Mapping, name: str, errors: dict[str, str]) -> Decimal | None:
    if name not in ALIASES:  # the usual case first: a plain JSON number
        value = fields.get(name)
        kind = type(value)
        if kind is int and -_MAX_INT < value < _MAX_INT:  # type: ignore[operator]
            return Decimal(value)  # type: ignore[arg-type]
        if (kind is Decimal and value.is_finite() and value.copy_abs() < MAX_AMOUNT  # type: ignore
                and value.adjusted() >= MIN_ADJUSTED):  # type: ignore[union-attr]
            return value  # type: ignore[return-value]
    value = _aliased(fields, name, errors)
    if value is None:
        if name not in errors:
            errors[name] = f"{name} is required"
        return None
    try:
        return to_decimal(value)
    except NotANumber as why:
        errors[name] = f"{name} {why}"
        return None


def _aliased(fields: Mapping, name: str, errors: dict[str, str]) -> object:
    """The utility name, or the live-API alias; both given and different is an error."""
    value = fields.get(name)
    alias = ALIASES.get(name)
    alias_value = fields.get(alias) if alias else None
    if value in (None, ""):
        return None if alias_value in (None, "") else alias_value
    if alias_value not in (None, "") and str(alias_value).strip() != str(value).strip():
        errors[name] = f"{name} and {alias} were both given and disagree; send one of them"
        return None
    return value


def _date_time(fields: Mapping, errors: dict[str, str], local_tz: tzinfo | None) -> datetime | None:
    value = _aliased(fields, "date_time", errors)
    if "date_time" in errors:
        return None
    return parse_date_time(value, "date_time", errors, local_tz)


def parse_date_time(value: object, name: str, errors: dict[str, str], local_tz: tzinfo | None
                    ) -> datetime | None:
    """YYYY-MM-DD HH:MM:SS (or ISO with a zone, converted to the shop's clock; fractions of a
    second dropped) as a naive local datetime, or None after recording under ``name`` what is
    wrong (None and "" are missing)."""
    if value in (None, ""):
        errors[name] = f"{name} is required (YYYY-MM-DD HH:MM:SS)"
        return None
    text = value.strip() if isinstance(value, str) else ""
    match = _DATETIME.fullmatch(text)
    if not match:
        errors[name] = f"{name} must be a date and time like 2026-04-02 12:12:12, got {value!r}"
        return None
    try:
        moment = datetime.fromisoformat(text if match.group(7) != "Z" else text[:-1] + "+00:00")
    except ValueError:
        errors[name] = f"{name} is not a real date and time: {value!r}"
        return None
    if moment.tzinfo is not None:  # e.g. JavaScript's toISOString(): convert to the shop's clock
        try:
            moment = moment.astimezone(local_tz).replace(tzinfo=None)
        except (OverflowError, ValueError):  # e.g. 9999-12-31T23:59:59-14:00 is in the year 10000
            errors[name] = f"{name} is out of range once converted to local time: {value!r}"
            return None
    return moment.replace(microsecond=0) if moment.microsecond else moment


def _payment_mode(value: object, errors: dict[str, str]) -> int:
    """Seed: 1 = cash, 2 = card; omitted or non-numeric means 1. Another number is an error."""
    if value is None or isinstance(value, bool):
        return CASH
    if type(value) is int and value in (CASH, CARD):
        return value  # type: ignore[return-value]
    try:
        number = to_decimal(value)
    except NotANumber:
        return CASH
    if number in (CASH, CARD):
        return int(number)
    errors["payment_mode"] = f"payment_mode must be 1 (cash) or 2 (card), got {plain(number)}"
    return CASH
