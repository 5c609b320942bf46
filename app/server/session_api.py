"""Dashboard sign-in: POST /api/session (sign in with POS ID + key), GET /api/session (who is
signed in), DELETE /api/session (sign out); and ``session_guard``, the middleware every
dashboard API route stands behind.

The rules, in one place (``session_guard``):
- every request under ``/api/dashboard/`` needs a live session (cookie ``rims_session``), or it
  is answered 401 before any route runs;
- every state-changing one (anything but GET, HEAD, OPTIONS) there, and sign-out, must also
  carry the session's CSRF token in the ``X-CSRF-Token`` header (403 otherwise). The token is
  handed out at sign-in and by GET /api/session, which only this utility's own pages can read
  (no CORS). Sign-in itself has no session yet: security.py's cross-site refusal (Origin,
  Sec-Fetch-Site) and the JSON-only body keep other web sites from signing a browser in;
- the answers carry ``Cache-Control: no-store``.

The POS API (/api/invoice) needs no session: a POS authenticates every request with its key.

Sign-in checks the POS ID and key against the configured POSes (the same ones `rims-utility
setup` stored in the OS keyring; in practice mode also the seed's test user), in constant time.
Failed sign-ins are throttled per client with their own counter (``ServerDeps.signin_throttle``):
a till with a wrong key must not lock the shopkeeper out of the dashboard that would tell them.
Session tokens are never logged; sessions live in memory only (a restart signs everyone out)."""

import logging
import math

from aiohttp import web

from app.domain.auth import CredentialTable, credentials_match
from app.domain.invoice import wire_time
from app.domain.validation import MAX_ID, MAX_KEY
from app.server.invoice_api import DEPS
from app.server.json_body import BadJson, json_object
from app.server.responses import Handler, error, success
from app.server.security import SAFE_METHODS
from app.server.sessions import Session
from app.server.throttle import client_key

log = logging.getLogger(__name__)

COOKIE = "rims_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_PATH = "/api/session"
TICKET_PATH = "/api/session/ticket"  # + /{ticket}: the tray app's one-time sign-in
DASHBOARD_PREFIX = "/api/dashboard/"
GUARDED = (SESSION_PATH, DASHBOARD_PREFIX)  # security.py leaves their throttling to us
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SESSION = web.RequestKey("rims_session", Session)


def _session_data(session: Session, now: float) -> dict[str, object]:
    return {"pos_id": session.pos_id, "expires_at": wire_time(session.expires_at),
            "expires_in_s": max(0, round(session.expires_at - now)),
            "csrf_token": session.csrf_token}


def _not_signed_in(request: web.Request) -> web.Response:
    response = error(401, "Not signed in, or the session has ended (after 12 hours, on sign-out "
                          "or when the utility restarted). Sign in again at /login.html.",
                     {"session": "no valid session"})
    if COOKIE in request.cookies:
        _clear_cookie(response)
    return response


def _clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict")


@web.middleware
async def session_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if not (path == SESSION_PATH or path.startswith(DASHBOARD_PREFIX)):
        return await handler(request)
    deps = request.app[DEPS]
    state_changing = request.method not in SAFE_METHODS
    if path == SESSION_PATH and (request.method == "POST" or not state_changing):
        response = await handler(request)  # sign-in (no session yet); GET answers for itself
    else:
        session = deps.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            response = _not_signed_in(request)
        elif state_changing and not deps.sessions.csrf_ok(session,
                                                          request.headers.get(CSRF_HEADER)):
            response = error(403, "Refused: this request did not carry the dashboard's CSRF "
                                  f"token (header {CSRF_HEADER}). Reload the page and try again.",
                             {"csrf": f"{CSRF_HEADER} is missing or does not match this session"})
        else:
            request[SESSION] = session
            response = await handler(request)
    response.headers.update(NO_STORE)
    return response


def _credentials(body: dict[str, object]) -> tuple[str, str, dict[str, str]]:
    errors, values = {}, {}
    for name, label, limit in (("pos_id", "POS ID", MAX_ID), ("key", "Key", MAX_KEY)):
        value = body.get(name)
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            errors[name] = f"{label} is required"
        elif len(text) > limit:
            errors[name] = f"{label} is at most {limit} characters"
        values[name] = text
    return values["pos_id"], values["key"], errors


async def sign_in(request: web.Request) -> web.Response:
    """POST /api/session {pos_id, key}"""
    deps = request.app[DEPS]
    client = client_key(request.remote)
    wait = deps.signin_throttle.retry_after(client)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        return error(429, f"Too many wrong sign-ins from this computer. Wait {seconds} s, then "
                          "try again with the POS ID and key set up for this utility.",
                     {"key": "too many failed sign-ins from this address"},
                     headers={"Retry-After": str(seconds)})
    try:
        body = await json_object(request)
    except BadJson as bad:
        return error(bad.status, bad.message, bad.errors)
    pos_id, key, errors = _credentials(body)
    if errors:
        return error(400, "Enter the POS ID and the key.", errors)
    if not _matches(deps.auth.table(), pos_id, key) and not (
            await deps.auth.reload() and _matches(deps.auth.table(), pos_id, key)):
        if deps.signin_throttle.failed(client):
            log.warning("%d wrong dashboard sign-ins from %s: its sign-ins are refused for %g s",
                        deps.signin_throttle.max_failures, client, deps.signin_throttle.cooling)
        return error(401, "This POS ID and key do not match a POS set up in this utility. Use "
                          "the same POS ID and key you entered in `rims-utility setup` (or the "
                          "setup window).", {})
    old = request.cookies.get(COOKIE)
    if old:
        deps.sessions.end(old)
    new = deps.sessions.create(pos_id)
    log.info("dashboard: signed in as POS %s", pos_id)
    now = deps.sessions.clock()
    response = success(200, f"Signed in as POS {pos_id}.", _session_data(new.session, now))
    response.set_cookie(COOKIE, new.token, max_age=max(1, int(deps.sessions.lifetime)),
                        path="/", httponly=True, samesite="Strict")
    return response


def _matches(table: CredentialTable, pos_id: str, key: str) -> bool:
    """The POS ID identifies the POS (its NTN is not asked for); the key is compared in
    constant time (domain/auth.py)."""
    entry = table.get(pos_id)
    ntn = entry[0] if entry is not None else ""
    return credentials_match(table, ntn, pos_id, key)


async def redeem_ticket(request: web.Request) -> web.Response:
    """GET /api/session/ticket/{ticket}: the tray app's "Open dashboard" link. A live ticket
    (one use, one minute; sessions.issue_ticket) becomes a session cookie and a redirect to the
    dashboard; anything else goes to the sign-in page. A GET that signs in is safe here only
    because the ticket is 256 random bits that only this process hands out, to its own tray."""
    deps = request.app[DEPS]
    new = deps.sessions.redeem_ticket(request.match_info["ticket"])
    if new is None:
        raise web.HTTPSeeOther("/login.html", headers=NO_STORE)
    log.info("dashboard: signed in as POS %s from the tray app", new.session.pos_id)
    response = web.HTTPSeeOther("/dashboard.html", headers=NO_STORE)
    response.set_cookie(COOKIE, new.token, max_age=max(1, int(deps.sessions.lifetime)),
                        path="/", httponly=True, samesite="Strict")
    raise response


async def current_session(request: web.Request) -> web.Response:
    """GET /api/session"""
    deps = request.app[DEPS]
    session = deps.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return _not_signed_in(request)
    return success(200, f"Signed in as POS {session.pos_id}.",
                   _session_data(session, deps.sessions.clock()))


async def sign_out(request: web.Request) -> web.Response:
    """DELETE /api/session (the guard has checked the session and the CSRF token)."""
    deps = request.app[DEPS]
    deps.sessions.end(request.cookies.get(COOKIE))
    log.info("dashboard: POS %s signed out", request[SESSION].pos_id)
    response = success(200, "Signed out.", {})
    _clear_cookie(response)
    return response
