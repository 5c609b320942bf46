"""POST /api/invoice: parse → validate → authenticate → store (group commit) → answer."""

import json
import logging
from datetime import datetime

from aiohttp import web
from multidict import MultiDictProxy

from app.domain import wire_json
from app.domain.errors import InvoiceValidationError
from app.domain.qr import qr_url
from app.domain.validation import parse_submission
from app.server.deps import ServerDeps
from app.server.responses import error, success
from app.store.records import IntakeOutcome, InvoiceRecord
from app.store.writer import StorageUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEPS = web.AppKey("deps", ServerDeps)


class BadBody(Exception):
    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


async def post_invoice(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        fields = await read_fields(request)
    except BadBody as bad:
        return error(bad.status, bad.message, bad.errors)
    try:
        submission = parse_submission(fields, now=datetime.now())
    except InvoiceValidationError as invalid:
        return error(400, _invalid_message(invalid.errors), invalid.errors)
    invoice = submission.invoice
    if not await deps.auth.authenticate(invoice.ntn, invoice.pos_id, submission.key):
        return error(401, "Unauthorized: this NTN / POS ID / key is not configured in the "
                          "utility. Check the key, or run `rims-utility setup` for this POS.")
    try:
        result = await deps.store.save_invoice(invoice)
    except StorageUnavailable as why:
        return error(503, f"The invoice was NOT saved: {why}. Free some disk space or fix the "
                          "data folder, then send it again.", headers={"Retry-After": "5"})
    record = result.record
    if result.outcome is IntakeOutcome.CONFLICT:
        return error(409, f"Invoice {invoice.invoice_no} was already received from POS "
                          f"{invoice.pos_id} with different content. Invoice numbers must be "
                          "unique per POS; the first copy is kept unchanged.",
                     {"invoice_no": "already used for a different invoice on this POS"})
    if result.outcome is IntakeOutcome.CREATED:
        deps.invoice_saved()
        return success(201, _saved_message(deps), invoice_data(record))
    return success(201, _saved_message(deps), invoice_data(record),
                   headers={"Idempotent-Replayed": "true"})


def invoice_data(record: InvoiceRecord) -> dict[str, object]:
    return {
        "invoice_no": record.invoice_no,
        "pos_id": record.pos_id,
        "date_time": record.date_time,
        "state": record.state.value,
        "transaction_id": record.transaction_id,
        "qr_url": qr_url(record.pos_id, record.invoice_no),
        "warnings": record.warnings,
    }


def _saved_message(deps: ServerDeps) -> str:
    return f"Invoice saved. It will be sent to {deps.upstream_name} automatically."


def _invalid_message(errors: dict[str, str]) -> str:
    first = next(iter(errors.values()))
    more = len(errors) - 1
    return f"Invoice not accepted: {first}" + (f" (and {more} more problem(s))." if more else ".")


async def read_fields(request: web.Request) -> object:
    """The posted fields as a mapping, from JSON, a URL-encoded form or a multipart form."""
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise BadBody(413, "The request is too large (the limit is 64 KiB).")
    content_type = request.content_type
    if content_type in JSON_TYPES or content_type.endswith("+json"):
        body = await request.read()
        if not body.strip():
            raise BadBody(400, "The request body is empty; send the invoice as a JSON object.",
                          {"body": "is empty"})
        try:
            return wire_json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadBody(400, "The request body is not UTF-8 text.",
                          {"body": "must be UTF-8 encoded JSON"}) from None
        except (json.JSONDecodeError, ValueError, RecursionError) as why:
            raise BadBody(400, f"The request body is not valid JSON: {_json_reason(why)}.",
                          {"body": f"is not valid JSON: {_json_reason(why)}"}) from None
    if content_type in FORM_TYPES:
        try:
            form = await request.post()
        except (ValueError, AssertionError) as why:
            raise BadBody(400, "The form data could not be read.",
                          {"body": f"is not valid form data: {why}"[:200]}) from None
        return _single_values(form)
    shown = content_type or "none"
    raise BadBody(415, f"Unsupported Content-Type {shown!r}: send application/json, "
                       "application/x-www-form-urlencoded or multipart/form-data.",
                  {"content_type": "must be application/json or a form encoding"})


def _single_values(form: MultiDictProxy) -> dict[str, object]:
    fields: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name in form:
        values = form.getall(name)
        if len(values) > 1:
            errors[name] = f"{name} was given {len(values)} times; send it once"
        elif not isinstance(values[0], str):
            errors[name] = f"{name} must be a plain value, not a file"
        else:
            fields[name] = values[0]
    if errors:
        raise BadBody(400, "Invoice not accepted: " + next(iter(errors.values())) + ".", errors)
    return fields


def _json_reason(why: Exception) -> str:
    if isinstance(why, json.JSONDecodeError):
        return f"{why.msg} at line {why.lineno} column {why.colno}"
    if isinstance(why, RecursionError):
        return "nested too deeply"
    return str(why)
