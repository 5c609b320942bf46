"""Builds the aiohttp application: routes and middlewares, in a deliberate order."""

from aiohttp import web

from app.server import (
    dashboard_api,
    dashboard_kenya,
    exports_api,
    invoice_api,
    invoices_api,
    kenya_api,
    pages,
    reports_api,
    security,
    session_api,
    status_api,
)
from app.server.deps import ServerDeps
from app.server.invoice_api import DEPS, MAX_BODY
from app.server.responses import error_shape


def make_app(deps: ServerDeps) -> web.Application:
    # error_shape is outermost, so every answer (including aiohttp's own 404/405/413) has the
    # one JSON error shape. Then the localhost security checks (security.py), before any route;
    # then the dashboard's session and CSRF checks (session_api.py; they throttle their own
    # failed sign-ins, so security.py's key-guessing throttle leaves those paths alone).
    policy = deps.security or security.SecurityPolicy.build("127.0.0.1")
    app = web.Application(middlewares=[error_shape,
                                       security.middleware(policy, session_api.GUARDED),
                                       session_api.session_guard],
                          client_max_size=MAX_BODY)
    app[DEPS] = deps
    app.router.add_post("/api/invoice", invoice_api.post_invoice)
    for path, handler in kenya_api.HANDLERS.items():  # Kenya mode (docs/KENYA.md)
        app.router.add_post(path, handler)
    app.router.add_get("/api/invoices/{pos_id}/{invoice_no:.+}", status_api.invoice_status)
    app.router.add_get("/api/health", status_api.health)
    app.router.add_get("/api/qr", status_api.qr_code)
    app.router.add_get("/", status_api.home)
    app.router.add_get("/api/openapi.json", _openapi_document)
    # The dashboard: its pages, and its JSON API (every /api/dashboard/ route needs a session).
    for path in pages.PAGES:
        app.router.add_get(path, pages.page)
    app.router.add_get("/web/{name}", pages.asset)
    app.router.add_get("/favicon.ico", pages.favicon)
    app.router.add_post(session_api.SESSION_PATH, session_api.sign_in)
    app.router.add_get(session_api.SESSION_PATH, session_api.current_session)
    app.router.add_delete(session_api.SESSION_PATH, session_api.sign_out)
    app.router.add_get(session_api.TICKET_PATH + "/{ticket}", session_api.redeem_ticket)
    app.router.add_get("/api/dashboard/sending", dashboard_api.get_sending)
    app.router.add_post("/api/dashboard/sending", dashboard_api.set_sending)
    app.router.add_get("/api/dashboard/overview", dashboard_api.overview)
    app.router.add_post("/api/dashboard/retry", dashboard_api.retry_all)
    app.router.add_get("/api/dashboard/pos", invoices_api.pos_ids)
    app.router.add_get("/api/dashboard/invoices", invoices_api.list_invoices)
    app.router.add_get("/api/dashboard/invoices/{invoice_id}", invoices_api.invoice)
    app.router.add_post("/api/dashboard/invoices/{invoice_id}/retry", invoices_api.retry_invoice)
    app.router.add_get("/api/dashboard/reports/sales", reports_api.sales)
    app.router.add_get("/api/dashboard/reports/reconciliation", reports_api.reconciliation)
    app.router.add_get("/api/dashboard/charts/daily.svg", reports_api.daily_chart)
    app.router.add_get("/api/dashboard/charts/hourly.svg", reports_api.hourly_chart)
    app.router.add_get("/api/dashboard/export/{name}.{format}", exports_api.export)
    # Kenya (docs/KENYA.md; answered in every mode): the authority, ProTax's customer PIN
    # look-up, the per-band tax report, and the QR of a signed invoice's receipt link.
    app.router.add_get("/api/dashboard/authority", dashboard_kenya.get_authority)
    app.router.add_get("/api/dashboard/customers", dashboard_kenya.lookup_customer)
    app.router.add_get("/api/dashboard/reports/tax-bands", reports_api.tax_bands)
    app.router.add_get("/api/dashboard/invoices/{invoice_id}/receipt-qr.{format}",
                       dashboard_kenya.receipt_qr)
    return app


async def _openapi_document(request: web.Request) -> web.StreamResponse:
    """GET /api/openapi.json: openapi.py is imported on the first request (~1 MB of schema code
    an idle service does not need)."""
    from app.server import openapi

    return await openapi.openapi_document(request)
