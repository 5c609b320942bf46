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

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from app.sandbox.rules import json_response
from app.sandbox.server import ControlRoutes

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
    return control.app([
        web.get("/_sandbox/records", control.records),
        web.get("/_sandbox/settings", control.settings),
        web.post("/_sandbox/settings", control.settings),
        web.post("/_sandbox/keys", control.keys),
        web.post("/_sandbox/pins", control.pins),
        web.post("/_sandbox/next-ids", control.next_ids),
    ])


class _Control(ControlRoutes):
    """ProTax's /_sandbox/ handlers (faults and down: server.py), errors in its API's shape."""

    HTTPS_REQUIRED: ClassVar[dict[str, Any]] = {
        "error": {"code": "https_required", "message": "HTTPS required"}}
    sandbox: ProTaxSandbox

    def error_payload(self, message: str) -> dict[str, Any]:
        return {"error": {"code": "bad_control_request", "message": message}}

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

    async def settings(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                self.sandbox.apply_settings(await self.body(request))
            except ValueError as exc:
                return self.error(str(exc))
        return json_response(self.sandbox.settings)

    async def keys(self, request: web.Request) -> web.Response:
        key = (await self.body(request)).get("key")
        try:
            self.sandbox.add_key(key)
        except ValueError as exc:
            return self.error(str(exc))
        return json_response({"added": True})

    async def pins(self, request: web.Request) -> web.Response:
        body = await self.body(request)
        pin, name = body.get("pin"), body.get("name")
        if not (isinstance(pin, str) and pin and isinstance(name, str) and name):
            return self.error("pin and name must be non-empty strings")
        self.sandbox.add_pin(pin, name)
        return json_response({"pin": pin, "name": name})

    async def next_ids(self, request: web.Request) -> web.Response:
        ids = (await self.body(request)).get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) and "_" in i for i in ids):
            return self.error("ids must be a list of ids such as inv_xyz789")
        self.sandbox.reserve_ids(*ids)
        return json_response({"reserved": list(self.sandbox.state.reserved)})
