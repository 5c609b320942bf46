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


def prepare(context: dict[str, Any], posted: Posted) -> tuple[Answer | Accepted]:
    """First stage, as soon as the writer process receives the post: everything that does not
    need the database. ``context`` holds the POS credentials (``credentials``: pos_id →
    (ntn, key)) and the upstream's display name (``upstream_name``)."""
    try:
        return (_check(posted, context),)
    except Exception:  # a bug answers 500 for this request only
        return (Answer(500, error_body(500), problem=traceback.format_exc()),)


def intake(db: peewee.SqliteDatabase, items: list[Answer | Accepted]) -> list[tuple]:
    """Second stage, inside the group-commit transaction: store what was accepted. The answers
    go back as plain tuples (``Answer._make`` rebuilds them)."""
    accepted = [item for item in items if isinstance(item, Accepted)]
    if not accepted:
        return [tuple(item) for item in items]
    results = iter(repository.store_invoices(db, [item.invoice for item in accepted]))
    return [tuple(item) if isinstance(item, Answer) else tuple(_stored(item, next(results)))
            for item in items]


def _check(posted: Posted, context: dict[str, Any]) -> Answer | Accepted:
    body, fields, received_at = posted
    try:
        if body is not None:
            fields = decode_json(body)
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


def _invalid_message(errors: dict[str, str]) -> str:
    first = next(iter(errors.values()))
    more = len(errors) - 1
    return f"Invoice not accepted: {first}" + (f" (and {more} more problem(s))." if more else ".")


def _json_reason(why: Exception) -> str:
    if isinstance(why, RecursionError):
        return "nested too deeply"
    text = str(why)
    if text == "Input data was truncated":
        return "it ends before the JSON is complete"
    return text.removeprefix("JSON is malformed: ")  # e.g. "invalid character (byte 6)"
