"""Kenya eTIMS documents as the utility understands them, after validation (issue 8).

docs/KENYA.md is the design: four kinds of document share the outbox; each is a row whose
``detail`` is the normalized document the connectors read (every number an exact decimal string).
The field rules live in app.domain.kenya_validation, the tax arithmetic in app.domain.kenya_tax.

Decisions the design left open (the till's local API):
- The shop's KRA PIN is ``ntn`` (also accepted as ``pin`` or ``kra_pin``); it is checked only as
  text, like KPRA's ntn, because it must equal the keyring entry whatever its shape.
- ``payment_type`` is the eTIMS code "01".."07" (01 cash, 02 credit, 03 cash/credit, 04 bank
  cheque, 05 debit/credit card, 06 mobile money, 07 other). Without it, KPRA's ``payment_mode``
  is understood: 1 (cash) = "01", 2 (card) = "05"; neither means cash. (ProTax knows only
  01..04: its connector maps the rest.) The row's payment_mode is the code's number ("06" → 6;
  a credit note's is its original's), so reports can group by it; the dashboard names it.
- A line's item_class_code defaults to DEFAULT_ITEM_CLASS, its units to NT / U, its item_type to
  "1"; these only matter when the item must be registered.
- A stock adjustment needs a ``reference`` (GRN / delivery note number): it is what makes a
  repeated post of the same adjustment safe (row ``stock:<reference>``), as invoice_no does.
- A credit note's ``date_time`` defaults to now; ``reason_code`` (eTIMS rfdRsnCd 01..13)
  defaults to "06" (refund).
- ``content_hash`` is computed once, when the document is made, from what was posted; it stays
  the same through dataclasses.replace() (when the store fills in item codes, resolves a credit
  note's lines or a stock row's remaining quantity), so a repeated post still matches.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, tzinfo
from decimal import Decimal

from app.domain import kenya_validation as rules
from app.domain import wire_json
from app.domain.invoice import CARD, CASH, Warning, cached_property
from app.domain.kenya_tax import (
    KenyaValidationError,
    TaxConfig,
    cents,
    compute,
    money_columns,
    text,
    too_large,
)
from app.domain.money import CENT, MAX_AMOUNT, plain
from app.domain.validation import FUTURE_TOLERANCE, MAX_ID, MAX_KEY

__all__ = [
    "KINDS", "Document", "KenyaSubmission", "KenyaValidationError", "assign_item_codes",
    "credit_note_detail", "credited_quantities", "kra_item_code", "parse_credit_note",
    "parse_invoice", "parse_item", "parse_stock", "resolve_credit_note",
]

KINDS = ("invoice", "credit_note", "item", "stock")
PREFIX = {"invoice": "", "credit_note": "cn:", "item": "item:", "stock": "stock:"}
PAYMENT_TYPES = {"01": "cash", "02": "credit", "03": "cash/credit", "04": "bank cheque",
                 "05": "debit/credit card", "06": "mobile money", "07": "other"}
PAYMENT_MODE_TYPES = {CASH: "01", CARD: "05"}
SALES_TYPES = ("N", "C", "T")  # normal, copy, training
ITEM_TYPES = ("1", "2", "3")  # raw material, finished product, service
ADJUSTMENT_TYPES = ("IN", "OUT", "DAMAGE", "RETURN")
REASON_CODES = {  # eTIMS credit-note (refund) reasons, rfdRsnCd
    "01": "missing quantity", "02": "missing item", "03": "damaged", "04": "wasted",
    "05": "raw material shortage", "06": "refund", "07": "wrong customer PIN",
    "08": "wrong customer name", "09": "wrong amount/price", "10": "wrong quantity",
    "11": "wrong item(s)", "12": "wrong tax type", "13": "other"}
DEFAULT_REASON = "06"
DEFAULT_ITEM_CLASS = "99011001"  # a placeholder class; a till should send the item's own
DEFAULT_PKG_UNIT, DEFAULT_QTY_UNIT, DEFAULT_ITEM_TYPE, DEFAULT_COUNTRY = "NT", "U", "1", "KE"
HOME_CURRENCY = "KES"
MAX_NUMBER = 50  # invoice, credit note, item code and stock reference
MAX_NAME = 200
MAX_LINES = 1000
MAX_SEQ = 9_999_999
ZERO = Decimal(0)
# What the till decides, per kind, for the content hash (the rest the store fills in later).
POSTED = {
    "credit_note": ("credit_note_no", "original_invoice_no", "reason", "reason_code", "date_time",
                    "requested_full", "items"),
    "stock": ("reference", "item_code", "adjustment_type", "quantity", "date", "unit_cost"),
}


@dataclass(frozen=True)
class Document:
    """A validated Kenya document: one row of the outbox. Never carries the POS key."""

    kind: str
    ntn: str  # the shop's KRA PIN
    pos_id: str
    number: str  # the row's invoice_no: "INV-1", "cn:CN-1", "item:KE1NT…", "stock:GRN-7"
    amount: Decimal  # net; see docs/KENYA.md "Money columns"
    tax_rate: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    date_time: datetime  # naive local
    payment_mode: int  # the eTIMS payment type's number, 1..7 (1 cash); see payment_mode()
    detail: dict
    needs: tuple[str, ...] = ()  # row numbers (same POS) that must be synced first
    items: tuple[dict, ...] = ()  # "item" details the lines imply (item_code None: name only)
    warnings: tuple[Warning, ...] = ()
    received: dict = field(default_factory=dict, compare=False)  # as posted, minus "key"
    content_hash: str = field(default="", compare=False)  # computed when made (see module doc)

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", _content_hash(self))

    @cached_property
    def wire_date_time(self) -> str:
        return self.date_time.isoformat(" ")

    @cached_property
    def received_json(self) -> str:
        return wire_json.dumps(self.received)

    @cached_property
    def warnings_json(self) -> str:
        return wire_json.dumps([w.as_dict() for w in self.warnings]) if self.warnings else "[]"


def _content_hash(document: Document) -> str:
    """sha256 of a canonical JSON of kind, PIN, POS, number and the posted part of the detail.
    The detail's numbers are normalized already, so 200 and "200.00" hash the same."""
    detail = document.detail
    keys = POSTED.get(document.kind)
    if keys is not None:
        detail = {key: detail.get(key) for key in keys}
    body = [document.kind, document.ntn, document.pos_id, document.number, detail]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash_without(document: Document, *defaulted: str) -> Document:
    """The document, its content_hash computed as if the defaulted fields had not been filled."""
    blank = replace(document, detail={**document.detail, **dict.fromkeys(defaulted)}, content_hash="")
    return replace(document, content_hash=blank.content_hash)


@dataclass(frozen=True)
class KenyaSubmission:
    """What the till sent: the document plus the key it authenticated with."""

    document: Document
    key: str


def kra_item_code(item_type: str, pkg_unit: str, qty_unit: str, seq: int) -> str:
    """A KRA-style item code: "KE", the item type, the packaging unit, the quantity unit (a
    one-letter unit padded with "X" to two, as in the seed's KE1NTXU0000013) and 7 digits."""
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"item code sequence must be 1..{MAX_SEQ}, got {seq}")
    return f"KE{item_type}{pkg_unit.upper()}{qty_unit.upper().rjust(2, 'X')}{seq:07d}"


# --- common fields -----------------------------------------------------------------------------


def _start(fields: object) -> tuple[Mapping, dict[str, str]]:
    if not isinstance(fields, Mapping):
        raise KenyaValidationError({"body": "must be a JSON object with the document's fields"})
    return fields, {}


def _who(fields: Mapping, errors: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    pin = rules.first_of(fields, ("ntn", "pin", "kra_pin"), errors)
    ntn = None
    if pin is None and "ntn" not in errors:
        errors["ntn"] = "ntn is required (the shop's KRA PIN; also accepted as pin or kra_pin)"
    elif pin is not None:
        ntn = rules.text(pin, "ntn", MAX_ID, errors)
    pos_id = rules.text(fields.get("pos_id"), "pos_id", MAX_ID, errors)
    key = rules.text(fields.get("key"), "key", MAX_KEY, errors)
    return ntn, pos_id, key


def _received(fields: Mapping) -> dict:
    return {name: value for name, value in fields.items() if name != "key"}


def _future(moment: datetime, now: datetime, name: str = "date_time") -> list[Warning]:
    if moment - now <= FUTURE_TOLERANCE:
        return []
    return [Warning("future_date", name, f"{name} {moment:%Y-%m-%d %H:%M:%S} is more than 5 minutes "
                    f"in the future (this PC's clock says {now:%Y-%m-%d %H:%M:%S}); check the "
                    "till's clock")]


def _units(raw: Mapping, where: str, errors: dict[str, str]) -> dict[str, str | None]:
    """item_class_code, pkg_unit, qty_unit and item_type of an item or a line, with defaults."""
    prefix = f"{where}." if where else ""
    pkg = rules.first_of(raw, ("pkg_unit", "packaging_unit_code"), errors, f"{prefix}pkg_unit")
    qty = rules.first_of(raw, ("qty_unit", "quantity_unit_code"), errors, f"{prefix}qty_unit")
    return {
        "item_class_code": rules.pattern(raw.get("item_class_code"), f"{prefix}item_class_code",
                                         rules.CLASS_CODE, "8 to 10 digits (the KRA item class)",
                                         errors, default=DEFAULT_ITEM_CLASS),
        "pkg_unit": rules.pattern(pkg, f"{prefix}pkg_unit", rules.UNIT_CODE,
                                  "a packaging unit code like NT, BG or BX", errors,
                                  default=DEFAULT_PKG_UNIT),
        "qty_unit": rules.pattern(qty, f"{prefix}qty_unit", rules.UNIT_CODE,
                                  "a quantity unit code like U, KG or PCS", errors,
                                  default=DEFAULT_QTY_UNIT),
        "item_type": rules.choice(raw.get("item_type"), f"{prefix}item_type", ITEM_TYPES, errors,
                                  default=DEFAULT_ITEM_TYPE),
    }


def _item_detail(code: str | None, name: str | None, units: Mapping, tax_type: str | None,
                 unit_price: Decimal | None, country: str = DEFAULT_COUNTRY) -> dict:
    return {"kind": "item", "item_code": code, "item_name": name,
            "item_class_code": units["item_class_code"], "item_type": units["item_type"],
            "origin_country": country, "pkg_unit": units["pkg_unit"], "qty_unit": units["qty_unit"],
            "tax_type": tax_type, "unit_price": None if unit_price is None else text(unit_price)}


# --- invoice -----------------------------------------------------------------------------------


def parse_invoice(fields: object, *, now: datetime, config: TaxConfig,
                  local_tz: tzinfo | None = None) -> KenyaSubmission:
    """Validate a sale the till posted (POST /api/invoice in a Kenya mode). ``now`` is the
    shop's naive local time. Raises KenyaValidationError naming every bad field."""
    fields, errors = _start(fields)
    warnings: list[Warning] = []
    ntn, pos_id, key = _who(fields, errors)
    invoice_no = rules.text(fields.get("invoice_no"), "invoice_no", MAX_NUMBER, errors, number=True)
    moment = rules.date_time(fields.get("date_time"), "date_time", errors, local_tz)
    customer_pin = rules.kra_pin(fields.get("customer_pin"), "customer_pin", errors)
    customer_name = rules.text(fields.get("customer_name"), "customer_name", MAX_NAME, errors,
                               required=False)
    payment_type = _payment_type(fields, errors)
    sales_type = rules.choice(fields.get("sales_type"), "sales_type", SALES_TYPES, errors, default="N")
    currency = rules.pattern(fields.get("currency"), "currency", rules.CURRENCY,
                             "a 3-letter currency code like KES or USD", errors, default=HOME_CURRENCY)
    foreign = currency not in (None, HOME_CURRENCY)
    exchange_rate = rules.number(fields.get("exchange_rate"), "exchange_rate", errors, required=foreign,
                                 positive=True)
    if foreign and fields.get("exchange_rate") in (None, ""):
        errors["exchange_rate"] = f"exchange_rate is required when currency is not KES (got {currency})"
    if currency == HOME_CURRENCY:
        if exchange_rate is not None and exchange_rate != 1:
            warnings.append(Warning("exchange_rate_ignored", "exchange_rate",
                                    f"exchange_rate {plain(exchange_rate)} was ignored: the currency is KES"))
        exchange_rate = Decimal(1)
    inclusive = rules.boolean(fields.get("prices_include_tax"), "prices_include_tax", errors)
    if inclusive is None:
        inclusive = config.prices_include_tax
    claimed = {name: rules.number(fields.get(name), name, errors, required=False)
               for name in ("amount", "tax_amount", "total_amount")}
    lines = _lines(fields.get("items"), config, errors)

    if not errors:
        computed, bands, totals = compute(lines, config, prices_include_tax=inclusive)
        if too_large(totals, exchange_rate or 1):
            errors["items"] = ("the invoice's total is implausibly large (must be below "
                               "1,000,000,000,000, in KES too)")
    if errors:
        raise KenyaValidationError(errors)
    assert ntn and pos_id and key and invoice_no and moment and payment_type

    warnings += _future(moment, now)
    tolerance = max(CENT, config.rounding)
    for name, total, code, meaning in (
            ("total_amount", "gross", "total_mismatch", "the total including tax"),
            ("tax_amount", "tax", "tax_mismatch", "the tax"),
            ("amount", "net", "amount_mismatch", "the amount excluding tax")):
        given, expected = claimed[name], Decimal(totals[total])
        if given is not None and abs(given - expected) > tolerance:
            warnings.append(Warning(code, name, f"{name} {plain(given)} is not {meaning} computed "
                                    f"from the items, {totals[total]}; the computed figure is used"))

    detail = {
        "kind": "invoice", "invoice_no": invoice_no, "date_time": moment.isoformat(" "), "pin": ntn,
        "customer_pin": customer_pin, "customer_name": customer_name, "payment_type": payment_type,
        "sales_type": sales_type, "currency": currency, "exchange_rate": text(exchange_rate),
        "prices_include_tax": inclusive, "lines": computed, "bands": bands, "totals": totals,
    }
    items: dict[object, dict] = {}
    for line in lines:
        ident = line["item_code"] or ("name", line["item_name"])
        if ident not in items:
            items[ident] = _item_detail(line["item_code"], line["item_name"], line,
                                        line["tax_type"], line["unit_price"])
    needs = tuple(dict.fromkeys(f"item:{line['item_code']}" for line in lines if line["item_code"]))
    amount, tax_rate, tax_amount, total_amount = money_columns(totals, exchange_rate=exchange_rate)
    document = Document(
        kind="invoice", ntn=ntn, pos_id=pos_id, number=invoice_no, amount=amount, tax_rate=tax_rate,
        tax_amount=tax_amount, total_amount=total_amount, date_time=moment,
        payment_mode=payment_mode(payment_type), detail=detail, needs=needs,
        items=tuple(items.values()), warnings=tuple(warnings), received=_received(fields))
    return KenyaSubmission(document=document, key=key)


def payment_mode(payment_type: object) -> int:
    """The row's payment_mode for an eTIMS payment type: "01".."07" → 1..7 (else cash)."""
    return int(payment_type) if isinstance(payment_type, str) and payment_type in PAYMENT_TYPES \
        else CASH


def _payment_type(fields: Mapping, errors: dict[str, str]) -> str | None:
    if fields.get("payment_type") not in (None, ""):
        return rules.code(fields.get("payment_type"), "payment_type", errors, low=1, high=7,
                          meaning=" (01 cash, 02 credit, 03 cash/credit, 04 cheque, 05 card, "
                          "06 mobile money, 07 other)")
    mode = fields.get("payment_mode")
    if mode is None or mode == "":
        return PAYMENT_MODE_TYPES[CASH]
    if isinstance(mode, int | str) and not isinstance(mode, bool) and str(mode).strip() in ("1", "2"):
        return PAYMENT_MODE_TYPES[int(str(mode).strip())]
    errors["payment_mode"] = f"payment_mode must be 1 (cash) or 2 (card), got {mode!r}; or send payment_type"
    return None


def _lines(value: object, config: TaxConfig, errors: dict[str, str]) -> list[dict]:
    if value is None or value == "":
        errors["items"] = "items is required (a list of the invoice's lines)"
        return []
    if not isinstance(value, list):
        errors["items"] = "items must be a list of lines"
        return []
    if not 1 <= len(value) <= MAX_LINES:
        errors["items"] = f"items must have 1 to {MAX_LINES} lines (got {len(value)})"
        return []
    lines = []
    bands = tuple(config.rates)
    for index, raw in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(raw, Mapping):
            errors[where] = (f"{where} must be an object with item_code or item_name, quantity, "
                             "unit_price and tax_type")
            continue
        code = rules.text(raw.get("item_code"), f"{where}.item_code", MAX_NUMBER, errors,
                          required=False, number=True)
        name = rules.text(raw.get("item_name"), f"{where}.item_name", MAX_NAME, errors, required=False)
        if code is None and name is None and f"{where}.item_code" not in errors \
                and f"{where}.item_name" not in errors:
            errors[f"{where}.item_code"] = (f"{where}.item_code is required when there is no "
                                            f"{where}.item_name (a line needs one of them)")
        quantity = rules.number(raw.get("quantity"), f"{where}.quantity", errors, positive=True)
        price = rules.number(raw.get("unit_price"), f"{where}.unit_price", errors)
        tax_type = rules.choice(raw.get("tax_type"), f"{where}.tax_type", bands, errors)
        rate = rules.number(raw.get("discount_rate"), f"{where}.discount_rate", errors, required=False,
                            maximum=Decimal(100))
        discount = rules.number(raw.get("discount_amount"), f"{where}.discount_amount", errors,
                                required=False)
        units = _units(raw, where, errors)
        if quantity is not None and price is not None:
            supply = quantity * price
            if supply >= MAX_AMOUNT:
                errors[f"{where}.unit_price"] = (f"{where}.unit_price: quantity × unit_price is "
                                                 "implausibly large (must be below 1,000,000,000,000)")
            elif discount is not None and discount > cents(supply):
                errors[f"{where}.discount_amount"] = (f"{where}.discount_amount must not be more than "
                                                      f"quantity × unit_price = {plain(cents(supply))}")
        lines.append({"item_code": code, "item_name": name, "quantity": quantity, "unit_price": price,
                      "tax_type": tax_type, "discount_rate": rate or ZERO,
                      "discount_amount": discount or ZERO, **units})
    return lines


# --- credit note -------------------------------------------------------------------------------


def parse_credit_note(fields: object, *, now: datetime,
                      local_tz: tzinfo | None = None) -> KenyaSubmission:
    """Validate a credit note the till posted (POST /api/credit-note). Its lines and amounts are
    resolved later against the original invoice (credit_note_detail / resolve_credit_note); until
    then the money columns are 0 and the detail holds what was asked for."""
    fields, errors = _start(fields)
    ntn, pos_id, key = _who(fields, errors)
    number = rules.text(fields.get("credit_note_no"), "credit_note_no", MAX_NUMBER, errors, number=True)
    original = rules.text(fields.get("original_invoice_no"), "original_invoice_no", MAX_NUMBER, errors,
                          number=True)
    reason = rules.text(fields.get("reason"), "reason", MAX_NAME, errors)
    reason_code = rules.code(fields.get("reason_code"), "reason_code", errors, low=1, high=13,
                             default=DEFAULT_REASON, meaning=" (eTIMS credit-note reasons; 06 = refund)")
    if fields.get("date_time") in (None, ""):
        moment: datetime | None = now.replace(microsecond=0)
    else:
        moment = rules.date_time(fields.get("date_time"), "date_time", errors, local_tz)
    asked = _credit_items(fields.get("items"), errors)
    if errors:
        raise KenyaValidationError(errors)
    assert ntn and pos_id and key and number and original and reason and reason_code and moment
    detail = {
        "kind": "credit_note", "credit_note_no": number, "original_invoice_no": original,
        "reason": reason, "reason_code": reason_code, "date_time": moment.isoformat(" "),
        "full": asked is None, "requested_full": asked is None, "items": asked,
    }
    document = Document(
        kind="credit_note", ntn=ntn, pos_id=pos_id, number=f"cn:{number}", amount=ZERO, tax_rate=ZERO,
        tax_amount=ZERO, total_amount=ZERO, date_time=moment, payment_mode=CASH, detail=detail,
        needs=(original,), warnings=tuple(_future(moment, now)), received=_received(fields))
    if fields.get("date_time") in (None, ""):  # "now": a repeated post must still match
        document = _hash_without(document, "date_time")
    return KenyaSubmission(document=document, key=key)


def _credit_items(value: object, errors: dict[str, str]) -> list[dict] | None:
    if value is None:
        return None  # a full credit note
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LINES:
        errors["items"] = (f"items must be a list of 1 to {MAX_LINES} {{item_code, quantity}}, or be "
                           "left out to credit the whole invoice")
        return None
    asked = []
    for index, raw in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(raw, Mapping):
            errors[where] = f"{where} must be an object with item_code and quantity"
            continue
        code = rules.text(raw.get("item_code"), f"{where}.item_code", MAX_NUMBER, errors, number=True)
        quantity = rules.number(raw.get("quantity"), f"{where}.quantity", errors, required=False,
                                positive=True)
        asked.append({"item_code": code, "quantity": None if quantity is None else text(quantity)})
    return asked


def credited_quantities(details: Iterable[Mapping]) -> dict[str, Decimal]:
    """Item code -> quantity already credited, summed over earlier credit notes' details."""
    credited: dict[str, Decimal] = {}
    for detail in details:
        for line in detail.get("lines") or ():
            code = line.get("item_code")
            if code is not None:
                credited[code] = credited.get(code, ZERO) + Decimal(line["quantity"])
    return credited


def credit_note_detail(request_detail: Mapping, original_detail: Mapping,
                       already_credited: Mapping[str, Decimal], config: TaxConfig) -> dict:
    """The full credit-note detail: the original's lines (all that is left of them, or the items
    and quantities asked for) at the original's prices, bands and rates, with the totals.

    ``already_credited`` (item code -> quantity) is what earlier credit notes took. Raises
    KenyaValidationError naming the field when the request asks for more than is left.
    """
    lines = list(original_detail.get("lines") or ())
    original_no = original_detail.get("invoice_no") or request_detail.get("original_invoice_no")
    inclusive = original_detail.get("prices_include_tax")
    if inclusive is None:
        inclusive = config.prices_include_tax
    left = _left_per_line(lines, already_credited)
    wanted = [ZERO] * len(lines)
    errors: dict[str, str] = {}
    asked = request_detail.get("items")
    if not asked:
        wanted = list(left)
        if not any(wanted):
            errors["original_invoice_no"] = (f"invoice {original_no} has been credited in full already; "
                                             "nothing is left to credit")
    for index, ask in enumerate(asked or ()):
        where, code = f"items[{index}]", ask.get("item_code")
        places = [j for j, line in enumerate(lines) if code is not None and line.get("item_code") == code]
        if not places:
            errors[f"{where}.item_code"] = f"{where}.item_code: invoice {original_no} has no item {code}"
            continue
        available = sum((left[j] - wanted[j] for j in places), ZERO)
        quantity = available if ask.get("quantity") in (None, "") else Decimal(ask["quantity"])
        if available <= 0:
            errors[f"{where}.quantity"] = (f"{where}.quantity: {code} of invoice {original_no} has "
                                           "been credited in full already")
            continue
        if quantity > available:
            errors[f"{where}.quantity"] = (f"{where}.quantity may credit at most {plain(available)} "
                                           f"more of {code}")
            continue
        for j in places:
            take = min(left[j] - wanted[j], quantity)
            wanted[j] += take
            quantity -= take
    if errors:
        raise KenyaValidationError(errors)

    credit_lines = []
    for line, quantity in zip(lines, wanted, strict=True):
        if not quantity:
            continue
        whole = Decimal(line["quantity"])
        discount = Decimal(line.get("discount_amount") or 0)
        credit_lines.append({
            **{name: line.get(name) for name in ("item_code", "item_name", "item_class_code", "pkg_unit",
                                                 "qty_unit", "unit_price", "tax_type")},
            "quantity": quantity, "discount_rate": line.get("discount_rate") or 0,
            "discount_amount": discount if quantity == whole else cents(discount * quantity / whole),
        })
    rates: dict[str, Decimal | None] = dict(config.rates)
    for band, figures in (original_detail.get("bands") or {}).items():
        rates[band] = Decimal(figures["rate"])  # the original's rates, even if settings changed
    computed, bands, totals = compute(
        credit_lines, replace(config, rates=rates), prices_include_tax=inclusive)
    full = not asked and not any(already_credited.get(line.get("item_code"), 0) for line in lines)
    return {
        "kind": "credit_note", "credit_note_no": request_detail.get("credit_note_no"),
        "original_invoice_no": request_detail.get("original_invoice_no"),
        "reason": request_detail.get("reason"), "reason_code": request_detail.get("reason_code"),
        "date_time": request_detail.get("date_time"), "full": full,
        "requested_full": not asked, "items": asked or None,
        **{name: original_detail.get(name) for name in (
            "pin", "customer_pin", "customer_name", "payment_type", "sales_type", "currency",
            "exchange_rate")},
        "prices_include_tax": inclusive, "lines": computed, "bands": bands, "totals": totals,
    }


def exchange_rate_of(detail: Mapping) -> Decimal:
    """KES per unit of a sale's (or credit note's) currency: 1 for KES or when not given."""
    if str(detail.get("currency") or HOME_CURRENCY).upper() == HOME_CURRENCY:
        return Decimal(1)
    try:
        rate = Decimal(str(detail.get("exchange_rate") or 1))
    except ArithmeticError:
        return Decimal(1)
    return rate if rate.is_finite() and rate > 0 else Decimal(1)


def _left_per_line(lines: list, already_credited: Mapping[str, Decimal]) -> list[Decimal]:
    """What is left of each original line after earlier credit notes (taken from the first
    lines of an item on)."""
    used = {code: Decimal(quantity) for code, quantity in already_credited.items()}
    left = []
    for line in lines:
        quantity, code = Decimal(line["quantity"]), line.get("item_code")
        take = min(quantity, max(used.get(code, ZERO), ZERO)) if code is not None else ZERO
        if take:
            used[code] -= take
        left.append(quantity - take)
    return left


def resolve_credit_note(document: Document, original_detail: Mapping,
                        already_credited: Mapping[str, Decimal], config: TaxConfig) -> Document:
    """The credit note with its full detail and its (negative) money columns, in KES at the
    original's exchange rate (its detail keeps the original's currency); same content_hash."""
    detail = credit_note_detail(document.detail, original_detail, already_credited, config)
    amount, tax_rate, tax_amount, total_amount = money_columns(
        detail["totals"], negative=True, exchange_rate=exchange_rate_of(detail))
    return replace(document, detail=detail, amount=amount, tax_rate=tax_rate, tax_amount=tax_amount,
                   total_amount=total_amount,
                   payment_mode=payment_mode(detail.get("payment_type")))


# --- item --------------------------------------------------------------------------------------


def parse_item(fields: object, *, now: datetime, config: TaxConfig) -> KenyaSubmission:
    """Validate an item the till registers (POST /api/item). Without item_code the store
    generates one (kra_item_code) and sets it with assign_item_codes."""
    fields, errors = _start(fields)
    ntn, pos_id, key = _who(fields, errors)
    code = rules.text(fields.get("item_code"), "item_code", MAX_NUMBER, errors, required=False, number=True)
    name = rules.text(fields.get("item_name"), "item_name", MAX_NAME, errors)
    units = _units(fields, "", errors)
    band = rules.first_of(fields, ("tax_type", "tax_type_code"), errors)
    tax_type = None if "tax_type" in errors else rules.choice(band, "tax_type", tuple(config.rates), errors)
    price = rules.number(fields.get("unit_price"), "unit_price", errors)
    country = rules.pattern(fields.get("origin_country"), "origin_country", rules.COUNTRY,
                            "a 2-letter country code like KE", errors, default=DEFAULT_COUNTRY)
    if errors:
        raise KenyaValidationError(errors)
    assert ntn and pos_id and key and name and tax_type and price is not None and country
    detail = _item_detail(code, name, units, tax_type, price, country)
    document = Document(
        kind="item", ntn=ntn, pos_id=pos_id, number=f"item:{code or ''}", amount=ZERO, tax_rate=ZERO,
        tax_amount=ZERO, total_amount=ZERO, date_time=now.replace(microsecond=0), payment_mode=CASH,
        detail=detail, received=_received(fields))
    return KenyaSubmission(document=document, key=key)


def assign_item_codes(document: Document, codes: Mapping[str, str]) -> Document:
    """The document with generated codes (item name -> code) for the items and lines the till
    named without a code: lines, items, needs, and an item's number. Same content_hash."""
    if document.kind == "item":
        detail = document.detail
        if detail.get("item_code") is not None or detail.get("item_name") not in codes:
            return document
        code = codes[detail["item_name"]]
        return replace(document, number=f"item:{code}", detail={**detail, "item_code": code})
    if document.kind != "invoice":
        return document

    def filled(entry: dict) -> dict:
        if entry.get("item_code") is None and entry.get("item_name") in codes:
            return {**entry, "item_code": codes[entry["item_name"]]}
        return entry

    lines = [filled(line) for line in document.detail.get("lines", ())]
    needs = tuple(dict.fromkeys([*document.needs,
                                 *(f"item:{line['item_code']}" for line in lines if line["item_code"])]))
    return replace(document, detail={**document.detail, "lines": lines},
                   items=tuple(filled(item) for item in document.items), needs=needs)


# --- stock -------------------------------------------------------------------------------------


def parse_stock(fields: object, *, now: datetime) -> KenyaSubmission:
    """Validate a stock adjustment (POST /api/stock). The item's name, class, units and band,
    and remaining_quantity, are filled in by the store from what it knows."""
    fields, errors = _start(fields)
    ntn, pos_id, key = _who(fields, errors)
    code = rules.text(fields.get("item_code"), "item_code", MAX_NUMBER, errors, number=True)
    kind = rules.choice(fields.get("adjustment_type"), "adjustment_type", ADJUSTMENT_TYPES, errors)
    quantity = rules.number(fields.get("quantity"), "quantity", errors, positive=True)
    given_date = rules.first_of(fields, ("date", "adjustment_date"), errors)
    when = rules.day(given_date, "date", errors, default=now.date())
    reference = rules.text(fields.get("reference"), "reference", MAX_NUMBER, errors, number=True)
    if "reference" in errors and fields.get("reference") in (None, ""):
        errors["reference"] = ("reference is required (the GRN or delivery-note number; unique per POS, "
                               "it makes a repeated post safe)")
    unit_cost = rules.number(fields.get("unit_cost"), "unit_cost", errors, required=False)
    if errors:
        raise KenyaValidationError(errors)
    assert ntn and pos_id and key and code and kind and quantity and when and reference
    detail = {
        "kind": "stock", "reference": reference, "item_code": code, "item_name": None,
        "item_class_code": None, "pkg_unit": None, "qty_unit": None, "tax_type": None, "tax_rate": None,
        "adjustment_type": kind, "quantity": text(quantity), "date": when.isoformat(),
        "unit_cost": None if unit_cost is None else text(unit_cost), "remaining_quantity": None,
    }
    document = Document(
        kind="stock", ntn=ntn, pos_id=pos_id, number=f"stock:{reference}", amount=ZERO, tax_rate=ZERO,
        tax_amount=ZERO, total_amount=ZERO, date_time=datetime.combine(when, time()), payment_mode=CASH,
        detail=detail, needs=(f"item:{code}",), received=_received(fields))
    if given_date is None:  # today: a repeat must match
        document = _hash_without(document, "date")
    return KenyaSubmission(document=document, key=key)
