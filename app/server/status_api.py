"""Read-only routes: one invoice's status, health, the receipt QR, and the home line."""

import time

from aiohttp import web

from app.domain.invoice import wire_time as local_time
from app.domain.qr import qr_png, qr_svg, qr_url
from app.server.intake import invoice_data
from app.server.invoice_api import DEPS
from app.server.responses import error, success


async def home(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    mode = " in practice mode" if deps.practice else ""
    return web.Response(
        text=f"RIMS Utility {deps.version} is running{mode}: POS invoices go to POST "
             f"/api/invoice and on to {deps.upstream_name}.\n")


async def invoice_status(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    pos_id, invoice_no = request.match_info["pos_id"], request.match_info["invoice_no"]
    record = await deps.store.get_invoice(pos_id, invoice_no)
    if record is None:
        return error(404, f"No invoice {invoice_no} from POS {pos_id} was received.",
                     {"invoice_no": "not found for this POS"})
    attempts = await deps.store.attempts_of(record.id)
    data = invoice_data(record) | {
        "amount": str(record.amount),
        "tax_rate": str(record.tax_rate),
        "tax_amount": str(record.tax_amount),
        "total_amount": str(record.total_amount),
        "payment_mode": record.payment_mode,
        "received_at": local_time(record.received_at),
        "synced_at": local_time(record.synced_at),
        "next_attempt_at": local_time(record.next_attempt_at) if record.state == "queued" else None,
        "last_error": record.last_error,
        "last_status": record.last_status,
        "attempts": [
            {"at": local_time(a.started_at), "http_status": a.http_status, "outcome": a.outcome,
             "message": a.message, "duration_ms": a.duration_ms}
            for a in attempts
        ],
    }
    return success(200, f"Invoice is {record.state.value}.", data)


async def health(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    summary = await deps.store.summary()
    sending = deps.forwarder_status()
    now = time.time()
    ok = not summary.held and sending.reachable is not False
    return success(200, "ok" if ok else "needs attention", {
        "version": deps.version,
        "practice": deps.practice,
        "counts": summary.counts,
        "oldest_pending_age_s": _age(summary.oldest_pending_at, now),
        "last_successful_sync": local_time(summary.last_synced_at),
        "last_successful_sync_age_s": _age(summary.last_synced_at, now),
        "held_pos": [{"pos_id": p.pos_id, "reason": p.held_reason,
                      "since": local_time(p.held_at)} for p in summary.held],
        "upstream": {
            "name": deps.upstream_name,
            "url": deps.upstream_url,
            "reachable": sending.reachable,
            "last_error": sending.last_error,
            "next_try_in_s": sending.next_try_in,
            "sending_paused": sending.paused,
            "in_flight": sending.in_flight,
        },
    })


async def qr_code(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    pos_id = request.query.get("pos_id", "")
    invoice_no = request.query.get("invoice_no", "")
    fmt = request.query.get("format", "png").lower()
    errors = {}
    if not pos_id:
        errors["pos_id"] = "pos_id is required"
    if not invoice_no:
        errors["invoice_no"] = "invoice_no is required"
    if fmt not in ("png", "svg"):
        errors["format"] = "format must be png or svg"
    if errors:
        return error(400, "QR code needs pos_id and invoice_no.", errors)
    record = await deps.store.get_invoice(pos_id, invoice_no)
    if record is None:
        return error(404, f"No invoice {invoice_no} from POS {pos_id} was received.",
                     {"invoice_no": "not found for this POS"})
    if record.detail is not None or record.kind != "invoice":  # Kenya: the authority's link
        if not record.receipt_url:
            return error(409, "The receipt QR appears once KRA eTIMS has signed the invoice; "
                              f"it is {record.state.value} now. Ask again later.",
                         {"invoice_no": "not signed by KRA eTIMS yet"},
                         headers={"Retry-After": "30"})
        url = record.receipt_url
    else:
        url = qr_url(pos_id, invoice_no)
    if fmt == "svg":
        return web.Response(body=qr_svg(url), content_type="image/svg+xml")
    return web.Response(body=qr_png(url), content_type="image/png")


def _age(timestamp: float | None, now: float) -> float | None:
    return None if timestamp is None else round(max(0.0, now - timestamp), 1)
