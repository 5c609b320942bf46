"""Field rules of the Kenya documents (issue 8), one small function per kind of field.

Each takes the value as posted, the field's name as the till should read it (``items[0].quantity``)
and the errors dict; it returns the clean value, or None after recording what is wrong, so a
parser can report every bad field at once (like app.domain.validation).
"""

import re
from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from decimal import Decimal

from app.domain.money import NotANumber, plain, to_decimal
from app.domain.validation import parse_date_time

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
KRA_PIN = re.compile(r"[A-Z][0-9]{9}[A-Z]")  # e.g. P051234567A, A123456789A (ASCII digits only)
UNIT_CODE = re.compile(r"[A-Z0-9]{1,5}")  # NT, U, BG, KG, GRM, NX, KGS, PCS, HUR
CLASS_CODE = re.compile(r"\d{8,10}")  # ProTax: "KRA HS classification code (8–10 digits)"
CURRENCY = re.compile(r"[A-Z]{3}")  # ISO 4217
COUNTRY = re.compile(r"[A-Z]{2}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


def text(value: object, name: str, limit: int, errors: dict[str, str], *, required: bool = True,
         number: bool = False) -> str | None:
    """Trimmed text (a JSON integer is taken as its digits). ``number`` = a document number or
    code that becomes part of a row's number: it may not contain ":"."""
    if value is None or value == "":
        if required:
            errors[name] = f"{name} is required"
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[name] = f"{name} must be text"
        return None
    stripped = str(value).strip()
    if not stripped:
        if required:
            errors[name] = f"{name} must not be blank"
        return None
    if len(stripped) > limit:
        errors[name] = f"{name} must be at most {limit} characters (got {len(stripped)})"
    elif CONTROL.search(stripped):
        errors[name] = f"{name} must not contain control characters"
    elif number and ":" in stripped:
        errors[name] = f"{name} must not contain ':'"
    else:
        return stripped
    return None


def first_of(fields: Mapping, names: tuple[str, ...], errors: dict[str, str],
             label: str | None = None) -> object:
    """The value of the first of ``names`` given (aliases); two given and different is an error,
    reported under ``label`` (default: the first name)."""
    found = [(name, fields.get(name)) for name in names if fields.get(name) not in (None, "")]
    if not found:
        return None
    value = found[0][1]
    for name, other in found[1:]:
        if str(other).strip() != str(value).strip():
            label = label or names[0]
            errors[label] = f"{label}: {found[0][0]} and {name} were both given and disagree; send one"
            return None
    return value


def number(value: object, name: str, errors: dict[str, str], *, required: bool = True,
           positive: bool = False, maximum: Decimal | None = None) -> Decimal | None:
    """A number (JSON number or numeric text), at least 0; above 0 when ``positive``."""
    if value is None or value == "":
        if required:
            errors[name] = f"{name} is required"
        return None
    try:
        result = to_decimal(value)
    except NotANumber as why:
        errors[name] = f"{name} {why}"
        return None
    if positive and result <= 0:
        errors[name] = f"{name} must be greater than 0"
    elif result < 0:
        errors[name] = f"{name} must be 0 or more"
    elif maximum is not None and result > maximum:
        errors[name] = f"{name} must be at most {plain(maximum)}"
    else:
        return result
    return None


def code(value: object, name: str, errors: dict[str, str], *, low: int, high: int,
         default: str | None = None, meaning: str = "") -> str | None:
    """A two-digit code "01".."NN" (1 or "1" is taken as "01")."""
    if value is None or value == "":
        if default is None:
            errors[name] = f"{name} is required"
        return default
    digits = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if digits.isascii() and digits.isdigit() and len(digits) <= 3 and low <= int(digits) <= high:
        return f"{int(digits):02d}"
    errors[name] = f"{name} must be a code from {low:02d} to {high:02d}{meaning}, got {value!r}"
    return None


def choice(value: object, name: str, allowed: tuple[str, ...], errors: dict[str, str], *,
           default: str | None = None) -> str | None:
    """One of ``allowed`` (upper-case), case-insensitive."""
    if value is None or value == "":
        if default is None:
            errors[name] = f"{name} is required (one of {', '.join(allowed)})"
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # item_type 1
    upper = value.strip().upper() if isinstance(value, str) else None
    if upper in allowed:
        return upper
    errors[name] = f"{name} must be one of {', '.join(allowed)}, got {value!r}"
    return None


def pattern(value: object, name: str, regex: re.Pattern, rule: str, errors: dict[str, str], *,
            default: str | None = None, required: bool = False, upper: bool = True) -> str | None:
    """Text that must match ``regex`` (after trimming, upper-cased unless told otherwise)."""
    if value is None or value == "":
        if required:
            errors[name] = f"{name} is required ({rule})"
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors[name] = f"{name} must be text ({rule})"
        return None
    clean = value.strip().upper() if upper else value.strip()
    if regex.fullmatch(clean) and clean.isascii():
        return clean
    errors[name] = f"{name} must be {rule}, got {value!r}"
    return None


def kra_pin(value: object, name: str, errors: dict[str, str], *, required: bool = False) -> str | None:
    return pattern(value, name, KRA_PIN, "a KRA PIN: a letter, 9 digits and a letter, like "
                   "P051234567A", errors, required=required)


def boolean(value: object, name: str, errors: dict[str, str]) -> bool | None:
    """true/false (also 1/0 and the words true/false/yes/no); None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if (isinstance(value, int) or (isinstance(value, Decimal) and value.is_finite())) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    errors[name] = f"{name} must be true or false, got {value!r}"
    return None


def day(value: object, name: str, errors: dict[str, str], *, default: date | None = None) -> date | None:
    """A calendar date YYYY-MM-DD (a date and time is accepted and its date taken)."""
    if value is None or value == "":
        if default is None:
            errors[name] = f"{name} is required (YYYY-MM-DD)"
        return default
    raw = value.strip() if isinstance(value, str) else ""
    if DATE.fullmatch(raw[:10]) and (len(raw) == 10 or raw[10:11] in (" ", "T")):
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            errors[name] = f"{name} is not a real date: {value!r}"
            return None
    errors[name] = f"{name} must be a date like 2026-04-12, got {value!r}"
    return None


def date_time(value: object, name: str, errors: dict[str, str], local_tz: tzinfo | None
              ) -> datetime | None:
    """The KPRA rules (app.domain.validation): YYYY-MM-DD HH:MM:SS, ISO with a zone converted to
    the shop's clock, fractions of a second dropped."""
    return parse_date_time(value, name, errors, local_tz)
