"""The dashboard's JSON API under /api/dashboard/: the overview, sending on/off and the retry
actions. Every route here stands behind session_api.session_guard: a session for everything, its
CSRF token for every action. Lists and detail: invoices_api.py; reports: reports_api.py;
downloads: exports_api.py. Money is sent as exact decimal text, times as wire times."""

import datetime as dt
import time

from aiohttp import web

from app.domain.invoice import wire_time
from app.domain.money import plain
from app.domain.states import State
from app.server import dashboard_kenya
from app.server.invoice_api import DEPS
from app.server.json_body import BadJson, json_object
from app.server.responses import error, success
from app.server.session_api import SESSION
from app.store.listing import InvoiceFilter
from app.store.reports import Totals

CHART_DAYS = 30
RETRYABLE = (State.REJECTED.value, State.HELD.value)


def totals_data(totals: Totals) -> dict[str, object]:
    return {"count": totals.count, "amount": plain(totals.amount), "tax": plain(totals.tax),
            "total": plain(totals.total)}


def _sending(request: web.Request) -> dict[str, object]:
    status = request.app[DEPS].forwarder_status()
    return {"paused": status.paused, "reachable": status.reachable,
            "last_error": status.last_error, "next_try_in_s": status.next_try_in,
            "in_flight": status.in_flight}


async def get_sending(request: web.Request) -> web.Response:
    """GET /api/dashboard/sending"""
    data = _sending(request)
    return success(200, "Sending is paused." if data["paused"] else "Sending is on.", data)


async def set_sending(request: web.Request) -> web.Response:
    """POST /api/dashboard/sending {paused: bool}: pause or resume sending to the tax
    authority. Invoices are still received and stored while paused."""
    deps = request.app[DEPS]
    try:
        body = await json_object(request)
    except BadJson as bad:
        return error(bad.status, bad.message, bad.errors)
    paused = body.get("paused")
    if not isinstance(paused, bool):
        return error(400, "Say whether sending should be paused.",
                     {"paused": "must be true or false"})
    if deps.set_sending_paused is None:
        return error(503, "Sending cannot be paused or resumed in this setup.", {},
                     headers={"Retry-After": "5"})
    deps.set_sending_paused(paused)
    who = request[SESSION].pos_id
    message = ("Sending paused: invoices are still received and kept, and go out when you "
               "resume." if paused else "Sending resumed.")
    return success(200, f"{message} (by POS {who})", _sending(request))


async def overview(request: web.Request) -> web.Response:
    """GET /api/dashboard/overview: what the first page shows."""
    deps = request.app[DEPS]
    store = deps.store
    now = time.time()
    today = dt.date.today()
    first_day = today - dt.timedelta(days=CHART_DAYS - 1)
    summary = await store.summary()
    today_only = InvoiceFilter(date_from=today.isoformat(), date_to=today.isoformat())
    sales_today = await store.totals(today_only)
    daily = await store.per_period(
        InvoiceFilter(date_from=first_day.isoformat(), date_to=today.isoformat()), "day")
    hourly = await store.per_period(today_only, "hour")
    problems = await store.problems()
    sending = deps.forwarder_status()
    counts = summary.counts
    pending = sum(counts.get(s, 0) for s in ("queued", "sending", "held"))
    return success(200, _headline(counts, pending, sending.paused), {
        "today": today.isoformat(),
        "sales_today": totals_data(sales_today),
        "counts": counts,
        "pending": pending,
        "oldest_pending_at": wire_time(summary.oldest_pending_at),
        "oldest_pending_age_s": _age(summary.oldest_pending_at, now),
        "last_successful_sync": wire_time(summary.last_synced_at),
        "last_successful_sync_age_s": _age(summary.last_synced_at, now),
        "upstream": {"name": deps.upstream_name, "url": deps.upstream_url,
                     "reachable": sending.reachable, "last_error": sending.last_error,
                     "next_try_in_s": sending.next_try_in, "sending_paused": sending.paused,
                     "in_flight": sending.in_flight},
        "practice": deps.practice,
        "authority": dashboard_kenya.authority(request),
        "held_pos": [{"pos_id": p.pos_id, "reason": p.held_reason, "since": wire_time(p.held_at)}
                     for p in summary.held],
        "problems": [{"state": state.value, "reason": reason, "count": n}
                     for state, reason, n in problems],
        "daily": [{"day": day} | totals_data(daily.get(day, Totals()))
                  for day in _days(first_day, today)],
        "hourly": [{"hour": hour} | totals_data(hourly.get(f"{today.isoformat()} {hour:02d}",
                                                           Totals()))
                   for hour in range(24)],
    })


def _headline(counts: dict[str, int], pending: int, paused: bool) -> str:
    if not any(counts.values()):
        return "No invoices yet: they appear here as soon as the till sends one."
    if counts.get("held") or counts.get("rejected"):
        return "Some invoices need your attention."
    if paused:
        return "Sending is paused; invoices are kept until you resume."
    if pending:
        return f"{pending} invoice(s) waiting to be sent."
    return "All invoices are sent."


def _days(first: dt.date, last: dt.date) -> list[str]:
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _age(timestamp: float | None, now: float) -> float | None:
    return None if timestamp is None else round(max(0.0, now - timestamp), 1)


async def retry_all(request: web.Request) -> web.Response:
    """POST /api/dashboard/retry {states: ["rejected", "held"]}: after a fix (say, the key
    corrected in setup, or the invoice data fixed with the authority), send them all again."""
    deps = request.app[DEPS]
    try:
        body = await json_object(request)
    except BadJson as bad:
        return error(bad.status, bad.message, bad.errors)
    states = body.get("states", list(RETRYABLE))
    if (not isinstance(states, list) or not states
            or not all(isinstance(s, str) and s in RETRYABLE for s in states)):
        return error(400, "Say which invoices to retry: rejected, held or both.",
                     {"states": 'must be a non-empty list of "rejected" and/or "held"'})
    requeued, released = await deps.store.retry_all(
        sorted(set(states)), f"from the dashboard (signed in as POS {request[SESSION].pos_id})")
    if requeued:
        deps.invoice_saved()  # wake the forwarder
    if not requeued and not released:
        message = "There was nothing to retry."
    else:
        message = f"{requeued} invoice(s) will be sent again now."
        if released:
            message += f" POS {', '.join(released)} may send again."
    return success(200, message, {"requeued": requeued, "released_pos": released})
