"""POS intake as it runs inside the writer process, in its two stages: ``prepare`` (parse the
body, validate, authenticate, build the answer) as soon as a post arrives, and ``intake`` (store)
inside the group-commit transaction.

The aiohttp handler (invoice_api.py) only checks size and type, reads the body and waits for
the answer; doing the CPU work here keeps the event loop free to take the next request (see
README, "Architecture"). No aiohttp here: this module is imported by the writer process."""

import traceback
from datetime import datetime
from typing import Any, NamedTuple

import peewee

from app.domain import wire_json
from app.domain.auth import credentials_match
from app.domain.errors import InvoiceValidationError
from app.domain.invoice import Invoice
from app.domain.money import plain
from app.domain.qr import qr_url
from app.domain.states import State
from app.domain.validation import parse_submission
from app.server.answers import error_body, success_body
from app.store import repository
from app.store.records import IntakeOutcome, IntakeResult, InvoiceRecord

# One POST /api/invoice as the handler hands it over: (a JSON body exactly as received, or None;
# the fields of a form already decoded, or None; time.time() when the request arrived). A plain
# tuple, like the answer on its way back: both cross to the writer process for every invoice,
# and a named tuple costs ten times more to pickle.
Posted = tuple[bytes | None, dict[str, object] | None, float]


class Answer(NamedTuple):
    status: int
    body: bytes  # the JSON answer, in the one shape
    created: bool = False  # a new invoice was stored: the forwarder has work
    replayed: bool = False  # the same invoice was already stored: Idempotent-Replayed
    unauthorized: bool = False  # credentials did not match (the service may reload them)
    problem: str | None = None  # an unexpected error, for the service's log


class BadBody(Exception):
    """The request body cannot be read as an invoice at all."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}

    def answer(self) -> Answer:
        return Answer(self.status, error_body(self.status, self.message, self.errors))


UNAUTHORIZED = ("Unauthorized: this NTN / POS ID / key is not configured in the utility. "
                "Check the key, or run `rims-utility setup` for this POS.")


class Accepted(NamedTuple):
    """A post that passed every check and now needs storing."""

    invoice: Invoice
    saved_body: bytes  # the 201 answer if it is stored as new and queued (the usual case)
    upstream: str


class KenyaAccepted(NamedTuple):
    """A Kenya document (docs/KENYA.md) that passed every check and now needs storing."""

    document: Any  # app.domain.kenya.Document
    upstream: str  # the upstream's display name
    config: Any  # app.domain.kenya_tax.TaxConfig


# What each Kenya route posts, and how its answers name it.
LABELS = {"invoice": "Invoice", "credit_note": "Credit note", "item": "Item",
          "stock": "Stock movement"}
NUMBER_FIELDS = {"invoice": "invoice_no", "credit_note": "credit_note_no", "item": "item_code",
                 "stock": "reference"}
KENYA_ONLY = ("{what} is available only in Kenya mode (upstream kra-agent or protax); this "
              "utility sends to {upstream}.")


def prepare(context: dict[str, Any], posted: Posted) -> tuple[Answer | Accepted | KenyaAccepted]:
    """First stage, as soon as the writer process receives the post: everything that does not
    need the database. ``context`` holds the POS credentials (``credentials``: pos_id →
    (ntn, key)), the upstream's display name (``upstream_name``), and in the Kenya modes the
    upstream (``upstream``: "kra-agent" | "protax"; "kpra" or absent: KPRA) and its tax
    settings (``tax``: a kenya_tax.TaxConfig, built once by the service)."""
    try:
        if context.get("upstream", "kpra") != "kpra":
            return (_check_kenya(posted, context, "invoice"),)
        return (_check(posted, context),)
    except Exception:  # a bug answers 500 for this request only
        return (Answer(500, error_body(500), problem=traceback.format_exc()),)


def prepare_credit_note(context: dict[str, Any], posted: Posted) -> tuple[Answer | KenyaAccepted]:
    """POST /api/credit-note (Kenya modes only)."""
    return _prepare_kenya(context, posted, "credit_note")


def prepare_item(context: dict[str, Any], posted: Posted) -> tuple[Answer | KenyaAccepted]:
    """POST /api/item (Kenya modes only)."""
    return _prepare_kenya(context, posted, "item")


def prepare_stock(context: dict[str, Any], posted: Posted) -> tuple[Answer | KenyaAccepted]:
    """POST /api/stock (Kenya modes only)."""
    return _prepare_kenya(context, posted, "stock")


def _prepare_kenya(context: dict[str, Any], posted: Posted,
                   kind: str) -> tuple[Answer | KenyaAccepted]:
    try:
        if context.get("upstream", "kpra") == "kpra":
            path = {"credit_note": "/api/credit-note", "item": "/api/item",
                    "stock": "/api/stock"}[kind]
            message = KENYA_ONLY.format(what=f"POST {path}",
                                        upstream=context.get("upstream_name", "KPRA"))
            return (Answer(404, error_body(404, message, {"path": "only in Kenya mode"})),)
        return (_check_kenya(posted, context, kind),)
    except Exception:  # a bug answers 500 for this request only
        return (Answer(500, error_body(500), problem=traceback.format_exc()),)


def intake(db: peewee.SqliteDatabase,
           items: list[Answer | Accepted | KenyaAccepted]) -> list[tuple]:
    """Second stage, inside the group-commit transaction: store what was accepted. The answers
    go back as plain tuples (``Answer._make`` rebuilds them)."""
    accepted = [item for item in items if isinstance(item, Accepted)]
    kenya = [item for item in items if isinstance(item, KenyaAccepted)]
    if not accepted and not kenya:
        return [tuple(item) for item in items]
    results = iter(repository.store_invoices(db, [item.invoice for item in accepted])
                   if accepted else ())
    kenya_results = iter(_store_kenya(db, kenya) if kenya else ())
    answers = []
    for item in items:
        if isinstance(item, Accepted):
            answers.append(tuple(_stored(item, next(results))))
        elif isinstance(item, KenyaAccepted):
            answers.append(tuple(_stored_kenya(item, next(kenya_results))))
        else:
            answers.append(tuple(item))
    return answers


def _check(posted: Posted, context: dict[str, Any]) -> Answer | Accepted:
    try:
        fields, received_at = _received(posted)
    except BadBody as bad:
        return bad.answer()
    try:
        submission = parse_submission(fields, now=datetime.fromtimestamp(received_at))
    except InvoiceValidationError as invalid:
        return Answer(400, error_body(400, _invalid_message(invalid.errors), invalid.errors))
    invoice = submission.invoice
    if not credentials_match(context.get("credentials", {}), invoice.ntn, invoice.pos_id,
                             submission.key):
        return Answer(401, error_body(401, UNAUTHORIZED), unauthorized=True)
    invoice.content_hash, invoice.received_json, invoice.warnings_json  # noqa: B018 - computed now
    upstream = context.get("upstream_name", "the tax authority")
    data = _data(invoice.pos_id, invoice.invoice_no, invoice.wire_date_time, State.QUEUED, None,
                 [w.as_dict() for w in invoice.warnings])
    return Accepted(invoice, success_body(201, _saved_message(upstream), data), upstream)


def _stored(item: Accepted, result: IntakeResult) -> Answer:
    invoice = item.invoice
    if result.outcome is IntakeOutcome.CONFLICT:
        return Answer(409, error_body(
            409, f"Invoice {invoice.invoice_no} was already received from POS "
                 f"{invoice.pos_id} with different content. Invoice numbers must be unique per "
                 "POS; the first copy is kept unchanged.",
            {"invoice_no": "already used for a different invoice on this POS"}))
    created = result.outcome is IntakeOutcome.CREATED
    if result.record is not None:  # stored before: answer about the stored copy
        data = invoice_data(result.record)
    elif result.state is State.QUEUED:
        return Answer(201, item.saved_body, created=True)
    else:  # new, but its POS is held
        data = _data(invoice.pos_id, invoice.invoice_no, invoice.wire_date_time, result.state,
                     None, [w.as_dict() for w in invoice.warnings])
    body = success_body(201, _saved_message(item.upstream), data)
    return Answer(201, body, created=created, replayed=not created)


def _saved_message(upstream: str) -> str:
    return f"Invoice saved. It will be sent to {upstream} automatically."


def invoice_data(record: InvoiceRecord) -> dict[str, object]:
    if record.detail is not None or record.kind != "invoice":  # a Kenya row
        return kenya_data(record, full=True)
    return _data(record.pos_id, record.invoice_no, record.date_time, record.state,
                 record.transaction_id, record.warnings)


def _data(pos_id: str, invoice_no: str, date_time: str, state: State,
          transaction_id: str | None, warnings: list[dict[str, str]]) -> dict[str, object]:
    """The invoice as every answer about it shows it."""
    return {
        "invoice_no": invoice_no,
        "pos_id": pos_id,
        "date_time": date_time,
        "state": state.value,
        "transaction_id": transaction_id,
        "qr_url": qr_url(pos_id, invoice_no),
        "warnings": warnings,
    }


# ---------------------------------------------------------------- Kenya (docs/KENYA.md)

def _check_kenya(posted: Posted, context: dict[str, Any], kind: str) -> Answer | KenyaAccepted:
    from app.domain import kenya

    try:
        fields, received_at = _received(posted)
    except BadBody as bad:
        return bad.answer()
    config = context["tax"]
    now = datetime.fromtimestamp(received_at)
    try:
        if kind == "invoice":
            submission = kenya.parse_invoice(fields, now=now, config=config)
        elif kind == "credit_note":
            submission = kenya.parse_credit_note(fields, now=now)
        elif kind == "item":
            submission = kenya.parse_item(fields, now=now, config=config)
        else:
            submission = kenya.parse_stock(fields, now=now)
    except InvoiceValidationError as invalid:
        return Answer(400, error_body(400, _invalid_message(invalid.errors, LABELS[kind]),
                                      invalid.errors))
    document = submission.document
    if not credentials_match(context.get("credentials", {}), document.ntn, document.pos_id,
                             submission.key):
        return Answer(401, error_body(401, UNAUTHORIZED), unauthorized=True)
    document.content_hash, document.received_json, document.warnings_json  # noqa: B018
    return KenyaAccepted(document, context.get("upstream_name", "the tax authority"), config)


def _store_kenya(db: peewee.SqliteDatabase, items: list[KenyaAccepted]) -> list[IntakeResult]:
    """The batch's documents, stored with the tax settings they were checked with (the
    service's: the same for every one)."""
    from app.store import documents

    return documents.store_documents(db, [item.document for item in items], items[0].config)


def _stored_kenya(item: KenyaAccepted, result: IntakeResult) -> Answer:
    doc = item.document
    label = LABELS[doc.kind]
    if result.outcome is IntakeOutcome.CONFLICT:
        field = NUMBER_FIELDS[doc.kind]
        return Answer(409, error_body(
            409, f"{label} {doc.number} was already received from POS {doc.pos_id} with "
                 f"different content. {label} numbers must be unique per POS; the first copy "
                 "is kept unchanged.",
            {field: "already used for a different document on this POS"}))
    if result.outcome is IntakeOutcome.FAILED:
        return Answer(500, error_body(500), problem=(result.errors or {}).get("problem"))
    if result.outcome is IntakeOutcome.REFUSED:
        errors = result.errors or {"body": "cannot be stored"}
        return Answer(422, error_body(422, _invalid_message(errors, label), errors))
    assert result.record is not None
    created = result.outcome is IntakeOutcome.CREATED
    body = success_body(201, f"{label} saved. It will be sent to {item.upstream} "
                             "automatically.", kenya_data(result.record))
    return Answer(201, body, created=created, replayed=not created)


def kenya_data(record: InvoiceRecord, full: bool = False) -> dict[str, object]:
    """A Kenya row as every answer about it shows it: ``full`` adds its whole detail."""
    from app.store.documents import PREFIXES

    detail = record.detail or {}
    data: dict[str, object] = {
        "kind": record.kind,
        "number": record.invoice_no.removeprefix(PREFIXES.get(record.kind, "")),
        "invoice_no": record.invoice_no,  # the row's number: GET /api/invoices/{pos}/{this}
        "pos_id": record.pos_id,
        "date_time": record.date_time,
        "state": record.state.value,
        "transaction_id": record.transaction_id,
        "upstream_ref": record.upstream_ref,
        "receipt_url": record.receipt_url,
        "warnings": record.warnings,
    }
    if record.kind in ("invoice", "credit_note"):
        data |= {"amount": plain(record.amount), "tax_rate": plain(record.tax_rate),
                 "tax_amount": plain(record.tax_amount),
                 "total_amount": plain(record.total_amount),
                 "totals": detail.get("totals"), "bands": detail.get("bands")}
        if record.kind == "credit_note":
            data["original_invoice_no"] = detail.get("original_invoice_no")
        data["item_codes"] = [line.get("item_code") for line in detail.get("lines") or []]
    elif record.kind == "item":
        data["item_code"] = detail.get("item_code")
    elif record.kind == "stock":
        data |= {"item_code": detail.get("item_code"),
                 "remaining_quantity": detail.get("remaining_quantity")}
    if full:
        data["detail"] = record.detail
    return data


def _received(posted: Posted) -> tuple[object, float]:
    """What the POS sent (its JSON body decoded, or its form's fields) and when it arrived.
    Raises BadBody."""
    body, fields, received_at = posted
    return (fields if body is None else decode_json(body)), received_at


def decode_json(body: bytes) -> object:
    if not body.strip():
        raise BadBody(400, "The request body is empty; send the invoice as a JSON object.",
                      {"body": "is empty"})
    try:
        return wire_json.loads(body)
    except UnicodeDecodeError:
        raise BadBody(400, "The request body is not UTF-8 text.",
                      {"body": "must be UTF-8 encoded JSON"}) from None
    except (ValueError, RecursionError) as why:  # wire_json.DecodeError is a ValueError
        raise BadBody(400, f"The request body is not valid JSON: {_json_reason(why)}.",
                      {"body": f"is not valid JSON: {_json_reason(why)}"}) from None


def _invalid_message(errors: dict[str, str], label: str = "Invoice") -> str:
    first = next(iter(errors.values()))
    more = len(errors) - 1
    return f"{label} not accepted: {first}" + (f" (and {more} more problem(s))." if more else ".")


def _json_reason(why: Exception) -> str:
    if isinstance(why, RecursionError):
        return "nested too deeply"
    text = str(why)
    if text == "Input data was truncated":
        return "it ends before the JSON is complete"
    return text.removeprefix("JSON is malformed: ")  # e.g. "invalid character (byte 6)"
