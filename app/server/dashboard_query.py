"""Reading the dashboard's query strings (filters, date ranges, cursors) into the store's types.
A bad value raises BadQuery naming the field and the rule; nothing is guessed."""

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping

from app.domain.validation import MAX_ID, MAX_INVOICE_NO
from app.store.listing import STATE_GROUPS, Cursor, InvoiceFilter

PAYMENT_MODES = {1: "Cash", 2: "Card"}  # the seed: 1 cash, 2 card
# Kenya's four kinds of documents (docs/KENYA.md); KPRA rows are all "invoice".
KINDS = {"invoice": "Sale", "credit_note": "Credit note", "item": "Item registration",
         "stock": "Stock adjustment"}
KIND_PREFIXES = {"credit_note": "cn:", "item": "item:", "stock": "stock:"}  # of their invoice_no
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # only ASCII digits ("²" is a digit to str)
_WHOLE = re.compile(r"[0-9]{1,18}")


class BadQuery(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_date(query: Mapping[str, str], name: str, errors: dict[str, str]) -> dt.date | None:
    text = query.get(name, "").strip()
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):  # fromisoformat alone takes weeks too (2026-W47-6)
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = f"must be a date like 2026-11-21 (YYYY-MM-DD), got {text[:20]!r}"
        return None


def date_range(query: Mapping[str, str], errors: dict[str, str],
               default_from: dt.date | None = None, default_to: dt.date | None = None
               ) -> tuple[dt.date | None, dt.date | None]:
    start = parse_date(query, "from", errors) or default_from
    end = parse_date(query, "to", errors) or default_to
    if start and end and start > end and "from" not in errors and "to" not in errors:
        errors["to"] = "must not be before from"
    return start, end


def invoice_filter(query: Mapping[str, str], errors: dict[str, str] | None = None,
                   default_from: dt.date | None = None, default_to: dt.date | None = None,
                   payment_modes: Mapping[int, str] = PAYMENT_MODES) -> InvoiceFilter:
    """The invoice list's, exports' and reports' filters. Raises BadQuery unless ``errors`` is
    handed in (then the caller adds its own and raises). ``payment_modes``: the authority's
    (dashboard_kenya.payment_modes); KPRA's by default."""
    own = errors is None
    errors = {} if errors is None else errors
    state = query.get("state", "").strip().lower()
    states = ()
    if state:
        if state not in STATE_GROUPS:
            errors["state"] = f"must be one of {', '.join(STATE_GROUPS)}"
        else:
            states = STATE_GROUPS[state]
    pos_id = query.get("pos_id", "").strip() or None
    if pos_id is not None and len(pos_id) > MAX_ID:
        errors["pos_id"] = f"is at most {MAX_ID} characters"
    payment_mode = None
    mode = query.get("payment_mode", "").strip()
    if mode:
        if mode not in {str(m) for m in payment_modes}:
            errors["payment_mode"] = payment_mode_rule(payment_modes)
        else:
            payment_mode = int(mode)
    start, end = date_range(query, errors, default_from, default_to)
    kind = query.get("kind", "").strip().lower()
    kinds: tuple[str, ...] = ()
    if kind:
        if kind not in KINDS:
            errors["kind"] = f"must be one of {', '.join(KINDS)}"
        else:
            kinds = (kind,)
    number = query.get("q", "").strip() or None
    if number is not None and len(number) > MAX_INVOICE_NO:
        errors["q"] = f"an invoice number is at most {MAX_INVOICE_NO} characters"
    prefix = KIND_PREFIXES.get(kinds[0], "") if kinds else ""
    if number and prefix and not number.startswith(prefix):
        number = prefix + number  # Kenya: "CN-1" with kind credit_note finds row cn:CN-1
    if own and errors:
        raise BadQuery(errors)
    return InvoiceFilter(states=states, pos_id=pos_id, payment_mode=payment_mode,
                         date_from=start.isoformat() if start else None,
                         date_to=end.isoformat() if end else None, invoice_no=number,
                         kinds=kinds)


def page_args(query: Mapping[str, str], errors: dict[str, str]) -> tuple[int, Cursor | None]:
    limit = DEFAULT_LIMIT
    text = query.get("limit", "").strip()
    if text:
        if not whole_number(text) or not 1 <= int(text) <= MAX_LIMIT:
            errors["limit"] = f"must be a whole number from 1 to {MAX_LIMIT}"
        else:
            limit = int(text)
    token = query.get("after", "").strip()
    cursor = None
    if token:
        cursor = decode_cursor(token)
        if cursor is None:
            errors["after"] = "is not a page cursor this dashboard handed out; start again " \
                              "from the first page"
    return limit, cursor


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    raw = f"{cursor.id}|{cursor.date_time}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor | None:
    if len(token) > 200:  # an invoice date and a row id are far shorter
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        id_text, date_time = raw.split("|", 1)
        if not whole_number(id_text):
            return None
        return Cursor(date_time=date_time, id=int(id_text))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def whole_number(text: str) -> bool:
    """ASCII digits only, and small enough for SQLite (below 10^18)."""
    return _WHOLE.fullmatch(text) is not None


def payment_mode_name(mode: int, payment_modes: Mapping[int, str] = PAYMENT_MODES) -> str:
    return payment_modes.get(mode, f"Mode {mode}")


def payment_mode_rule(payment_modes: Mapping[int, str] = PAYMENT_MODES) -> str:
    """"must be 1 (cash) or 2 (card)" (KPRA), "must be 1 (cash), 2 (credit), … or 7 (other)"."""
    words = [f"{m} ({n.lower()})" for m, n in payment_modes.items()]
    return "must be " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else
                         "".join(words))
