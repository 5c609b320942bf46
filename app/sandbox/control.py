"""The KPRA sandbox's plain-HTTP port: /_sandbox/ control routes, 403 for everything else.

Like the live API, the sandbox refuses plain HTTP ("HTTPS required"); the same port lets
tests and developers inspect invoices and arm faults:

    GET  /_sandbox                  status: endpoint, CA file, duplicates mode, faults,
                                    chaos faults dealt so far
    GET  /_sandbox/invoices         every accepted invoice, oldest first
    GET|POST /_sandbox/faults       fault plan (POST applies changes; "down" too)
    POST /_sandbox/credentials      {"ntn", "pos_id", "key"}: register a key
    GET|POST /_sandbox/duplicates   {"mode": "reject" | "ignore"}
    GET|POST /_sandbox/down         {"down": true | false}: simulate an outage
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from app.sandbox.rules import json_response
from app.sandbox.server import ControlRoutes

if TYPE_CHECKING:
    from app.sandbox.kpra import KpraSandbox


def control_app(sandbox: KpraSandbox) -> web.Application:
    """The plain-HTTP application driving `sandbox` through its Python API."""
    control = _Control(sandbox)
    return control.app([
        web.get("/_sandbox/invoices", control.invoices),
        web.post("/_sandbox/credentials", control.credentials),
        web.get("/_sandbox/duplicates", control.duplicates),
        web.post("/_sandbox/duplicates", control.duplicates),
    ])


class _Control(ControlRoutes):
    """The /_sandbox/ route handlers for one sandbox (faults and down: server.py)."""

    sandbox: KpraSandbox

    async def status(self, request: web.Request) -> web.Response:
        sandbox = self.sandbox
        status = {
            "endpoint_url": sandbox.endpoint_url,
            "ca_file": str(sandbox.ca_file),
            "duplicates": sandbox.duplicates,
            "faults": sandbox.faults.snapshot(),
            "chaos_dealt": sandbox.faults.dealt(),
            "total_requests": sandbox.total_requests,
            "connections_seen": sandbox.connections_seen,
        }
        return json_response(status)

    async def invoices(self, request: web.Request) -> web.Response:
        invoices = [
            {
                "pos_id": r.pos_id,
                "invoice_no": r.invoice_no,
                "transaction_id": r.transaction_id,
                "received_count": r.received_count,
                "fields": dict(r.fields),
            }
            for r in sorted(self.sandbox.records().values(), key=lambda r: r.transaction_id)
        ]
        return json_response({"invoices": invoices, "total_requests": self.sandbox.total_requests})

    async def credentials(self, request: web.Request) -> web.Response:
        body = await self.body(request)
        values = [body.get(name) for name in ("ntn", "pos_id", "key")]
        if not all(isinstance(v, str) and v for v in values):
            return self.error("ntn, pos_id and key must be non-empty strings")
        self.sandbox.add_credentials(*values)
        return json_response({"ntn": values[0], "pos_id": values[1]})

    async def duplicates(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.sandbox.duplicates = (await self.body(request)).get("mode")
            except ValueError as exc:
                return self.error(str(exc))
        return json_response({"mode": self.sandbox.duplicates})
