"""The KRA Agent sandbox's plain-HTTP port: /_sandbox/ control routes, 403 for everything else.

    GET  /_sandbox                  status: base_url, CA file, faults, chaos dealt,
                                    connections_seen, requests per endpoint, token lifetime,
                                    pending-sales plan
    GET  /_sandbox/records          what was recorded (sales, credit_notes, products,
                                    purchases, stock_io, stock_master), each with request_id
    GET|POST /_sandbox/faults       fault plan (faults.py; POST applies changes, "down" too)
    GET|POST /_sandbox/down         {"down": true | false}: simulate an outage
    GET|POST /_sandbox/token_lifetime   {"seconds": 2}: access tokens issued from now on
    GET|POST /_sandbox/pending_sales    {"count": N, "after_seconds": M, "after_shows": K}
    POST /_sandbox/pos              {"email"?, "company_name"?, "kra_pin"?, ...}: set up a POS
                                    for a user (default: the test user); answers its
                                    client_id and client_secret
    GET  /_sandbox/reset_token?email=   the OTP /auth/forgot-password "sent"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from app.sandbox.kra_agent_store import DEFAULT_EMAIL
from app.sandbox.rules import json_response
from app.sandbox.server import ControlRoutes

if TYPE_CHECKING:
    from app.sandbox.kra_agent import KraAgentSandbox


def control_app(sandbox: KraAgentSandbox) -> web.Application:
    control = _Control(sandbox)
    return control.app([
        web.get("/_sandbox/records", control.records),
        web.route("*", "/_sandbox/token_lifetime", control.token_lifetime),
        web.route("*", "/_sandbox/pending_sales", control.pending_sales),
        web.post("/_sandbox/pos", control.pos),
        web.get("/_sandbox/reset_token", control.reset_token),
    ])


class _Control(ControlRoutes):
    """The KRA Agent's /_sandbox/ handlers (faults and down: server.py)."""

    HTTPS_REQUIRED: ClassVar[dict[str, Any]] = {"status": False, "message": "HTTPS required"}
    ANY_METHOD_READS = True
    sandbox: KraAgentSandbox

    async def status(self, request: web.Request) -> web.Response:
        sandbox = self.sandbox
        return json_response({
            "base_url": sandbox.base_url,
            "ca_file": str(sandbox.ca_file),
            "faults": sandbox.faults.snapshot(),
            "chaos_dealt": sandbox.faults.dealt(),
            "connections_seen": sandbox.connections_seen,
            "total_requests": sandbox.total_requests,
            "requests": sandbox.request_counts(),
            "token_lifetime": sandbox.token_lifetime,
            "pending_sales": sandbox.pending,
        })

    async def records(self, request: web.Request) -> web.Response:
        return json_response(self.sandbox.records())

    async def token_lifetime(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.sandbox.token_lifetime = (await self.body(request)).get("seconds")
            except ValueError as exc:
                return self.error(str(exc))
        return json_response({"seconds": self.sandbox.token_lifetime})

    async def pending_sales(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            body = await self.body(request)
            try:
                self.sandbox.set_pending_sales(body.get("count", 0), body.get("after_seconds"),
                                               body.get("after_shows"))
            except ValueError as exc:
                return self.error(str(exc))
        return json_response(self.sandbox.pending)

    async def pos(self, request: web.Request) -> web.Response:
        body = await self.body(request)
        email = body.pop("email", DEFAULT_EMAIL)
        if not isinstance(email, str) or not all(isinstance(v, str) for v in body.values()):
            return self.error("email and the POS fields must be strings")
        try:
            return json_response(self.sandbox.add_pos(email, **body))
        except (ValueError, TypeError) as exc:
            return self.error(str(exc))

    async def reset_token(self, request: web.Request) -> web.Response:
        email = request.query.get("email", DEFAULT_EMAIL)
        return json_response({"email": email, "token": self.sandbox.reset_token(email)})
