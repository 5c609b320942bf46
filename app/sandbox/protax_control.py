"""The ProTax sandbox's plain-HTTP port: /_sandbox/ control routes, 403 for everything else.

    GET  /_sandbox              status: base_url, ca_file, default key, faults, chaos dealt,
                                settings, connections_seen, requests per endpoint, counts
    GET|POST /_sandbox/faults   the fault plan (faults.py, the same as KPRA's; "down" too)
    GET|POST /_sandbox/down     {"down": true | false}: the whole sandbox out / back
    GET|POST /_sandbox/settings {"etims_down", "processing_next", "processing_polls",
                                "processing_seconds", "processing_outcome", "rate_limit_rps",
                                "strict_pins"}
    GET  /_sandbox/records      everything the account holds, by kind
    POST /_sandbox/keys         {"key": "ptx_test_…"}: accept another API key
    POST /_sandbox/pins         {"pin", "name"}: add a PIN to the customer registry
    POST /_sandbox/next-ids     {"ids": ["inv_xyz789", …]}: ids the next objects take
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from app.sandbox.rules import json_response

if TYPE_CHECKING:
    from app.sandbox.protax import ProTaxSandbox

_OUTCOMES = ("SIGNED", "REJECTED")


def check_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validated settings changes; ValueError names the first bad field."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("etims_down", "strict_pins"):
            if not isinstance(value, bool):
                raise ValueError(f"{name}: must be true or false")
        elif name == "processing_outcome":
            if value not in _OUTCOMES:
                raise ValueError(f"processing_outcome: must be one of {', '.join(_OUTCOMES)}")
        elif name in ("processing_next", "processing_polls"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: must be a whole number >= 0")
        elif name in ("processing_seconds", "rate_limit_rps"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a number >= 0")
            value = float(value)
        else:
            raise ValueError(f"{name}: unknown setting")
        checked[name] = value
    return checked


def control_app(sandbox: ProTaxSandbox) -> web.Application:
    """The plain-HTTP application driving `sandbox` through its Python API."""
    control = _Control(sandbox)
    app = web.Application()
    app.router.add_routes([
        web.get("/_sandbox", control.status),
        web.get("/_sandbox/records", control.records),
        web.get("/_sandbox/faults", control.faults),
        web.post("/_sandbox/faults", control.faults),
        web.get("/_sandbox/down", control.down),
        web.post("/_sandbox/down", control.down),
        web.get("/_sandbox/settings", control.settings),
        web.post("/_sandbox/settings", control.settings),
        web.post("/_sandbox/keys", control.keys),
        web.post("/_sandbox/pins", control.pins),
        web.post("/_sandbox/next-ids", control.next_ids),
        web.route("*", "/{tail:.*}", _https_required),
    ])
    return app


class _Control:
    def __init__(self, sandbox: ProTaxSandbox) -> None:
        self.sandbox = sandbox

    async def status(self, request: web.Request) -> web.Response:
        from app.sandbox.protax import DEFAULT_KEY

        sandbox = self.sandbox
        return json_response({
            "base_url": sandbox.base_url,
            "ca_file": str(sandbox.ca_file),
            "default_key": DEFAULT_KEY,
            "faults": sandbox.faults.snapshot(),
            "chaos_dealt": sandbox.faults.dealt(),
            "settings": sandbox.settings,
            "connections_seen": sandbox.connections_seen,
            "in_flight": sandbox.in_flight,
            "total_requests": sandbox.total_requests,
            "requests": sandbox.requests,
            "received": sandbox.state.counts,
        })

    async def records(self, request: web.Request) -> web.Response:
        records = self.sandbox.records()
        for hook in records["webhook"]:
            hook.pop("secret", None)
        return json_response(records)

    async def faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            changes = await _control_body(request)
            down = changes.pop("down", None)
            if down is not None and not isinstance(down, bool):
                return _error("down: must be true or false")
            try:
                self.sandbox.faults.apply(changes)
            except ValueError as exc:
                return _error(str(exc))
            if down is not None or changes.get("reset") is True:
                await self.sandbox.set_down(bool(down))
        return json_response(self.sandbox.faults.snapshot())

    async def down(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            down = (await _control_body(request)).get("down")
            if not isinstance(down, bool):
                return _error("down: must be true or false")
            await self.sandbox.set_down(down)
        return json_response({"down": self.sandbox.down})

    async def settings(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.sandbox.apply_settings(await _control_body(request))
            except ValueError as exc:
                return _error(str(exc))
        return json_response(self.sandbox.settings)

    async def keys(self, request: web.Request) -> web.Response:
        key = (await _control_body(request)).get("key")
        try:
            self.sandbox.add_key(key)
        except ValueError as exc:
            return _error(str(exc))
        return json_response({"added": True})

    async def pins(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        pin, name = body.get("pin"), body.get("name")
        if not (isinstance(pin, str) and pin and isinstance(name, str) and name):
            return _error("pin and name must be non-empty strings")
        self.sandbox.add_pin(pin, name)
        return json_response({"pin": pin, "name": name})

    async def next_ids(self, request: web.Request) -> web.Response:
        ids = (await _control_body(request)).get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) and "_" in i for i in ids):
            return _error("ids must be a list of ids such as inv_xyz789")
        self.sandbox.reserve_ids(*ids)
        return json_response({"reserved": list(self.sandbox.state.reserved)})


def _error(message: str) -> web.Response:
    return json_response({"error": {"code": "bad_control_request", "message": message}}, 400)


async def _control_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = json.dumps({"error": {"code": "bad_control_request",
                                     "message": "body must be a JSON object"}})
        raise web.HTTPBadRequest(text=text, content_type="application/json")
    return body


async def _https_required(request: web.Request) -> web.Response:
    return json_response({"error": {"code": "https_required", "message": "HTTPS required"}},
                         403)
