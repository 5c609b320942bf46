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

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from app.sandbox.rules import answer, json_response

if TYPE_CHECKING:
    from app.sandbox.kpra import KpraSandbox


def control_app(sandbox: KpraSandbox) -> web.Application:
    """The plain-HTTP application driving `sandbox` through its Python API."""
    control = _Control(sandbox)
    app = web.Application()
    routes = [
        web.get("/_sandbox", control.status),
        web.get("/_sandbox/invoices", control.invoices),
        web.get("/_sandbox/faults", control.faults),
        web.post("/_sandbox/faults", control.faults),
        web.post("/_sandbox/credentials", control.credentials),
        web.get("/_sandbox/duplicates", control.duplicates),
        web.post("/_sandbox/duplicates", control.duplicates),
        web.get("/_sandbox/down", control.down),
        web.post("/_sandbox/down", control.down),
        web.route("*", "/{tail:.*}", _https_required),
    ]
    app.router.add_routes(routes)
    return app


class _Control:
    """The /_sandbox/ route handlers for one sandbox."""

    def __init__(self, sandbox: KpraSandbox) -> None:
        self.sandbox = sandbox

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

    async def faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            changes = await _control_body(request)
            down = changes.pop("down", None)
            if down is not None and not isinstance(down, bool):
                return json_response({"error": "down: must be true or false"}, 400)
            try:
                self.sandbox.faults.apply(changes)
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
            if down is not None or changes.get("reset") is True:
                await self.sandbox.set_down(bool(down))
        return json_response(self.sandbox.faults.snapshot())

    async def credentials(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        values = [body.get(name) for name in ("ntn", "pos_id", "key")]
        if not all(isinstance(v, str) and v for v in values):
            return json_response({"error": "ntn, pos_id and key must be non-empty strings"}, 400)
        self.sandbox.add_credentials(*values)
        return json_response({"ntn": values[0], "pos_id": values[1]})

    async def duplicates(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.sandbox.duplicates = (await _control_body(request)).get("mode")
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response({"mode": self.sandbox.duplicates})

    async def down(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            down = (await _control_body(request)).get("down")
            if not isinstance(down, bool):
                return json_response({"error": "down: must be true or false"}, 400)
            await self.sandbox.set_down(down)
        return json_response({"down": self.sandbox.down})


async def _control_body(request: web.Request) -> dict[str, Any]:
    """A control route's JSON object body (empty body = {}), or a 400."""
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = json.dumps({"error": "body must be a JSON object"})
        raise web.HTTPBadRequest(text=text, content_type="application/json")
    return body


async def _https_required(request: web.Request) -> web.Response:
    return answer(403, "HTTPS required")
