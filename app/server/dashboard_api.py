"""The dashboard's JSON API under /api/dashboard/. Every route here stands behind
session_api.session_guard: a session for everything, its CSRF token for every action."""

from aiohttp import web

from app.server.invoice_api import DEPS
from app.server.json_body import BadJson, json_object
from app.server.responses import error, success
from app.server.session_api import SESSION


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
