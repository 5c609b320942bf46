"""A faithful local stand-in for ProTax API v2 (seed 004), Kenya eTIMS through ProTax.

"Practice mode" (`upstream = protax`) and our tests talk to this instead of
https://sandbox.protax.co.ke/api/v2: real HTTPS (own CA, see tls.py) at
`https://127.0.0.1:PORT/api/v2`, every documented endpoint (protax_api.py), the account's
records in data_dir/protax.json (protax_state.py), KPRA's fault plan (faults.py) and a
plain-HTTP control port (protax_control.py, /_sandbox routes).

Authentication: header `X-API-Key`. Accepted out of the box: DEFAULT_KEY
"ptx_test_sandbox_key_0001"; more with `add_key` or POST /_sandbox/keys. Keys must start
`ptx_test_` (/health says environment "sandbox") or `ptx_live_` ("production"). All keys
share one account. A fresh data_dir holds the document's example item `itm_abc123`
(`examples=False` leaves it out), so the document's requests work as written.

Simulated KRA eTIMS (settings, POST /_sandbox/settings): `etims_down` (invoices with
offline_mode true are QUEUED, then signed when it is back; without it 503), `processing_next`
N (the next N invoices answer PROCESSING and finish after `processing_polls` GETs of
/invoices/{id} or `processing_seconds`, as `processing_outcome` SIGNED or REJECTED), and
`rate_limit_rps` (per-key requests per second, 0 = off; over it: 429 with Retry-After),
`strict_pins` (a customer_pin outside the PIN registry is rejected 422; default off: only a
malformed PIN is). Settings are not kept across restarts; QUEUED invoices are signed at start.
The QR links (`qr_code_url`) point at this sandbox's own https://…/qr/<id> receipt page.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from app.sandbox.faults import Fault, FaultDecision
from app.sandbox.protax_api import Api, counted_key, routes
from app.sandbox.protax_control import check_settings, control_app
from app.sandbox.protax_rules import read_json, receipt_page
from app.sandbox.protax_state import STATE_FILE, ApiError, State
from app.sandbox.rules import json_response
from app.sandbox.server import SandboxServer

__all__ = ["DEFAULT_KEY", "ProTaxSandbox"]

log = logging.getLogger(__name__)

BASE_PATH = "/api/v2"
DEFAULT_KEY = "ptx_test_sandbox_key_0001"
KEY_PREFIXES = ("ptx_test_", "ptx_live_")
DEFAULT_SETTINGS: dict[str, Any] = {
    "etims_down": False,
    "processing_next": 0,
    "processing_polls": 2,
    "processing_seconds": 0.0,
    "processing_outcome": "SIGNED",
    "rate_limit_rps": 0.0,
    "strict_pins": False,
}


class ProTaxSandbox(SandboxServer):
    """The fake ProTax: an HTTPS API, a plain-HTTP control port, an account and faults."""

    def __init__(self, data_dir: Path, *, keys: list[str] | None = None,
                 examples: bool = True) -> None:
        super().__init__(data_dir)
        self._keys: set[str] = set()
        for key in [DEFAULT_KEY] if keys is None else keys:
            self.add_key(key)
        self.state = State(self.data_dir / STATE_FILE, examples=examples)
        self._settings = dict(DEFAULT_SETTINGS)
        self._api = Api(self)
        self._routes = routes(self._api)
        self._windows: dict[str, list[float]] = {}

    # -- Python API (server.py: ports, URLs, outages, connection counts) ----------------

    def add_key(self, key: str) -> None:
        """Accept another API key (`ptx_test_…` or `ptx_live_…`)."""
        if not isinstance(key, str) or not key.startswith(KEY_PREFIXES) or len(key) <= 9:
            raise ValueError("an API key starts ptx_test_ or ptx_live_")
        self._keys.add(key)

    def add_pin(self, pin: str, name: str) -> None:
        """Add a PIN to the registry GET /customers looks in."""
        self.state.pins[pin] = name
        self.state.save()

    def reserve_ids(self, *ids: str) -> None:
        """The next objects of each id's prefix (inv_, cn_, itm_, adj_, wh_) take these ids."""
        self.state.reserved.extend(ids)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def apply_settings(self, changes: Mapping[str, Any]) -> None:
        """Change eTIMS / rate settings (all-or-nothing; ValueError names a bad field).
        Bringing eTIMS back signs every QUEUED invoice."""
        checked = check_settings(changes)
        self._settings.update(checked)
        if not self._settings["etims_down"]:
            self.state.release_queue()

    @property
    def etims_down(self) -> bool:
        return bool(self._settings["etims_down"])

    @etims_down.setter
    def etims_down(self, down: bool) -> None:
        self.apply_settings({"etims_down": down})

    def take_processing(self) -> bool:
        """Consume one unit of `processing_next` (True = this invoice answers PROCESSING)."""
        if self._settings["processing_next"] > 0:
            self._settings["processing_next"] -= 1
            return True
        return False

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Everything the account holds by kind: invoice, credit_note, item, stock, webhook."""
        return self.state.records()

    def received_count(self, kind: str, key: str) -> int:
        """How many POSTs for (kind, key) reached the API, whatever the answer: ("invoice",
        invoice_number), ("credit_note", original_invoice_id), ("item", item_name),
        ("stock", reference or item_id), ("webhook", url)."""
        return self.state.counts.get(kind, {}).get(key, 0)

    def recorded_count(self, kind: str, key: str) -> int:
        """How many records of `kind` the account keeps under `key` (the keys of
        `received_count`; invoices: those holding the number, i.e. not REJECTED)."""
        state = self.state
        if kind == "invoice":
            return sum(1 for inv in state.invoices.values()
                       if inv["invoice_number"] == key and inv["status"] != "REJECTED")
        if kind == "credit_note":
            return sum(1 for cn in state.credit_notes.values() if cn["original_invoice_id"] == key)
        if kind == "item":
            return sum(1 for item in state.items.values() if item["item_name"] == key)
        if kind == "stock":
            return sum(1 for move in state.stock if move["source"] == "manual"
                       and key in (move["reference"], move["item_id"]))
        if kind == "webhook":
            return sum(1 for hook in state.webhooks.values() if hook["url"] == key)
        raise ValueError(f"unknown kind {kind!r}")

    @property
    def requests(self) -> dict[str, int]:
        """Requests that reached the API per endpoint, e.g. {"POST /invoices": 3}."""
        return dict(self.state.requests)

    @property
    def total_requests(self) -> int:
        return self.state.total_requests

    @property
    def base_url(self) -> str:
        return self.origin + BASE_PATH

    def qr_url(self, document_id: str) -> str:
        return f"{self.origin}/qr/{document_id}" if self._ports else f"/qr/{document_id}"

    # -- the API (HTTPS) --------------------------------------------------------------

    def _https_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", BASE_PATH + "/{tail:.*}", self._counted_endpoint)
        app.router.add_get("/qr/{id}", self._qr_page)
        return app

    def _control_app(self) -> web.Application:
        return control_app(self)

    def _on_start(self) -> None:
        """QUEUED invoices are signed at start unless eTIMS is (still) set down."""
        if not self.etims_down:
            self.state.release_queue()

    async def _counted_endpoint(self, request: web.Request) -> web.StreamResponse:
        """Faults first, then route, parse, authenticate, rate-limit, handle."""
        return await self._counted(
            request, functools.partial(self._faulted, arrive=self._arrive, respond=self._answer))

    def _route(self, method: str, path: str) -> tuple[str, Any, str]:
        """(endpoint name, handler, id) for a request; ApiError 404/405 otherwise."""
        allowed = []
        for route_method, pattern, name, handler in self._routes:
            match = pattern.fullmatch(path)
            if match:
                if route_method == method:
                    return name, handler, match.group(1) if pattern.groups else ""
                allowed.append(route_method)
        if allowed:
            raise ApiError(405, "method_not_allowed", f"Use {' or '.join(allowed)}.",
                           extra={"allow": ", ".join(allowed)})
        raise ApiError(404, "not_found", f"No endpoint {method} {BASE_PATH}{path}.")

    async def _arrive(self, request: web.Request) -> Any:
        """(endpoint, handler, id, body, problem) of a request, counted; an unknown route or
        method is answered at once (404/405)."""
        path = "/" + request.match_info["tail"].rstrip("/")
        try:
            endpoint, handler, doc_id = self._route(request.method, path)
        except ApiError as error:
            headers = {"Allow": error.extra.pop("allow")} if "allow" in error.extra else None
            return json_response(error.body(), error.status, headers)
        body, problem = await read_json(request)
        self.state.note_request(endpoint, *counted_key(endpoint, body))
        return endpoint, handler, doc_id, body, problem

    async def _answer(self, request: web.Request, decision: FaultDecision,
                      arrival: tuple[str, Any, str, Any, str | None]) -> web.Response:
        endpoint, handler, doc_id, body, problem = arrival
        fault, headers = decision.fault, None
        try:
            if fault is Fault.FAIL:
                raise ApiError(500, "internal_error",
                               "Internal error. Contact ProTax support with the invoice ID.")
            key = request.headers.get("X-API-Key", "")
            if fault is Fault.UNAUTHORIZED or key not in self._keys:
                raise ApiError(401, "unauthorized", "Invalid or missing X-API-Key.")
            if fault is Fault.RATE_LIMIT:
                headers = {"Retry-After": decision.retry_after_header}
            elif self._over_budget(key):
                headers = {"Retry-After": "1"}  # the window is one second
            if headers:
                raise ApiError(429, "rate_limited", "Too many requests; retry after "
                               f"{headers['Retry-After']} s.")
            if problem is not None:
                raise ApiError(400, "invalid_body", problem)
            if fault is Fault.REJECT and endpoint == "POST /invoices":
                status, payload = await self._api.create_invoice(
                    key, body, request.query, doc_id, force_reject=True)
            elif fault is Fault.REJECT:
                raise ApiError(422, "kra_rejected", "KRA eTIMS rejected the request.",
                               extra={"rejection_reason": "practice sandbox: reject_next"})
            else:
                status, payload = await handler(key, body, request.query, doc_id)
        except ApiError as error:
            return json_response(error.body(), error.status, headers)
        except Exception:  # a sandbox bug still answers in the API's shape
            log.exception("ProTax sandbox: %s failed", endpoint)
            error = ApiError(500, "internal_error", "Internal error (practice sandbox).")
            return json_response(error.body(), 500)
        return json_response(payload, status)

    def _over_budget(self, key: str) -> bool:
        """True when this key has used its `rate_limit_rps` in the last second (else the
        request is counted against it)."""
        rps = float(self._settings["rate_limit_rps"])
        if rps <= 0:
            return False
        now = time.monotonic()
        window = [t for t in self._windows.get(key, []) if now - t < 1.0]
        self._windows[key] = window
        if len(window) >= rps:
            return True
        window.append(now)
        return False

    async def _qr_page(self, request: web.Request) -> web.Response:
        """The receipt page a `qr_code_url` opens."""
        try:
            doc = self.state.document(request.match_info["id"])
        except ApiError:
            return web.Response(status=404, text="<h1>Not found</h1>", content_type="text/html")
        return web.Response(text=receipt_page(doc), content_type="text/html")

