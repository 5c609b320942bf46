"""The dashboard's invoice list, one invoice's detail, and "Retry" on one invoice
(/api/dashboard/invoices…; behind session_api.session_guard like every dashboard route)."""

from urllib.parse import urlencode

from aiohttp import web

from app.domain.invoice import wire_time
from app.domain.money import plain
from app.domain.qr import qr_url
from app.domain.states import State
from app.server import dashboard_kenya
from app.server.dashboard_query import (
    BadQuery,
    encode_cursor,
    invoice_filter,
    page_args,
    whole_number,
)
from app.server.invoice_api import DEPS
from app.server.responses import error, success
from app.server.session_api import SESSION
from app.store.records import AttemptRecord, InvoiceRecord

RETRYABLE = (State.REJECTED, State.QUEUED, State.HELD)


def invoice_row(r: InvoiceRecord, upstream: str | None = None) -> dict[str, object]:
    """One row of the list. Its payment mode is named as ``upstream``'s (KPRA: Cash / Card;
    Kenya: the eTIMS payment types); without it (the GUI's queue), as the row's own: a Kenya row
    has a detail, and both Kenya authorities name payment modes alike."""
    upstream = upstream or ("kpra" if r.detail is None else "kra-agent")
    return {
        "id": r.id, "pos_id": r.pos_id, "invoice_no": r.invoice_no, "date_time": r.date_time,
        "payment_mode": r.payment_mode,
        "payment_mode_name": dashboard_kenya.payment_mode_name(r.payment_mode, upstream),
        "amount": plain(r.amount), "tax_rate": plain(r.tax_rate),
        "tax_amount": plain(r.tax_amount), "total_amount": plain(r.total_amount),
        "state": r.state.value, "attempts": r.attempts, "last_error": r.last_error,
        "transaction_id": r.transaction_id, "received_at": wire_time(r.received_at),
        "synced_at": wire_time(r.synced_at),
    } | dashboard_kenya.row_fields(r)


def invoice_detail(r: InvoiceRecord, attempts: list[AttemptRecord],
                   upstream: str = "kpra") -> dict[str, object]:
    """Everything about one row. (The dashboard's handler adds what the rows around it say:
    dashboard_kenya.linked.)"""
    qr_query = urlencode({"pos_id": r.pos_id, "invoice_no": r.invoice_no})
    return invoice_row(r, upstream) | {
        "ntn": r.ntn,
        "warnings": r.warnings,
        "next_attempt_at": wire_time(r.next_attempt_at) if r.state is State.QUEUED else None,
        "last_status": r.last_status,
        "ambiguous": r.ambiguous,
        "qr_url": qr_url(r.pos_id, r.invoice_no),
        "qr_png": f"/api/qr?{qr_query}&format=png",
        "qr_svg": f"/api/qr?{qr_query}&format=svg",
        "attempts_list": [
            {"at": wire_time(a.started_at), "http_status": a.http_status, "outcome": a.outcome,
             "message": a.message, "duration_ms": a.duration_ms} for a in attempts],
        "can_retry": r.state in RETRYABLE,
    } | dashboard_kenya.detail_fields(r, upstream)


async def dashboard_detail(request: web.Request, r: InvoiceRecord,
                           attempts: list[AttemptRecord]) -> dict[str, object]:
    deps = request.app[DEPS]
    return await dashboard_kenya.linked(deps.store, r, invoice_detail(r, attempts,
                                                                      deps.upstream))


async def list_invoices(request: web.Request) -> web.Response:
    """GET /api/dashboard/invoices?q&state&pos_id&payment_mode&from&to&limit&after"""
    store, upstream = request.app[DEPS].store, request.app[DEPS].upstream
    errors: dict[str, str] = {}
    f = invoice_filter(request.query, errors,
                       payment_modes=dashboard_kenya.payment_modes(upstream))
    limit, after = page_args(request.query, errors)
    if errors:
        return error(400, "Some filters are not valid: " + BadQuery(errors).args[0], errors)
    records, cursor = await store.list_invoices(f, limit, after)
    items = [invoice_row(r, upstream) for r in records]
    if items:
        message = f"{len(items)} invoice(s)" + (" (more on the next page)." if cursor else ".")
    else:
        message = "No invoices match." if (after or f.states or f.pos_id or f.invoice_no
                                           or f.payment_mode or f.date_from or f.date_to) \
            else "No invoices yet."
    return success(200, message, {"items": items, "next": encode_cursor(cursor), "limit": limit})


async def pos_ids(request: web.Request) -> web.Response:
    """GET /api/dashboard/pos: every POS known here (configured, or seen on an invoice)."""
    ids = await request.app[DEPS].store.pos_ids()
    return success(200, f"{len(ids)} POS.", {"pos_ids": ids})


def _invoice_id(request: web.Request) -> int | None:
    text = request.match_info["invoice_id"]
    return int(text) if whole_number(text) else None


def _not_found(text: str) -> web.Response:
    return error(404, f"There is no invoice with id {text[:30]} here.",
                 {"invoice_id": "no such invoice"})


async def invoice(request: web.Request) -> web.Response:
    """GET /api/dashboard/invoices/{invoice_id}"""
    invoice_id = _invoice_id(request)
    found = None if invoice_id is None else \
        await request.app[DEPS].store.invoice_with_attempts(invoice_id)
    if found is None:
        return _not_found(request.match_info["invoice_id"])
    record = found[0]
    what = dashboard_kenya.KINDS.get(record.kind, "Invoice")
    return success(200, f"{what} {dashboard_kenya.own_number(record)} is "
                        f"{record.state.value}.", await dashboard_detail(request, *found))


async def retry_invoice(request: web.Request) -> web.Response:
    """POST /api/dashboard/invoices/{invoice_id}/retry"""
    deps = request.app[DEPS]
    invoice_id = _invoice_id(request)
    if invoice_id is None:
        return _not_found(request.match_info["invoice_id"])
    was, requeued = await deps.store.retry_invoice(
        invoice_id, f"from the dashboard (signed in as POS {request[SESSION].pos_id})")
    if was == "missing":
        return _not_found(str(invoice_id))
    if requeued:
        deps.invoice_saved()  # wake the forwarder
    found = await deps.store.invoice_with_attempts(invoice_id)
    if found is None:  # (cannot happen: invoices are never deleted while running)
        return _not_found(str(invoice_id))
    detail = await dashboard_detail(request, *found)
    if was == State.SYNCED.value:
        return error(409, "This invoice is already recorded by the tax authority; there is "
                          "nothing to retry.", {"state": "synced"})
    if was == State.SENDING.value:
        return error(409, "This invoice is being sent right now; wait for the answer.",
                     {"state": "sending"})
    if was == State.HELD.value:
        message = (f"POS {detail['pos_id']} may send again: {requeued} held invoice(s) go out "
                   "now. If its key is still wrong they will be held again.")
    else:
        message = f"Invoice {detail['invoice_no']} will be sent again now."
    return success(200, message, {"invoice": detail, "requeued": requeued})
