"""Builds the aiohttp application: routes and middlewares, in a deliberate order."""

from aiohttp import web

from app.server import invoice_api, openapi, security, status_api
from app.server.deps import ServerDeps
from app.server.invoice_api import DEPS, MAX_BODY
from app.server.responses import error_shape


def make_app(deps: ServerDeps) -> web.Application:
    # error_shape is outermost, so every answer (including aiohttp's own 404/405/413) has the
    # one JSON error shape. Then the localhost security checks (security.py), before any route.
    policy = deps.security or security.SecurityPolicy.build("127.0.0.1")
    app = web.Application(middlewares=[error_shape, security.middleware(policy)],
                          client_max_size=MAX_BODY)
    app[DEPS] = deps
    app.router.add_post("/api/invoice", invoice_api.post_invoice)
    app.router.add_get("/api/invoices/{pos_id}/{invoice_no:.+}", status_api.invoice_status)
    app.router.add_get("/api/health", status_api.health)
    app.router.add_get("/api/qr", status_api.qr_code)
    app.router.add_get("/", status_api.home)
    app.router.add_get("/api/openapi.json", openapi.openapi_document)
    return app
