"""The local API as an OpenAPI 3.1 document, served at ``GET /api/openapi.json``.

It is built here, in code, from the same constants the handlers and validation use (field
limits, the number limits, the body limit, the live-API aliases, the invoice states, the HTTP
parser's limits), so those cannot drift apart. Being code, it needs no data file: nothing has
to be located when the app is installed or frozen (``python -m app.server.openapi`` prints it,
e.g. for an integrator).

What the constants cannot tie down is kept true by tests:
tests/integration/test_openapi_document.py (every route of the aiohttp app is documented and
vice versa; real requests of every kind answer a documented status with a body that matches the
documented schema) and tests/integration/test_openapi_fuzz.py (schemathesis generates requests
from this document and checks every answer against it, on a live server).

The dashboard's part (its pages, sign-in, and the JSON API under /api/dashboard/) is built in
app/server/openapi_dashboard.py, with the helpers here; build() puts the two together.

When a handler gains a route, a status or a field, change this document in the same change.
"""

import json
from decimal import Decimal
from functools import cache
from typing import Any

from aiohttp import web

from app.domain.money import MAX_AMOUNT, MIN_ADJUSTED
from app.domain.states import State
from app.domain.validation import ALIASES, MAX_ID, MAX_INVOICE_NO, MAX_KEY
from app.server.answers import REASONS
from app.server.invoice_api import DEPS, FORM_TYPES, JSON_TYPES, MAX_BODY
from app.server.security import MAX_FIELD_SIZE, MAX_HEADERS, MAX_LINE_SIZE

OPENAPI_VERSION = "3.1.0"
SCHEMAS = "#/components/schemas/"
RESPONSES = "#/components/responses/"

# Every warning code validation can give (app/domain/validation.py; a test compares them).
WARNING_CODES = ["amount_derived", "tax_mismatch", "total_mismatch", "future_date"]

# Text the seed's fields may hold: no control characters, and not blank.
_TEXT = r"[^\u0000-\u001f\u007f]"
_TEXT_PATTERN = rf"^{_TEXT}*[^\s\u0000-\u001f\u007f]{_TEXT}*$"
# Numbers as text, in their plain forms (the utility also takes signs, exponents and spaces
# around). Below 10^12 (MAX_AMOUNT), and no more than 100 decimal places (money.MIN_ADJUSTED).
_FRACTION = r"(\.[0-9]{1,100})?"
_POSITIVE_TEXT = rf"^([1-9][0-9]{{0,11}}{_FRACTION}|0\.0{{0,99}}[1-9][0-9]{{0,99}})$"
_NOT_NEGATIVE_TEXT = rf"^(0|[1-9][0-9]{{0,11}}){_FRACTION}$"
_PERCENT_TEXT = rf"^(100(\.0{{1,100}})?|[1-9]?[0-9]{_FRACTION})$"
_DATE_TIME_PATTERN = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$"
)
_WIRE_TIME = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
              "examples": ["2026-11-21 12:17:57"]}
# Money the utility hands out: exact decimal text, never a float ("1160.50", "0.30", "-5").
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
_LIMIT = int(MAX_AMOUNT)
_SMALLEST = float(Decimal(1).scaleb(MIN_ADJUSTED))  # 1e-100


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def _text(limit: int, description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": _TEXT_PATTERN,
            "description": f"{description} At most {limit} characters after surrounding spaces "
                           "are trimmed; no control characters. A JSON integer is taken as its "
                           "digits."}


def _number(description: str, *, zero: bool = False, percent: bool = False) -> dict[str, Any]:
    """A number above 0 (or at least 0: ``zero``) and below 10^12 (or at most 100: ``percent``),
    as a JSON number or as text."""
    high = {"maximum": 100} if percent else {"exclusiveMaximum": _LIMIT}
    number: dict[str, Any] = {"type": "number", "minimum": _SMALLEST, **high}
    if zero:
        number = {"anyOf": [{"type": "number", "const": 0}, number]}
    text = _PERCENT_TEXT if percent else _NOT_NEGATIVE_TEXT if zero else _POSITIVE_TEXT
    return {
        "description": f"{description} A JSON number (kept exactly, never rounded through a "
                       "float) or the same number as text, e.g. \"200.50\". NaN, Infinity, "
                       "true/false, numbers of 10^12 or more and numbers other than 0 smaller "
                       "than 10^-100 are refused.",
        "anyOf": [number, {"type": "string", "pattern": text}],
    }


def _invoice_fields() -> dict[str, dict[str, Any]]:
    date_time = {
        "type": "string", "pattern": _DATE_TIME_PATTERN,
        "examples": ["2026-11-21 12:17:57", "2026-11-21T07:17:57.000Z"],
        "description": "When the sale happened, as the receipt shows it: YYYY-MM-DD HH:MM:SS "
                       "(a T instead of the space is accepted, fractions of a second are "
                       "dropped). With a UTC offset or Z (JavaScript's toISOString()) it is "
                       "converted to this PC's local time. More than 5 minutes in the future "
                       "is accepted with the warning `future_date`.",
    }
    tax_amount = _number("The tax on this sale. A tax that is not amount × tax_rate / 100 is "
                         "accepted with the warning `tax_mismatch`.", zero=True)
    return {
        "ntn": _text(MAX_ID, "The business's National Tax Number."),
        "pos_id": _text(MAX_ID, "The POS ID the tax authority issued for this till."),
        "key": _text(MAX_KEY, "This POS's key. Checked against the one configured with "
                              "`rims-utility setup`; never stored or logged."),
        "invoice_no": _text(MAX_INVOICE_NO, "The invoice number, unique per POS."),
        "amount": _number("The amount before tax. Live-API-shaped posts (with `date` or "
                          "`sales_tax`) may leave it out: it is then derived as total_amount − "
                          "tax_amount (which must then be above 0 too), with the warning "
                          "`amount_derived`."),
        "tax_rate": _number("The tax rate in percent, 0 to 100.", zero=True, percent=True),
        "tax_amount": tax_amount,
        ALIASES["tax_amount"]: {**tax_amount, "description": "The live API's name for "
                                "`tax_amount`. Send one of the two (both are accepted if they "
                                "are the same)."},
        "total_amount": _number("The total the customer paid. A total that is not amount + "
                                "tax_amount is accepted with the warning `total_mismatch`."),
        "date_time": date_time,
        ALIASES["date_time"]: {**date_time, "description": "The live API's name for "
                               "`date_time`. Send one of the two (both are accepted if they are "
                               "the same)."},
        "payment_mode": {
            "description": "1 = cash, 2 = card (a number, or the same as text). Left out, or "
                           "anything that is not a number, means 1; another number is refused.",
            "anyOf": [{"type": "integer", "enum": [1, 2]}, {"type": "string", "enum": ["1", "2"]}],
            "default": 1,
        },
    }


def _invoice_schemas(fields: dict[str, dict[str, Any]], title: str,
                     other_fields: dict[str, Any] | bool = True) -> dict[str, Any]:
    """The two ways a POS may name the fields: the seed's utility names, or the live API's."""
    common = ["ntn", "pos_id", "key", "invoice_no", "tax_rate", "total_amount"]
    utility, live = list(ALIASES), list(ALIASES.values())

    def style(title: str, required: list[str], other_names: list[str]) -> dict[str, Any]:
        return {"type": "object", "title": title, "required": [*common, *required],
                "properties": {**fields, **dict.fromkeys(other_names, False)},
                "additionalProperties": other_fields}

    return {
        "description": f"{title} Every invalid field is reported at once (400). Fields not "
                       "listed here are kept with the invoice but otherwise ignored. Use one "
                       "naming style; both names of a field are accepted too, if they agree.",
        "anyOf": [style("utility field names", ["amount", *utility], live),
                  style("live-API field names", live, utility)],
    }


def _form_fields(fields: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The same fields as form values: everything is text."""
    form: dict[str, dict[str, Any]] = {}
    for name, schema in fields.items():
        if "anyOf" in schema:
            text = next(s for s in schema["anyOf"] if s.get("type") == "string")
            form[name] = {"description": schema["description"], **text}
        else:
            form[name] = schema
    return form


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Every error, on every route, has this one shape.",
        "required": ["status", "message", "errors"],
        "additionalProperties": False,
        "properties": {
            "status": {"type": "integer", "minimum": 400, "maximum": 599,
                       "description": "The HTTP status again."},
            "message": {"type": "string", "minLength": 1,
                        "description": "What went wrong and what to do, for a person."},
            "errors": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Field name → what is wrong with it (empty when no one "
                                      "field is to blame)."},
        },
    }


def _invoice_data() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["invoice_no", "pos_id", "date_time", "state", "transaction_id", "qr_url",
                     "warnings"],
        "additionalProperties": False,
        "properties": {
            "invoice_no": {"type": "string"},
            "pos_id": {"type": "string"},
            "date_time": {**_WIRE_TIME, "description": "The sale's date and time as stored "
                                                        "(this PC's local time)."},
            "state": {"type": "string", "enum": [s.value for s in State],
                      "description": "queued → sending → synced; rejected (the tax authority "
                                     "said no: a person must look); held (this POS's "
                                     "credentials need fixing with `rims-utility setup`)."},
            "transaction_id": {"type": ["string", "null"],
                               "description": "The tax authority's transaction id, once synced."},
            "qr_url": {"type": "string", "format": "uri",
                       "description": "What the receipt's QR code holds (GET /api/qr draws it)."},
            "warnings": {"type": "array", "items": _ref("Warning")},
        },
    }


def _status_data() -> dict[str, Any]:
    data = _invoice_data()
    money = _MONEY
    extra = {
        "amount": money, "tax_rate": money, "tax_amount": money, "total_amount": money,
        "payment_mode": {"type": "integer", "enum": [1, 2]},
        "received_at": _WIRE_TIME,
        "synced_at": {"type": ["string", "null"], "pattern": _WIRE_TIME["pattern"]},
        "next_attempt_at": {"type": ["string", "null"], "pattern": _WIRE_TIME["pattern"],
                            "description": "When the next try is due (only while queued)."},
        "last_error": {"type": ["string", "null"]},
        "last_status": {"type": ["integer", "null"],
                        "description": "The HTTP status of the last answer from upstream."},
        "attempts": {"type": "array", "description": "Every send, oldest first (the audit trail).",
                     "items": _ref("Attempt")},
    }
    data["properties"] = {**data["properties"], **extra}
    data["required"] = [*data["required"], *extra]
    return data


def _attempt() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "description": "One entry of an invoice's audit trail.",
        "required": ["at", "http_status", "outcome", "message", "duration_ms"],
        "properties": {
            "at": _WIRE_TIME,
            "http_status": {"type": ["integer", "null"],
                            "description": "The upstream's HTTP status; null when there was no "
                                           "answer (or no send: a retry asked for, an "
                                           "interrupted send)."},
            "outcome": {"type": "string", "description": "What came of it: accepted, "
                        "already_recorded, rejected, auth_failed, retry_later, ambiguous; or "
                        "interrupted (the utility stopped while sending) or retry_requested "
                        "(Retry on the dashboard)."},
            "message": {"type": "string"},
            "duration_ms": {"type": "integer", "minimum": 0},
        },
    }


def _counts() -> dict[str, Any]:
    return {"type": "object", "description": "Invoices per state.",
            "required": [s.value for s in State], "additionalProperties": False,
            "properties": {s.value: {"type": "integer", "minimum": 0} for s in State}}


def _held_pos() -> dict[str, Any]:
    return {"type": "array", "description": "POSes whose sending is held until their key is "
                                            "fixed (`rims-utility setup`).",
            "items": {
                "type": "object", "additionalProperties": False,
                "required": ["pos_id", "reason", "since"],
                "properties": {"pos_id": {"type": "string"}, "reason": {"type": "string"},
                               "since": {"type": ["string", "null"],
                                         "pattern": _WIRE_TIME["pattern"]}}}}


def _upstream() -> dict[str, Any]:
    return {
        "type": "object", "additionalProperties": False,
        "required": ["name", "url", "reachable", "last_error", "next_try_in_s",
                     "sending_paused", "in_flight"],
        "properties": {
            "name": {"type": "string"},
            "url": {"type": "string"},
            "reachable": {"type": ["boolean", "null"],
                          "description": "null until the first contact."},
            "last_error": {"type": ["string", "null"]},
            "next_try_in_s": {"type": "number", "minimum": 0},
            "sending_paused": {"type": "boolean"},
            "in_flight": {"type": "integer", "minimum": 0},
        },
    }


def _health_data() -> dict[str, Any]:
    seconds = {"type": ["number", "null"], "minimum": 0}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "practice", "counts", "oldest_pending_age_s",
                     "last_successful_sync", "last_successful_sync_age_s", "held_pos", "upstream"],
        "properties": {
            "version": {"type": "string"},
            "practice": {"type": "boolean", "description": "Practice mode: nothing reaches KPRA."},
            "counts": _counts(),
            "oldest_pending_age_s": seconds,
            "last_successful_sync": {"type": ["string", "null"], "pattern": _WIRE_TIME["pattern"]},
            "last_successful_sync_age_s": seconds,
            "held_pos": _held_pos(),
            "upstream": _upstream(),
        },
    }


# ---------------------------------------------------------------- Kenya mode (docs/KENYA.md)

_KENYA_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "minLength": 1}],
                 "description": "A JSON number or the same number as text (kept exactly)."}
_KENYA_TEXT = {"type": "string", "minLength": 1}
_KENYA_WHO = {
    "ntn": {**_KENYA_TEXT, "description": "The shop's KRA PIN (also accepted as `pin` or "
                                          "`kra_pin`)."},
    "pos_id": {**_KENYA_TEXT, "description": "This till's POS ID, as set up in the utility."},
    "key": {**_KENYA_TEXT, "description": "The integration token (KRA Agent) or the API key "
                                          "(ProTax) this till is set up with; never stored."},
}
_KENYA_UNITS = {
    "item_class_code": {"type": "string", "description": "The KRA item class (8 to 10 digits)."},
    "pkg_unit": {"type": "string", "description": "Packaging unit code, e.g. NT (default)."},
    "qty_unit": {"type": "string", "description": "Quantity unit code, e.g. U (default)."},
    "item_type": {"type": "string", "enum": ["1", "2", "3"],
                  "description": "1 raw material (default), 2 finished product, 3 service."},
}


def _kenya_request(title: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "title": title, "required": ["ntn", "pos_id", "key", *required],
            "properties": {**_KENYA_WHO, **properties}, "additionalProperties": True,
            "description": f"{title} (Kenya mode: upstream kra-agent or protax). Every invalid "
                           "field is reported at once (400), nested ones as `items[0].quantity`. "
                           "Document numbers and codes may not contain `:`."}


def _kenya_requests() -> dict[str, dict[str, Any]]:
    line = {"type": "object", "required": ["quantity", "unit_price", "tax_type"],
            "description": "One line: item_code or item_name (an unknown item is registered "
                           "first; named only, it gets a KRA-style code).",
            "properties": {"item_code": {"type": "string"}, "item_name": {"type": "string"},
                           "quantity": _KENYA_NUMBER, "unit_price": _KENYA_NUMBER,
                           "tax_type": {"type": "string", "description": "The tax band letter "
                                        "(A-E, per upstream)."},
                           "discount_rate": _KENYA_NUMBER, "discount_amount": _KENYA_NUMBER,
                           **_KENYA_UNITS}}
    return {
        "KenyaInvoice": _kenya_request("One sale", ["invoice_no", "date_time", "items"], {
            "invoice_no": {**_KENYA_TEXT, "description": "Unique per POS."},
            "date_time": {"type": "string", "examples": ["2026-04-12 09:30:00"]},
            "items": {"type": "array", "minItems": 1, "items": line},
            "customer_pin": {"type": "string"}, "customer_name": {"type": "string"},
            "payment_type": {"type": "string", "description": "eTIMS code 01-07 (01 cash); or "
                             "KPRA's payment_mode 1 / 2."},
            "prices_include_tax": {"type": "boolean", "description": "Overrides the setting "
                                   "for this sale."},
            "currency": {"type": "string"}, "exchange_rate": _KENYA_NUMBER}),
        "CreditNote": _kenya_request("One credit note", ["credit_note_no", "original_invoice_no",
                                                         "reason"], {
            "credit_note_no": {**_KENYA_TEXT, "description": "Unique per POS."},
            "original_invoice_no": {**_KENYA_TEXT, "description": "A sale this utility received "
                                    "from this POS (else 422)."},
            "reason": _KENYA_TEXT,
            "reason_code": {"type": "string", "description": "eTIMS refund reason 01-13 "
                            "(default 06)."},
            "date_time": {"type": "string"},
            "items": {"type": "array", "minItems": 1, "description": "Left out: the whole "
                      "invoice (what is left of it). Else the items and quantities to credit "
                      "(a quantity left out: all that is left of that item).",
                      "items": {"type": "object", "required": ["item_code"],
                                "properties": {"item_code": {"type": "string"},
                                               "quantity": _KENYA_NUMBER}}}}),
        "KenyaItem": _kenya_request("One item to register", ["item_name", "tax_type",
                                                             "unit_price"], {
            "item_code": {"type": "string", "description": "Left out: a KRA-style code is "
                          "generated (KE{type}{pkg}{qty}{seq})."},
            "item_name": _KENYA_TEXT, "tax_type": _KENYA_TEXT, "unit_price": _KENYA_NUMBER,
            "origin_country": {"type": "string"}, **_KENYA_UNITS}),
        "StockMovement": _kenya_request("One stock movement", ["reference", "item_code",
                                                               "adjustment_type", "quantity"], {
            "reference": {**_KENYA_TEXT, "description": "The GRN or delivery-note number; "
                          "unique per POS (it makes a repeated post safe)."},
            "item_code": {**_KENYA_TEXT, "description": "A registered item (else 422)."},
            "adjustment_type": {"type": "string", "enum": ["IN", "OUT", "DAMAGE", "RETURN"]},
            "quantity": _KENYA_NUMBER, "date": {"type": "string", "examples": ["2026-04-12"]},
            "unit_cost": _KENYA_NUMBER}),
    }


def _kenya_data() -> dict[str, Any]:
    nullable = {"type": ["string", "null"]}
    return {
        "type": "object", "additionalProperties": False,
        "description": "A Kenya document as stored (docs/KENYA.md). Money is exact decimal "
                       "text; a credit note's is negative.",
        "required": ["kind", "number", "invoice_no", "pos_id", "date_time", "state",
                     "transaction_id", "upstream_ref", "receipt_url", "warnings"],
        "properties": {
            "kind": {"type": "string", "enum": ["invoice", "credit_note", "item", "stock"]},
            "number": {"type": "string", "description": "The document's own number (invoice, "
                       "credit note, item code, stock reference)."},
            "invoice_no": {"type": "string", "description": "The row's number, prefixed by kind "
                           "(`cn:`, `item:`, `stock:`; none for a sale): GET "
                           "/api/invoices/{pos_id}/{this} shows it."},
            "pos_id": {"type": "string"},
            "date_time": _WIRE_TIME,
            "state": {"type": "string", "enum": [s.value for s in State]},
            "transaction_id": nullable,
            "upstream_ref": {**nullable, "description": "The upstream's own id, once it has one."},
            "receipt_url": {**nullable, "description": "The upstream's receipt link (the QR "
                            "code to print), once synced."},
            "warnings": {"type": "array", "items": {
                "type": "object", "required": ["code", "field", "message"],
                "properties": {"code": {"type": "string"}, "field": {"type": "string"},
                               "message": {"type": "string"}}}},
            "amount": _MONEY, "tax_rate": _MONEY, "tax_amount": _MONEY, "total_amount": _MONEY,
            "totals": {"type": ["object", "null"], "description": "taxable, tax, net, gross."},
            "bands": {"type": ["object", "null"], "description": "Per band letter: rate, "
                      "taxable, tax."},
            "item_codes": {"type": "array", "items": {"type": ["string", "null"]},
                           "description": "Each line's item code (generated ones included)."},
            "original_invoice_no": nullable,
            "item_code": nullable,
            "remaining_quantity": {**nullable, "description": "A stock movement: the item's "
                                   "stock after it."},
            "detail": {"type": ["object", "null"], "description": "The whole normalized "
                       "document (docs/KENYA.md, \"detail\")."},
        },
    }


def _kenya_status() -> dict[str, Any]:
    data = _kenya_data()
    plain_status = _status_data()
    extra = {name: plain_status["properties"][name] for name in (
        "amount", "tax_rate", "tax_amount", "total_amount", "payment_mode", "received_at",
        "synced_at", "next_attempt_at", "last_error", "last_status", "attempts")}
    data["properties"] = {**data["properties"], **extra}
    data["required"] = [*data["required"], *extra, "detail"]
    return data


def _kenya_path(operation_id: str, summary: str, schema: str,
                description: str) -> dict[str, Any]:
    replayed = {"Idempotent-Replayed": {
        "description": "`true` when this exact document was already stored.",
        "schema": {"type": "string", "enum": ["true"]}}}
    form = {"type": "object", "additionalProperties": {"type": "string"},
            "description": "The same fields as form values (each once, as text)."}
    return {"post": {
        "operationId": operation_id,
        "summary": summary,
        "description": (f"{description} Kenya mode only (upstream kra-agent or protax): in "
                        "KPRA mode it answers 404. Stored durably and answered 201, then sent "
                        "in the background in dependency order; an identical re-post is "
                        "answered 201 again (Idempotent-Replayed: true), the same number with "
                        "other content 409."),
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref(schema)},
            "application/x-www-form-urlencoded": {"schema": form},
            "multipart/form-data": {"schema": form},
        }},
        "responses": _responses(
            "BadRequest", "Unauthorized", "NotFound", "BodyTimeout", "Conflict", "TooLarge",
            "UnsupportedType", "Unprocessable", "TooManyFailures", "StorageUnavailable",
            *_ALWAYS, s201=_json(_ref("KenyaAnswer"), "Saved (or already saved: see the "
                                                      "Idempotent-Replayed header).", replayed)),
    }}


def _kenya_paths() -> dict[str, Any]:
    return {
        "/api/credit-note": _kenya_path(
            "postCreditNote", "Send one credit note (Kenya mode)", "CreditNote",
            "Credits all of a sale this utility received, or some of its items and "
            "quantities (never more than is left after earlier credit notes), at the "
            "original's prices and bands. Sent only after the original is synced. Its status: "
            "GET /api/invoices/{pos_id}/cn:{credit_note_no}."),
        "/api/item": _kenya_path(
            "postItem", "Register one item (Kenya mode)", "KenyaItem",
            "Registers an item with the upstream (a sale's unknown item is registered "
            "automatically too). Its status: GET /api/invoices/{pos_id}/item:{item_code}."),
        "/api/stock": _kenya_path(
            "postStock", "Send one stock movement (Kenya mode)", "StockMovement",
            "IN and RETURN add to the item's remaining quantity, OUT and DAMAGE take from it; "
            "the answer shows what remains. Its status: GET "
            "/api/invoices/{pos_id}/stock:{reference}."),
    }


def _success(data: dict[str, Any], status: int, message: dict[str, Any] | None = None,
             description: str = "") -> dict[str, Any]:
    return {
        "type": "object",
        "description": description or "Every success has this one shape.",
        "required": ["status", "message", "data"],
        "additionalProperties": False,
        "properties": {"status": {"const": status},
                       "message": message or {"type": "string", "minLength": 1},
                       "data": data},
    }


def _error(status: int, description: str, *, named_fields: bool = False,
           headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented error answer: the one shape, with this status."""
    only = {"status": {"const": status}}
    if named_fields:
        only["errors"] = {"minProperties": 1}
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"allOf": [_ref("Error"),
                                                              {"properties": only}]}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _json(schema: dict[str, Any], description: str,
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description,
                              "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _responses(*names: str, **own: dict[str, Any]) -> dict[str, Any]:
    """An operation's answers: its own, then the shared ones by status."""
    shared = {name: {"$ref": RESPONSES + name} for name in names}
    codes = {code.removeprefix("s"): answer for code, answer in own.items()}
    every = {**codes, **{_STATUS_OF[n]: r for n, r in shared.items()}}
    return dict(sorted(every.items()))


_STATUS_OF = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404",
              "MethodNotAllowed": "405", "BodyTimeout": "408", "Conflict": "409",
              "TooLarge": "413", "UnsupportedType": "415", "MisdirectedRequest": "421",
              "TooManyFailures": "429", "InternalError": "500", "StorageUnavailable": "503",
              "Unprocessable": "422"}
# Any route: a client or Host name that is not allowed (security.py), another method, a bug.
_ALWAYS = ("Forbidden", "MisdirectedRequest", "MethodNotAllowed", "InternalError")


def _shared_responses() -> dict[str, Any]:
    header = {"schema": {"type": "string"}}
    return {
        "BadRequest": _error(400, "Something in the request is invalid; `errors` names every "
                                  "field that is, and the rule it breaks (also: malformed JSON, "
                                  "`body`).", named_fields=True),
        "Unauthorized": _error(401, "This NTN / POS ID / key is not configured in the utility: "
                                    "check the key, or run `rims-utility setup` for this POS."),
        "NotFound": _error(404, "No such invoice (or no such route)."),
        "MethodNotAllowed": _error(
            405, "Another method was used on this path; the Allow header names the right one(s).",
            headers={"Allow": {**header, "description": "e.g. POST"}}),
        "Conflict": _error(409, "The same pos_id + invoice_no was already received with "
                                "different content. The first copy is kept unchanged.",
                           named_fields=True),
        "TooLarge": _error(413, f"The body is over {MAX_BODY // 1024} KiB."),
        "UnsupportedType": _error(415, "Another Content-Type: send " + ", ".join(
            [*JSON_TYPES, *FORM_TYPES]) + ".", named_fields=True),
        "Forbidden": _error(
            403, "Refused (app/server/security.py): this client address is not in "
                 "allowed_clients (LAN mode), or a web page from another site tried to send a "
                 "state-changing request through a browser (Origin, Sec-Fetch-Site).",
            named_fields=True),
        "BodyTimeout": _error(408, "The request body did not arrive in time (body_timeout); "
                                   "nothing was saved, the connection is closed. Send it again.",
                              named_fields=True),
        "MisdirectedRequest": _error(
            421, "The Host header is not a name of this utility (protection against DNS "
                 "rebinding): use http://127.0.0.1:PORT or http://localhost:PORT.",
            named_fields=True),
        "TooManyFailures": _error(
            429, "Too many requests with a wrong NTN / POS ID / key came from this computer; "
                 "its state-changing requests are refused for a while (app/server/throttle.py).",
            named_fields=True,
            headers={"Retry-After": {**header, "description": "Seconds to wait."}}),
        "InternalError": _error(500, REASONS[500] + " (A bug in the utility; never expected.)"),
        "Unprocessable": _error(
            422, "Kenya mode: the document is valid but cannot be stored as it stands; `errors` "
                 "names the field (a credit note's original_invoice_no that this utility never "
                 "received, or items and quantities beyond what is left to credit; a stock "
                 "movement's item_code that is not registered).", named_fields=True),
        "StorageUnavailable": _error(
            503, "The disk did not take the invoice: nothing was saved. Send it again.",
            headers={"Retry-After": {**header, "description": "Seconds to wait."}}),
    }


def build(version: str) -> dict[str, Any]:
    """The whole document (a fresh dict each call)."""
    from app.server import openapi_dashboard as dashboard  # (it builds on the helpers above)

    fields = _invoice_fields()
    form = _form_fields(fields)
    replayed = {"Idempotent-Replayed": {
        "description": "`true` when this exact invoice was already stored (the answer then "
                       "shows its current state); absent for a new invoice.",
        "schema": {"type": "string", "enum": ["true"]}}}
    text = {"type": "string", "minLength": 1}
    pos_id = {"type": "string", "minLength": 1, "maxLength": MAX_ID}  # as stored: longer is 404
    invoice_no = {"type": "string", "minLength": 1, "maxLength": MAX_INVOICE_NO}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "RIMS Utility local API",
            "version": version,
            "description": (
                "The point-of-sale API of RIMS Utility, on this PC. A POS posts each sale to "
                "POST /api/invoice; the utility answers once the invoice is safely on disk and "
                "forwards it to the tax authority in the background, retrying as long as it "
                "takes. Every JSON answer has one shape: `{status, message, data}` on success "
                "and `{status, message, errors: {field: what is wrong}}` on any error. "
                "The shop's dashboard reads its data from /api/dashboard/, which "
                "needs a session (POST /api/session) and, on every POST, the session's CSRF "
                "token; there money is exact decimal text (\"1160.50\", never a float) and "
                "times are this PC's local time, YYYY-MM-DD HH:MM:SS. Every GET "
                "route also answers HEAD. (What the HTTP parser itself refuses before any route "
                f"sees it, a request line over {MAX_LINE_SIZE} bytes, a header line over "
                f"{MAX_FIELD_SIZE} bytes, more than {MAX_HEADERS} headers, or bytes that are "
                "not HTTP, is answered 400 in plain text.)"),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "http://127.0.0.1:3000",
                     "description": "This PC, on the default port (`serve --port` changes it)."}],
        "paths": {
            "/api/invoice": {"post": {
                "operationId": "postInvoice",
                "summary": "Send one sale",
                "description": (
                    "Stores the invoice durably, then answers 201; it is sent to the tax "
                    "authority in the background. An identical re-post is answered 201 again "
                    "(with `Idempotent-Replayed: true`) and never queued twice. Numbers are "
                    "compared by value: 200, 200.00 and \"200\" are the same amount. Odd but "
                    "acceptable things come back in `data.warnings`, never as a refusal. "
                    "In Kenya mode (upstream kra-agent or protax) the body is a "
                    "`KenyaInvoice` (a sale with its lines; the utility computes the tax "
                    "bands and totals) and the answer's data a `KenyaData`."),
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("Invoice")},
                    "application/x-www-form-urlencoded": {"schema": _ref("InvoiceForm")},
                    "multipart/form-data": {"schema": _ref("InvoiceForm")},
                }},
                "responses": _responses(
                    "BadRequest", "Unauthorized", "BodyTimeout", "Conflict", "TooLarge",
                    "UnsupportedType", "TooManyFailures", "StorageUnavailable", *_ALWAYS,
                    s201=_json({"anyOf": [_ref("InvoiceAnswer"), _ref("KenyaAnswer")]},
                               "Saved (or already saved: see the Idempotent-Replayed header).",
                               replayed)),
            }},
            **_kenya_paths(),
            "/api/invoices/{pos_id}/{invoice_no}": {"get": {
                "operationId": "getInvoice",
                "summary": "One invoice: state, transaction id, amounts, every attempt",
                "description": "In Kenya mode also a credit note, an item or a stock movement, "
                               "by its row's number: `cn:CN-1`, `item:KE1NTXU0000013`, "
                               "`stock:GRN-7` (the answer's data is then a `KenyaStatus`).",
                "parameters": [
                    {"name": "pos_id", "in": "path", "required": True, "schema": pos_id},
                    {"name": "invoice_no", "in": "path", "required": True,
                     "description": "May itself contain `/`.", "schema": invoice_no},
                ],
                "responses": _responses("NotFound", *_ALWAYS, s200=_json(
                    {"anyOf": [_ref("InvoiceStatusAnswer"), _ref("KenyaStatusAnswer")]},
                    "The invoice as stored now.")),
            }},
            "/api/health": {"get": {
                "operationId": "getHealth",
                "summary": "Is everything well: counts per state, oldest pending, last sync, "
                           "upstream, held POSes",
                "responses": _responses(*_ALWAYS, s200=_json(
                    _ref("HealthAnswer"), "`ok`, or `needs attention` when a POS is held or the upstream is "
                    "unreachable.")),
            }},
            "/api/qr": {"get": {
                "operationId": "getQr",
                "summary": "The receipt QR code of a received invoice",
                "parameters": [
                    {"name": "pos_id", "in": "query", "required": True, "schema": pos_id},
                    {"name": "invoice_no", "in": "query", "required": True, "schema": invoice_no},
                    {"name": "format", "in": "query", "required": False,
                     "description": "png (the default) or svg; any letter case.",
                     "schema": {"type": "string", "enum": ["png", "svg"], "default": "png"}},
                ],
                "responses": _responses("BadRequest", "NotFound", *_ALWAYS, s409=_error(
                    409, "Kenya: KRA eTIMS has not signed the invoice yet, so there is no "
                    "receipt link to draw (`Retry-After` says when to ask again)."), s200={
                    "description": "The QR code, holding the invoice's `qr_url` (Kenya: the "
                                   "authority's receipt link, `receipt_url`).",
                    "content": {
                        "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                        "image/svg+xml": {"schema": {"type": "string"}},
                    }}),
            }},
            "/": {"get": {
                "operationId": "getHome",
                "summary": "One line saying the service runs",
                "responses": _responses(*_ALWAYS, s200={
                    "description": "e.g. `RIMS Utility 0.1.0 is running: POS invoices go to "
                                   "POST /api/invoice and on to KPRA.`",
                    "content": {"text/plain": {"schema": text}}}),
            }},
            "/api/openapi.json": {"get": {
                "operationId": "getOpenapi",
                "summary": "This document",
                "responses": _responses(*_ALWAYS, s200=_json(
                    {"type": "object", "required": ["openapi", "info", "paths"]},
                    "The OpenAPI 3.1 document of this API.")),
            }},
            **dashboard.paths(),
        },
        "components": {
            "securitySchemes": dashboard.security_schemes(),
            "schemas": {
                "Invoice": _invoice_schemas(fields, "One sale, as JSON."),
                "InvoiceAnswer": _success(_ref("InvoiceData"), 201),
                "InvoiceStatusAnswer": _success(_ref("InvoiceStatus"), 200),
                "HealthAnswer": _success(_ref("Health"), 200, {"type": "string", "enum": [
                    "ok", "needs attention"]}),
                "InvoiceForm": _invoice_schemas(form, "One sale, as form fields (each once, as "
                                                      "text; no files).", {"type": "string"}),
                "InvoiceData": _invoice_data(),
                **_kenya_requests(),
                "KenyaAnswer": _success(_ref("KenyaData"), 201),
                "KenyaStatusAnswer": _success(_ref("KenyaStatus"), 200),
                "KenyaData": _kenya_data(),
                "KenyaStatus": _kenya_status(),
                "InvoiceStatus": _status_data(),
                "Health": _health_data(),
                "Attempt": _attempt(),
                "Warning": {
                    "type": "object", "additionalProperties": False,
                    "description": "Something odd the shopkeeper should see; never a reason to "
                                   "refuse a sale.",
                    "required": ["code", "field", "message"],
                    "properties": {"code": {"type": "string", "enum": WARNING_CODES},
                                   "field": {"type": "string"},
                                   "message": {"type": "string"}},
                },
                "Error": _error_schema(),
                **dashboard.schemas(),
            },
            "responses": {**_shared_responses(), **dashboard.responses()},
        },
    }


@cache
def _encoded(version: str) -> bytes:
    return json.dumps(build(version), ensure_ascii=False, indent=1).encode()


async def openapi_document(request: web.Request) -> web.Response:
    """GET /api/openapi.json"""
    return web.Response(body=_encoded(request.app[DEPS].version), content_type="application/json")


if __name__ == "__main__":
    from app import __version__
    from app.server import openapi  # this module by its own name (openapi_dashboard imports it)

    print(openapi._encoded(__version__).decode())
