"""The dashboard's part of the OpenAPI document: its pages, sign-in and the session
(session_api.py), and the JSON API under /api/dashboard/ (dashboard_api.py, invoices_api.py,
reports_api.py, exports_api.py, with the query rules of dashboard_query.py). app/server/openapi.py
builds the whole document with paths(), schemas(), responses() and security_schemes() from here;
the helpers (_success, _json, _responses, …) are its own.

As there, the limits come from the handlers' constants (page size, states and state groups,
payment modes, periods, chart measures and length, export formats and media types, the retry
states), so the two cannot drift apart; tests/integration/test_openapi_document.py sends real
requests to every operation (signed in and not) and checks each answer against this, and
tests/integration/test_openapi_fuzz.py fuzzes them with a live session and without one.

What every /api/dashboard/ route shares (session_api.session_guard): no live session cookie is
401 before the route runs (whatever the method); a state-changing request without the session's
CSRF token is 403; every answer carries Cache-Control: no-store.
"""

from typing import Any

from app.domain.states import State
from app.domain.validation import MAX_ID, MAX_INVOICE_NO, MAX_KEY
from app.server import dashboard_kenya
from app.server.dashboard_api import CHART_DAYS
from app.server.dashboard_api import RETRYABLE as RETRY_ALL_STATES
from app.server.dashboard_query import DEFAULT_LIMIT, KINDS, MAX_LIMIT, PAYMENT_MODES
from app.server.exports import CSV_TYPE, XLSX_TYPE
from app.server.exports_api import FORMATS
from app.server.invoices_api import RETRYABLE as RETRY_ONE_STATES
from app.server.openapi import (
    _ALWAYS,
    _MONEY,
    _STATUS_OF,
    _WIRE_TIME,
    _error,
    _held_pos,
    _json,
    _ref,
    _responses,
    _success,
    _upstream,
)
from app.server.pages import ASSETS
from app.server.reports_api import MEASURES, PERIOD_NAMES
from app.server.session_api import COOKIE, CSRF_HEADER
from app.store.listing import STATE_GROUPS

_STATUS_OF.update({"NotSignedIn": "401", "SignInRefused": "401", "DashboardForbidden": "403",
                   "NotJson": "415", "TooManySignIns": "429", "PageMissing": "404",
                   "ControlUnavailable": "503", "NoSuchInvoice": "404", "NotRetryable": "409",
                   "NoSuchExport": "404", "NoLookupHere": "404", "LookupFailed": "502",
                   "NoReceiptQr": "404"})
# Dashboard routes: 403 also covers a missing or wrong CSRF token (DashboardForbidden).
_DASHBOARD_ALWAYS = ("MisdirectedRequest", "MethodNotAllowed", "InternalError")
# What every /api/dashboard/ operation may answer besides its own: the session guard's 401 and
# 403 (no session; no CSRF token, or refused by security.py), then 421, 405, 500.
_GUARDED = ("NotSignedIn", "DashboardForbidden", *_DASHBOARD_ALWAYS)
_NO_STORE = {"Cache-Control": {"description": "`no-store`: the session's and the dashboard's "
                                              "answers are never cached.",
                               "schema": {"type": "string"}}}
_PAGE_HEADERS = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("Content-Security-Policy", "default-src 'self', no inline script, frame-ancestors "
                                    "'none'."),
        ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-store"))}
SIGNED_IN = [{"session": []}]
ACTING = [{"session": [], "csrf": []}]

EXPORT_NAMES = ("invoices", "sales", "reconciliation", "tax-bands")  # exports_api.export's
MAX_CURSOR = 200  # dashboard_query.decode_cursor refuses longer ones
_DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DATE = {"type": "string", "pattern": _DATE_PATTERN, "examples": ["2026-11-21"]}
_MAYBE_WIRE_TIME = {"type": ["string", "null"], "pattern": _WIRE_TIME["pattern"]}
_COUNT = {"type": "integer", "minimum": 0}
_AGE = {"type": ["number", "null"], "minimum": 0}
_STATES = [s.value for s in State]
_STATE = {"type": "string", "enum": _STATES,
          "description": "queued → sending → synced; rejected (the tax authority said no: a "
                         "person must look); held (this POS's credentials need fixing)."}
_KENYA_PAYMENT_MODES = dashboard_kenya.KENYA_PAYMENT_MODES
_PAYMENT_MODES_TEXT = ("KPRA: " + ", ".join(f"{m} = {n}" for m, n in PAYMENT_MODES.items()) +
                       ". Kenya (the eTIMS payment type's number): " +
                       ", ".join(f"{m} = {n}" for m, n in _KENYA_PAYMENT_MODES.items()) + ".")
_PAYMENT_MODE = {"type": "integer", "enum": sorted({*PAYMENT_MODES, *_KENYA_PAYMENT_MODES}),
                 "description": _PAYMENT_MODES_TEXT}
_PAYMENT_MODE_NAME = {"type": "string", "enum": list(dict.fromkeys(
    [*PAYMENT_MODES.values(), *_KENYA_PAYMENT_MODES.values()]))}
_KIND = {"type": "string", "enum": list(KINDS),
         "description": "What the row is (docs/KENYA.md): " + ", ".join(
             f"`{k}` {n.lower()}" for k, n in KINDS.items()) + ". KPRA rows are all invoice."}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_BAND = {"type": "string", "enum": list(dashboard_kenya.BANDS)}


def _money(description: str) -> dict[str, Any]:
    return {**_MONEY, "description": f"{description} Exact decimal text, never a float."}


def _closed(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An object with exactly these fields, every one always present."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "required": list(properties), "properties": properties}
    if description:
        schema["description"] = description
    return schema


def _totals_fields() -> dict[str, Any]:
    return {"count": {**_COUNT, "description": "How many invoices."},
            "amount": _money("Their amounts before tax, summed."),
            "tax": _money("Their tax, summed."),
            "total": _money("Their totals, summed.")}


def _totals_with(description: str = "", **keys: Any) -> dict[str, Any]:
    """What a row of a report is: its keys, then the totals (dashboard_api.totals_data)."""
    return _closed({**keys, **_totals_fields()}, description)


# ---------------------------------------------------------------- schemas

def _session_schemas() -> dict[str, Any]:
    not_blank = r"\S"
    session = {
        "type": "object", "additionalProperties": False,
        "required": ["pos_id", "expires_at", "expires_in_s", "csrf_token"],
        "properties": {
            "pos_id": {"type": "string", "description": "The POS signed in."},
            "expires_at": {**_WIRE_TIME, "description": "When the session ends (this PC's "
                                                        "local time); sign in again then."},
            "expires_in_s": {"type": "integer", "minimum": 0},
            "csrf_token": {"type": "string", "minLength": 1, "description": "Send it as the "
                           f"{CSRF_HEADER} header with every state-changing dashboard request."},
        },
    }
    sending = {
        "type": "object", "additionalProperties": False,
        "required": ["paused", "reachable", "last_error", "next_try_in_s", "in_flight"],
        "properties": {
            "paused": {"type": "boolean"},
            "reachable": {"type": ["boolean", "null"], "description": "null until the first "
                                                                      "contact."},
            "last_error": {"type": ["string", "null"]},
            "next_try_in_s": {"type": "number", "minimum": 0},
            "in_flight": {"type": "integer", "minimum": 0},
        },
    }
    return {
        "SignIn": {
            "type": "object", "required": ["pos_id", "key"],
            "description": "The POS ID and key configured with `rims-utility setup` (or the "
                           "setup window). Other fields are ignored.",
            "properties": {
                "pos_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID,
                           "pattern": not_blank},
                "key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY,
                        "pattern": not_blank, "description": "Never stored or logged."},
            },
        },
        "SessionAnswer": _success(_ref("Session"), 200),
        "SignedOutAnswer": _success({"type": "object", "maxProperties": 0}, 200),
        "Session": session,
        "SendingChange": {
            "type": "object", "required": ["paused"],
            "properties": {"paused": {"type": "boolean", "description": "true pauses sending "
                                      "to the tax authority (invoices are still received and "
                                      "kept); false resumes it."}},
        },
        "SendingAnswer": _success(_ref("Sending"), 200),
        "Sending": sending,
    }


def _overview() -> dict[str, Any]:
    return _closed({
        "today": {**_DATE, "description": "Today on this PC."},
        "sales_today": {**_ref("Totals"), "description": "Invoices dated today."},
        "counts": {"type": "object", "description": "Invoices per state (all dates).",
                   "required": _STATES, "additionalProperties": False,
                   "properties": {s: _COUNT for s in _STATES}},
        "pending": {**_COUNT, "description": "Not yet sent: queued + sending + held."},
        "oldest_pending_at": {**_MAYBE_WIRE_TIME, "description": "When the oldest pending "
                                                               "invoice was received."},
        "oldest_pending_age_s": _AGE,
        "last_successful_sync": _MAYBE_WIRE_TIME,
        "last_successful_sync_age_s": _AGE,
        "upstream": _upstream(),
        "practice": {"type": "boolean", "description": "Practice mode: nothing reaches KPRA."},
        "authority": _ref("Authority"),
        "held_pos": _held_pos(),
        "problems": {"type": "array", "description": "Why invoices are rejected or held, most "
                                                     "common first (at most 10).",
                     "items": _closed({
                         "state": {"type": "string", "enum": list(RETRY_ALL_STATES)},
                         "reason": {"type": "string", "description": "The last error (empty "
                                                                     "when there was none)."},
                         "count": {"type": "integer", "minimum": 1}})},
        "daily": {"type": "array", "minItems": CHART_DAYS, "maxItems": CHART_DAYS,
                  "description": f"The last {CHART_DAYS} days, oldest first, ending today; "
                                 "days without sales too (zeros).",
                  "items": _totals_with(day=_DATE)},
        "hourly": {"type": "array", "minItems": 24, "maxItems": 24,
                   "description": "Today, hour by hour (0–23).",
                   "items": _totals_with(hour={"type": "integer", "minimum": 0, "maximum": 23})},
    }, "What the dashboard's first page shows.")


def _invoice_row() -> dict[str, Any]:
    return {
        "id": {"type": "integer", "minimum": 1, "description": "This utility's id of the "
               "invoice: GET /api/dashboard/invoices/{invoice_id}."},
        "pos_id": {"type": "string"},
        "invoice_no": {"type": "string"},
        "date_time": {**_WIRE_TIME, "description": "The sale's date and time as stored (this "
                                                    "PC's local time): what the date filters "
                                                    "and the order use."},
        "payment_mode": _PAYMENT_MODE,
        "payment_mode_name": _PAYMENT_MODE_NAME,
        "amount": _money("Before tax."),
        "tax_rate": _money("In percent."),
        "tax_amount": _money("The tax."),
        "total_amount": _money("What the customer paid."),
        "state": _STATE,
        "attempts": {**_COUNT, "description": "Sends tried so far."},
        "last_error": {"type": ["string", "null"]},
        "transaction_id": {"type": ["string", "null"],
                           "description": "The tax authority's transaction id, once synced."},
        "received_at": {**_WIRE_TIME, "description": "When the utility received it."},
        "synced_at": _MAYBE_WIRE_TIME,
        # Kenya (dashboard_kenya.row_fields); KPRA rows: kind invoice, the rest null.
        "kind": _KIND,
        "kind_name": {"type": "string", "enum": list(KINDS.values())},
        "number": {"type": "string", "description": "The document's own number: invoice_no "
                   "without its kind's prefix (`cn:CN-1` → CN-1, `item:KE1…` → KE1…)."},
        "has_money": {"type": "boolean", "description": "false for item registrations and "
                      "stock adjustments (their amounts are 0 and mean nothing)."},
        "currency": {**_TEXT_OR_NULL, "description": "KES for Kenya's rows; null for KPRA."},
        "customer_pin": {**_TEXT_OR_NULL, "description": "The buyer's KRA PIN, if given."},
        "customer_name": _TEXT_OR_NULL,
        "original_invoice_no": {**_TEXT_OR_NULL, "description": "A credit note's original."},
        "item_code": {**_TEXT_OR_NULL, "description": "Item registrations and stock."},
        "item_name": _TEXT_OR_NULL,
        "upstream_ref": {**_TEXT_OR_NULL, "description": "The upstream's own id (ProTax "
                         "inv_…/itm_…, the KRA Agent's sale id)."},
        "receipt_url": {**_TEXT_OR_NULL, "description": "The upstream's receipt link (KRA's "
                        "invoice checker, ProTax's qr_code_url), once signed."},
    }


def _kenya_detail() -> dict[str, Any]:
    line = _closed({
        "seq": {"type": "integer"}, "item_code": {"type": "string"},
        "item_name": {"type": "string"}, "quantity": _MONEY, "unit_price": _MONEY,
        "discount_amount": _MONEY, "tax_type": {"type": "string"}, "tax_rate": _MONEY,
        "tax_amount": _money("Negative on a credit note."),
        "total": _money("Including tax as priced; negative on a credit note.")})
    band = _closed({"band": _BAND, "rate": {"type": "string"},
                    "taxable": _money("Negative on a credit note."),
                    "tax": _money("Negative on a credit note.")})
    qr = r"^/api/dashboard/invoices/[0-9]+/receipt-qr\."
    return {
        "lines": {"type": "array", "items": line, "description": "Sales and credit notes."},
        "bands": {"type": "array", "items": band, "description": "Per tax band A–E."},
        "band_totals": {"oneOf": [{"type": "null"}, _closed({
            k: _MONEY for k in ("taxable", "tax", "net", "gross")})]},
        "exchange_rate": {**_TEXT_OR_NULL, "description": "Sales and credit notes: KES per "
                          "unit of `currency` (\"1\" for KES). The row's money columns are in "
                          "KES (band_totals × this, to cents); lines, bands and band_totals are "
                          "in `currency`."},
        "credit_note_no": _TEXT_OR_NULL,
        "original_invoice_id": {"type": ["integer", "null"], "description": "A credit note's "
                                "original invoice, when it is in this utility."},
        "reason": _TEXT_OR_NULL,
        "document": {"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": {
            "type": "string"}}], "description": "An item's or stock adjustment's fields, "
                                                "label → text."},
        "waiting_for": {"type": "array", "description": "The rows it waits for (not synced "
                        "yet), each with a sentence.", "items": _closed({
                            "invoice_id": {"type": "integer", "minimum": 1},
                            "invoice_no": {"type": "string"}, "kind": _KIND, "state": _STATE,
                            "message": {"type": "string"}})},
        "receipt_link_text": _TEXT_OR_NULL,
        "receipt_qr_svg": {"type": ["string", "null"], "pattern": qr + "svg$"},
        "receipt_qr_png": {"type": ["string", "null"], "pattern": qr + "png$"},
    }


def _authority() -> dict[str, Any]:
    return _closed({
        "upstream": {"type": "string", "enum": ["kpra", *dashboard_kenya.KENYA_UPSTREAMS]},
        "kenya": {"type": "boolean"},
        "authority": {"type": "string", "description": "Who the utility reports to, e.g. "
                      "\"KRA eTIMS via KRA Agent\", \"KRA eTIMS via ProTax (TEST key)\"."},
        "signer": {"type": "string", "description": "Who signs (KPRA, KRA eTIMS)."},
        "key_mode": {"type": ["string", "null"], "enum": ["test", "live", None],
                     "description": "ProTax: a test or a live API key; else null."},
        "currency": _TEXT_OR_NULL,
        "practice": {"type": "boolean"},
        "customer_lookup": {"type": "boolean", "description": "GET /api/dashboard/customers "
                            "works here (ProTax)."},
        "customer_lookup_absent": {**_TEXT_OR_NULL, "description": "Why not, if not."},
        "payment_modes": {"type": "array", "description": "This authority's payment modes, as "
                          "the filters offer them and the lists and reports name them.",
                          "items": _closed({"payment_mode": _PAYMENT_MODE,
                                            "payment_mode_name": _PAYMENT_MODE_NAME})},
    }, "Which tax authority this utility reports to.")


def _tax_bands() -> dict[str, Any]:
    band = _closed({"band": _BAND, "rate": {"type": "string"}, "count": _COUNT,
                    "taxable": _MONEY, "tax": _MONEY})
    return _closed({
        "from": _DATE, "to": _DATE, "kenya": {"type": "boolean"},
        "currency": _TEXT_OR_NULL,
        "bands": {"type": "array", "items": band, "description": "Per band (empty for KPRA)."},
        "totals": _closed({"taxable": _MONEY, "tax": _MONEY}),
        "sales": _ref("Totals"), "credit_notes": {**_ref("Totals"), "description": "Negative."},
        "net": {**_ref("Totals"), "description": "Sales less credit notes."},
    }, "Kenya: taxable amount and tax per band, sales and credit notes (credit notes subtract).")


def _invoice_detail() -> dict[str, Any]:
    qr = r"^/api/qr\?pos_id=[^&]*&invoice_no=[^&]*&format="
    return _closed({
        **_invoice_row(),
        "ntn": {"type": "string"},
        "warnings": {"type": "array", "items": _ref("Warning")},
        "next_attempt_at": {**_MAYBE_WIRE_TIME, "description": "When the next try is due "
                                                              "(only while queued)."},
        "last_status": {"type": ["integer", "null"],
                        "description": "The HTTP status of the last answer from upstream."},
        "ambiguous": {"type": "boolean", "description": "A send was interrupted without an "
                      "answer: the next send asks the authority whether it already has it."},
        "qr_url": {"type": "string", "format": "uri",
                   "description": "What the receipt's QR code holds."},
        "qr_png": {"type": "string", "pattern": qr + "png$",
                   "description": "The QR code as PNG (GET /api/qr; needs no session)."},
        "qr_svg": {"type": "string", "pattern": qr + "svg$",
                   "description": "The QR code as SVG."},
        "attempts_list": {"type": "array", "items": _ref("Attempt"),
                          "description": "Every send and retry, oldest first (the audit "
                                         "trail)."},
        "can_retry": {"type": "boolean", "description": "Whether POST …/retry would do "
                      "something: the invoice is " + ", ".join(s.value for s in RETRY_ONE_STATES)
                      + "."},
        **_kenya_detail(),
    }, "One invoice: the list's fields and everything else the utility knows about it.")


def _sales_report() -> dict[str, Any]:
    period = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$",
              "description": "The day (YYYY-MM-DD) or month (YYYY-MM)."}
    return _closed({
        "period": {"type": "string", "enum": list(PERIOD_NAMES)},
        "from": {**_DATE, "description": "The first day covered (the default filled in)."},
        "to": {**_DATE, "description": "The last day covered."},
        "rows": {"type": "array", "description": "Per period, POS and payment mode, in that "
                                                 "order; only combinations with invoices.",
                 "items": _totals_with(period=period, pos_id={"type": "string"},
                                       payment_mode=_PAYMENT_MODE,
                                       payment_mode_name=_PAYMENT_MODE_NAME)},
        "by_payment_mode": {"type": "array", "items": _totals_with(
            payment_mode=_PAYMENT_MODE, payment_mode_name=_PAYMENT_MODE_NAME)},
        "by_pos": {"type": "array", "items": _totals_with(pos_id={"type": "string"})},
        "totals": _ref("Totals"),
    }, "Sales between from and to, grouped.")


def _reconciliation() -> dict[str, Any]:
    day = {"day": _DATE}
    for who in ("local", "confirmed", "unconfirmed"):
        day |= {f"{who}_count": _COUNT, f"{who}_total": _MONEY}
    return _closed({
        "from": _DATE,
        "to": _DATE,
        "local": {**_ref("Totals"), "description": "Everything received here."},
        "confirmed": {**_ref("Totals"), "description": "Synced: the tax authority recorded "
                                                       "them."},
        "unconfirmed": {**_ref("Totals"), "description": "Not synced (yet): pending or "
                                                         "rejected."},
        "difference": {**_ref("Totals"), "description": "local − confirmed (the same as "
                                                        "unconfirmed)."},
        "by_state": {"type": "array", "minItems": len(State), "maxItems": len(State),
                     "description": "Every state, in the order " + ", ".join(_STATES) + ".",
                     "items": _totals_with(state=_STATE)},
        "days": {"type": "array", "description": "Per day with invoices, oldest first.",
                 "items": _closed(day)},
    }, "What was received here against what the tax authority confirmed. The unconfirmed "
       "invoices themselves: GET /api/dashboard/invoices?state=unconfirmed&from=…&to=….")


def schemas() -> dict[str, Any]:
    return {
        **_session_schemas(),
        "Totals": _closed(_totals_fields(), "Sums over a set of invoices (exact decimals)."),
        "OverviewAnswer": _success(_ref("Overview"), 200),
        "Overview": _overview(),
        "RetryAll": {
            "type": "object",
            "description": "Which invoices to send again. Other fields are ignored.",
            "properties": {"states": {
                "type": "array", "minItems": 1, "items": {"type": "string",
                                                          "enum": list(RETRY_ALL_STATES)},
                "default": list(RETRY_ALL_STATES),
                "description": "rejected: every rejected invoice back to the queue; held: "
                               "every held POS released (its held invoices go back to the "
                               "queue). Left out: both."}},
        },
        "RetryAllAnswer": _success(_closed({
            "requeued": {**_COUNT, "description": "Invoices put back in the queue."},
            "released_pos": {"type": "array", "items": {"type": "string"},
                             "description": "The POSes no longer held."}}), 200),
        "PosListAnswer": _success(_closed({"pos_ids": {
            "type": "array", "items": {"type": "string"},
            "description": "Every POS configured here or seen on an invoice, sorted."}}), 200),
        "InvoiceRow": _closed(_invoice_row(), "One invoice in the list."),
        "InvoiceListAnswer": _success(_closed({
            "items": {"type": "array", "items": _ref("InvoiceRow"), "maxItems": MAX_LIMIT,
                      "description": "Newest invoice date first (date_time, then id, "
                                     "descending)."},
            "next": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_CURSOR,
                     "description": "Pass it as `after` for the next page; null on the last "
                                    "page. There is no total count (keyset pages)."},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}}), 200),
        "InvoiceDetail": _invoice_detail(),
        "InvoiceDetailAnswer": _success(_ref("InvoiceDetail"), 200),
        "InvoiceRetryAnswer": _success(_closed({
            "invoice": _ref("InvoiceDetail"),
            "requeued": {**_COUNT, "description": "Invoices put back in the queue (for a held "
                         "invoice: every held invoice of its POS)."}}), 200),
        "SalesReport": _sales_report(),
        "SalesReportAnswer": _success(_ref("SalesReport"), 200),
        "Reconciliation": _reconciliation(),
        "ReconciliationAnswer": _success(_ref("Reconciliation"), 200),
        "Authority": _authority(),
        "AuthorityAnswer": _success(_ref("Authority"), 200),
        "TaxBands": _tax_bands(),
        "TaxBandsAnswer": _success(_ref("TaxBands"), 200),
        "CustomerAnswer": _success(_closed({
            "pin": {"type": "string", "pattern": "^[A-Z][0-9]{9}[A-Z]$"},
            "found": {"type": "boolean"},
            "name": {**_TEXT_OR_NULL, "description": "The registered business name."},
            "details": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "What else ProTax said, as text."}}), 200),
    }


def responses() -> dict[str, Any]:
    header = {"schema": {"type": "string"}}
    return {
        "NotSignedIn": _error(401, "No valid session (never signed in, signed out, expired, or "
                                   "the utility restarted): sign in at /login.html.",
                              named_fields=True),
        "SignInRefused": _error(401, "This POS ID and key do not match a POS configured in the "
                                     "utility."),
        "DashboardForbidden": _error(
            403, "Refused: the X-CSRF-Token header is missing or is not this session's token; "
                 "or (app/server/security.py) a web page from another site sent it through a "
                 "browser, or this client is not in allowed_clients (LAN mode).",
            named_fields=True),
        "NotJson": _error(415, "Send the body as application/json.", named_fields=True),
        "TooManySignIns": _error(
            429, "Too many wrong sign-ins from this computer; wait Retry-After seconds.",
            named_fields=True,
            headers={"Retry-After": {**header, "description": "Seconds to wait."}}),
        "PageMissing": _error(404, "The file is not part of the dashboard (or is missing from "
                                   "this installation)."),
        "ControlUnavailable": _error(503, "Sending cannot be paused or resumed in this setup.",
                                     headers={"Retry-After": {**header}}),
        "NoSuchInvoice": _error(404, "No invoice has this id (`errors.invoice_id`).",
                                named_fields=True),
        "NotRetryable": _error(409, "Nothing to retry: the invoice is synced (the authority "
                                    "has it) or being sent right now (`errors.state` says "
                                    "which).", named_fields=True),
        "NoSuchExport": _error(404, "No such export: `errors.name` (invoices, sales, "
                                    "reconciliation, tax-bands) or `errors.format` (csv, xlsx).",
                               named_fields=True),
        "NoLookupHere": _error(404, "Customer PIN look-up is ProTax's; this utility reports "
                                    "to another authority (`errors.pin`).", named_fields=True),
        "LookupFailed": _error(502, "ProTax could not be asked (unreachable, key refused…); "
                                    "try again.", named_fields=True,
                               headers={"Retry-After": {"schema": {"type": "string"}}}),
        "NoReceiptQr": _error(404, "No such invoice, not signed yet (Kenya: the receipt QR "
                                   "appears once KRA eTIMS signed it), a kind without a "
                                   "receipt, or another format (`errors` says which).",
                              named_fields=True),
    }


def security_schemes() -> dict[str, Any]:
    return {
        "session": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                    "description": "Set by POST /api/session (HttpOnly, SameSite=Strict)."},
        "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER,
                 "description": "The session's `csrf_token` (from POST or GET /api/session); "
                                "required on every state-changing dashboard request."},
    }


# ---------------------------------------------------------------- parameters

def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def _dates(first: str = "none", last: str = "none") -> list[dict[str, Any]]:
    on = "on the invoice's own date and time (the receipt's), not when it was received"
    return [
        _query("from", _DATE, f"The first day, inclusive, {on}. YYYY-MM-DD; a date that does "
                              f"not exist (2026-02-30) is refused. Default: {first}."),
        _query("to", _DATE, f"The last day, inclusive; not before `from`. Default: {last}."),
    ]


def _filters(first: str = "none", last: str = "none") -> list[dict[str, Any]]:
    """The invoice list's filters (dashboard_query.invoice_filter): also the reports' and the
    exports'. Each is optional; an empty value is the same as none; spaces around are ignored."""
    return [
        _query("q", {"type": "string", "maxLength": MAX_INVOICE_NO},
               "An invoice number, exact or its beginning (`INV-00` finds INV-001, INV-002, "
               f"…). At most {MAX_INVOICE_NO} characters."),
        _query("state", {"type": "string", "enum": list(STATE_GROUPS)},
               "One state; or `pending` (queued, sending or held), or `unconfirmed` (everything "
               "not synced: pending or rejected). Any letter case."),
        _query("kind", {"type": "string", "enum": list(KINDS)},
               "Only this kind (Kenya): " + ", ".join(KINDS) + "."),
        _query("pos_id", {"type": "string", "maxLength": MAX_ID}, "Only this POS."),
        _query("payment_mode", _PAYMENT_MODE, "Only this payment mode. " + _PAYMENT_MODES_TEXT +
               " A mode the authority does not have is a 400."),
        *_dates(first, last),
    ]


def _list_parameters() -> list[dict[str, Any]]:
    return [
        *_filters(),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                         "default": DEFAULT_LIMIT},
               f"Invoices per page, 1 to {MAX_LIMIT}."),
        _query("after", {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR},
               "The previous page's `next` (opaque). Anything else is refused (400): start "
               "again from the first page."),
    ]


def _period() -> dict[str, Any]:
    return _query("period", {"type": "string", "enum": list(PERIOD_NAMES), "default": "day"},
                  "Group by day or by month. Any letter case.")


# ---------------------------------------------------------------- operations

def _get(operation_id: str, summary: str, answer: dict[str, Any], *, errors: tuple[str, ...] = (),
         parameters: list[dict[str, Any]] | None = None, description: str = "") -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    operation["security"] = SIGNED_IN
    operation["responses"] = _responses(*errors, *_GUARDED, s200=answer)
    return {"get": operation}


def _chart(operation_id: str, what: str) -> dict[str, Any]:
    names = " or ".join(f"`{m}`" for m in MEASURES)
    return _get(
        operation_id, f"{what} as a bar chart (SVG, for <img src>)",
        {"description": "A standalone SVG (role=img, with a <title> and an aria-label saying "
                        "what it shows); no scripts, styles or external references.",
         "headers": _NO_STORE,
         "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
        errors=("BadRequest",),
        parameters=[_query("measure", {"type": "string", "enum": list(MEASURES),
                                       "default": "sales"},
                           f"What the bars show: {names} (sales: the totals; tax: the tax). "
                           "Any letter case.")])


def _export() -> dict[str, Any]:
    media = {CSV_TYPE: "CSV", XLSX_TYPE: "XLSX"}
    return _get(
        "getExport", "Download the invoice list, the sales report or the reconciliation as "
                     "CSV or XLSX",
        {"description": "The file, as an attachment. CSV: UTF-8 with a byte order mark, CRLF "
                        "line ends, money as exact decimal text, text that looks like a formula "
                        "prefixed with an apostrophe. XLSX: money cells are numbers with a "
                        "2-decimal format where a number holds them exactly, else exact text.",
         "headers": {**_NO_STORE, "Content-Disposition": {
             "description": "attachment; filename=\"…\" (e.g. invoices_2026-11-21_1017.csv, "
                            "sales_by_day_2026-11-01_to_2026-11-21.xlsx)",
             "schema": {"type": "string", "pattern": "^attachment; filename=\"[A-Za-z0-9._-]+\"$"}}},
         "content": {t: {"schema": {"type": "string", "contentMediaType": t}} for t in media}},
        errors=("BadRequest", "NoSuchExport"),
        description=(
            "`invoices`: every invoice the list's filters match (no pages), newest first; "
            "columns POS ID, Invoice no, Date and time, Payment mode, Amount, Tax rate, Tax, "
            "Total, State, Attempts, Last error, Transaction id, Received at, Synced at. "
            "`sales`: the sales report's rows (the same query as GET "
            "/api/dashboard/reports/sales) and a final Total row. `reconciliation`: its days "
            "(from, to only) and a final Total row. Parameters an export does not use are "
            "ignored. The Content-Type is the format's (" + ", ".join(media) + "). A failure "
            "after the download began cuts the connection (the file is then visibly "
            "incomplete), never a short file that looks whole."),
        parameters=[
            {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "enum": list(EXPORT_NAMES)}},
            {"name": "format", "in": "path", "required": True,
             "schema": {"type": "string", "enum": list(FORMATS)}},
            *_filters("none (invoices); the 1st of this month (sales by day, reconciliation); "
                      "1 January (sales by month)", "none (invoices); today (the reports)"),
            _period(),
        ])


def _page(operation_id: str, summary: str, content_types: list[str],
          parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary,
        "responses": _responses("PageMissing", *_ALWAYS, s200={
            "description": "The file, with headers that keep it from being framed, sniffed or "
                           "cached.", "headers": _PAGE_HEADERS,
            "content": {t: {"schema": {"type": "string"}} for t in content_types}}),
    }
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


def _session_paths() -> dict[str, Any]:
    session_answer = _json(_ref("SessionAnswer"), "Signed in: who, until when, and the CSRF "
                                                  "token.", _NO_STORE)
    return {
        "/login.html": _page("getLoginPage", "The dashboard's sign-in page", ["text/html"]),
        "/dashboard.html": _page("getDashboardPage", "The dashboard (its data comes from "
                                 "/api/session and /api/dashboard/)", ["text/html"]),
        "/favicon.ico": _page("getFavicon", "The utility's icon (an SVG; browsers ask every "
                              "site for it)", ["image/svg+xml"]),
        "/web/{name}": _page("getWebFile", "The pages' style sheets, scripts and icon",
                             sorted(set(ASSETS.values())),
                             [{"name": "name", "in": "path", "required": True,
                               "schema": {"type": "string", "enum": sorted(ASSETS)}}]),
        "/api/session": {
            "post": {
                "operationId": "signIn",
                "summary": "Sign in to the dashboard with a configured POS ID and key",
                "description": (
                    f"On success sets the `{COOKIE}` cookie (HttpOnly, SameSite=Strict, Path=/, "
                    "Max-Age = the session lifetime, 12 h by default). Sessions are kept in "
                    "memory: a restart of the utility signs everyone out. Wrong keys are "
                    "throttled per computer (429 with Retry-After). A browser may send this only "
                    "from the utility's own pages (Origin / Sec-Fetch-Site, security.py)."),
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("SignIn")}}},
                "responses": _responses(
                    "BadRequest", "SignInRefused", "BodyTimeout", "TooLarge", "NotJson",
                    "TooManySignIns", *_ALWAYS, s200={
                        **session_answer, "headers": {**_NO_STORE, "Set-Cookie": {
                            "description": f"{COOKIE}=…; HttpOnly; SameSite=Strict; Path=/; "
                                           "Max-Age=…", "schema": {"type": "string"}}}}),
            },
            "get": {
                "operationId": "getSession",
                "summary": "Who is signed in (and the session's CSRF token)",
                "security": SIGNED_IN,
                "responses": _responses("NotSignedIn", *_ALWAYS, s200=session_answer),
            },
            "delete": {
                "operationId": "signOut",
                "summary": "Sign out: ends the session and clears the cookie",
                "security": ACTING,
                "responses": _responses("NotSignedIn", "DashboardForbidden", *_DASHBOARD_ALWAYS,
                                        s200=_json(_ref("SignedOutAnswer"), "Signed out.",
                                                   _NO_STORE)),
            },
        },
        "/api/session/ticket/{ticket}": {"get": {
            "operationId": "redeemTicket",
            "summary": "The tray app's \"Open dashboard\": a one-time ticket becomes a session",
            "description": (
                "The tray app (same process) issues a ticket valid once, for one minute, and "
                "opens this address in the default browser. A live ticket sets the "
                f"`{COOKIE}` cookie and redirects to /dashboard.html; any other value "
                "redirects to /login.html."),
            "parameters": [{"name": "ticket", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 200}}],
            "responses": _responses(*_ALWAYS, s303={
                "description": "To /dashboard.html (signed in) or /login.html.",
                "headers": {"Location": {"schema": {"type": "string"}}, **_NO_STORE}}),
        }},
    }


def paths() -> dict[str, Any]:
    def answer(name: str, description: str) -> dict[str, Any]:
        return _json(_ref(name), description, _NO_STORE)

    json_body = {"BadRequest", "BodyTimeout", "TooLarge", "NotJson"}
    invoice_id = {"name": "invoice_id", "in": "path", "required": True,
                  "description": "The invoice's `id` (from the list). Anything that is not such "
                                 "an id is answered 404.",
                  "schema": {"type": "integer", "minimum": 1}}
    return {
        **_session_paths(),
        "/api/dashboard/sending": {
            **_get("getSending", "Sending to the tax authority: paused or not, reachable, in "
                                 "flight", answer("SendingAnswer", "Sending now.")),
            "post": {
                "operationId": "setSending",
                "summary": "Pause or resume sending to the tax authority",
                "security": ACTING,
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("SendingChange")}}},
                "responses": _responses(*sorted(json_body), "ControlUnavailable", *_GUARDED,
                                        s200=answer("SendingAnswer", "Changed; sending as it "
                                                                     "is now.")),
            },
        },
        "/api/dashboard/overview": _get(
            "getOverview", "The first page: today's sales, counts per state, what is pending, "
                           "the upstream, problems, and the chart data",
            answer("OverviewAnswer", "The overview; `message` is a one-line headline.")),
        "/api/dashboard/retry": {"post": {
            "operationId": "retryAll",
            "summary": "Send every rejected and/or held invoice again (after a fix)",
            "description": "Rejected invoices go back to the queue, due now; held POSes are "
                           "released (their held invoices go back to the queue). Each retried "
                           "invoice gets a `retry_requested` entry in its audit trail.",
            "security": ACTING,
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("RetryAll")}}},
            "responses": _responses(*sorted(json_body), *_GUARDED, s200=answer(
                "RetryAllAnswer", "Done (or nothing to retry: `requeued` 0).")),
        }},
        "/api/dashboard/pos": _get(
            "getPosIds", "Every POS known here (the list's POS filter)",
            answer("PosListAnswer", "The POS IDs.")),
        "/api/dashboard/invoices": _get(
            "listInvoices", "The invoice list: filters, search by number, pages",
            answer("InvoiceListAnswer", "One page of invoices."), errors=("BadRequest",),
            parameters=_list_parameters(),
            description="Newest invoice date first (date_time, then id, descending). Pages are "
                        "keyset pages: follow `next` (as `after`, with the same filters) until "
                        "it is null. Every invalid parameter is named in one 400."),
        "/api/dashboard/invoices/{invoice_id}": _get(
            "getInvoiceDetail", "One invoice: amounts, state, QR, warnings, every attempt",
            answer("InvoiceDetailAnswer", "The invoice as stored now."),
            errors=("NoSuchInvoice",), parameters=[invoice_id]),
        "/api/dashboard/invoices/{invoice_id}/retry": {"post": {
            "operationId": "retryInvoice",
            "summary": "Send one invoice again",
            "description": "Rejected → queued, due now; queued → due now; held → its POS is "
                           "released (every held invoice of that POS goes back to the queue). "
                           "Synced or sending: 409, nothing changes. No body is read.",
            "security": ACTING,
            "parameters": [invoice_id],
            "responses": _responses("NoSuchInvoice", "NotRetryable", *_GUARDED, s200=answer(
                "InvoiceRetryAnswer", "Will be sent again; the invoice as it is now.")),
        }},
        "/api/dashboard/reports/sales": _get(
            "getSalesReport", "Sales per day or month, POS and payment mode, with totals",
            answer("SalesReportAnswer", "The report."), errors=("BadRequest",),
            parameters=[_period(), *_filters("the 1st of this month (period=day), 1 January "
                                             "(period=month)", "today")],
            description="Also takes the invoice list's `state` and `q` filters."),
        "/api/dashboard/reports/reconciliation": _get(
            "getReconciliation", "Received here against confirmed by the tax authority, per "
                                 "day and state",
            answer("ReconciliationAnswer", "The reconciliation; `message` says how many are "
                                           "not confirmed yet."),
            errors=("BadRequest",), parameters=_dates("the 1st of this month", "today"),
            description="Covers every POS; other parameters are ignored."),
        "/api/dashboard/charts/daily.svg": _chart(
            "getDailyChart", f"Sales (or tax) per day, the last {CHART_DAYS} days,"),
        "/api/dashboard/charts/hourly.svg": _chart(
            "getHourlyChart", "Sales (or tax) per hour today,"),
        "/api/dashboard/export/{name}.{format}": _export(),
        "/api/dashboard/authority": _get(
            "getAuthority", "Which tax authority this utility reports to (KPRA, KRA eTIMS via "
                            "the KRA Agent or ProTax)", answer("AuthorityAnswer", "It.")),
        "/api/dashboard/customers": _get(
            "lookUpCustomer", "ProTax: the business a customer's KRA PIN is registered to",
            answer("CustomerAnswer", "Found (`found` true, `name`) or not (`found` false)."),
            errors=("BadRequest", "NoLookupHere", "LookupFailed"),
            parameters=[{"name": "pin", "in": "query", "required": True,
                         "description": "A KRA PIN: a letter, 9 digits, a letter "
                                        "(P051234567A); any letter case.",
                         "schema": {"type": "string", "maxLength": 40}}],
            description="Asks ProTax's GET /customers?pin= (with the POS's API key). Only "
                        "with ProTax: the KRA Agent API has no look-up (404). A PIN of the "
                        "wrong shape is refused (400) without asking ProTax."),
        "/api/dashboard/reports/tax-bands": _get(
            "getTaxBands", "Kenya: taxable amount and tax per band over a period",
            answer("TaxBandsAnswer", "The report."), errors=("BadRequest",),
            parameters=[*_dates("the 1st of this month", "today"),
                        _query("pos_id", {"type": "string", "maxLength": MAX_ID},
                               "Only this POS."),
                        _query("state", {"type": "string", "enum": list(STATE_GROUPS)},
                               "Only these states.")],
            description="From each sale's and credit note's bands (credit notes subtract); "
                        "item registrations and stock adjustments carry no money. With KPRA "
                        "the bands are empty."),
        "/api/dashboard/invoices/{invoice_id}/receipt-qr.{format}": _get(
            "getReceiptQr", "The receipt's QR code: KRA's invoice checker / ProTax's QR link "
                            "once signed (KPRA: its verification address)",
            {"description": "The QR code.", "headers": _NO_STORE,
             "content": {"image/svg+xml": {"schema": {"type": "string"}},
                         "image/png": {"schema": {"type": "string",
                                                  "contentMediaType": "image/png"}}}},
            errors=("NoReceiptQr",),
            parameters=[invoice_id, {"name": "format", "in": "path", "required": True,
                                     "schema": {"type": "string", "enum": ["svg", "png"]}}]),
    }
