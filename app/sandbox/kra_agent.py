"""A faithful local stand-in for the KRA Agent API (Kenya eTIMS through an agent; seed 002).

"Practice mode" and our tests talk to this instead of BASE_URL/kra-agent/api/v1: real HTTPS
(own CA, tls.py), every endpoint of the document with its form fields, headers and answer
shapes, records kept in kra_agent.json (a restart keeps them), and the KPRA sandbox's fault
plan (faults.py) applied to the API routes. A plain-HTTP port carries the /_sandbox/ control
routes (kra_agent_control.py).

The default account is test@example.com / Test@123_*25 (user id 7, "Test Organization"): the
seed's address is e-mail-obfuscated, so the address is ours. A POS is made with /pos/setup
(or `add_pos()`), which gives its Client-ID and Client-Secret.

Quirks of the document, and what the sandbox does about them:
- `Authorization` is "Bearer <token>" in some examples and the bare token in others: both
  are accepted everywhere.
- No error answer is documented. Ours: 401 {"status": false, "message"} for missing or bad
  credentials ("Token expired" for an expired access token), 422 {"status": false, "message",
  "errors": {field: [message]}} for a bad payload, 404 for unknown ids, 409 for a duplicate
  trdInvcNo/invcNo under a new requestID (undocumented), 500/429 only from armed faults.
- /auth/refresh-token shows no answer: we answer like /auth/login; refresh tokens are
  single-use. /auth/reset-password answers forgot-password's message, as the seed shows.
- "Update POS" is documented as /pos/setup/update while its curl posts to /pos/setup with
  `pos_id`: both update.
- The credit-note example has orgInvcNo 0 and credits item KE1NTXU0000014, which the sale
  example (two lines of KE1NTXU0000013) does not have: a credit note must name a recorded
  sale's invcNo and only credit what it had, so the example as printed is refused (422).
- trdInvcNo is a number in the sale example and a string in the credit-note example: both
  are taken (read-backs show the number).
- saleGet/saleShow's `salesItems` in the seed are all null with the sale's total on every
  line (a broken join, it seems): we fill them with the lines' values, money as strings.
- saleShow's `data.sale` is a list of one; the `_str` dates put the day before the month.
- The device and POS-list examples are not valid JSON (`"branch_id": 00`, `BRANCH_ID`); we
  answer `branch_id` as the string it was set up with.
- selectTrnsPurchaseSalesList's example sends `--form` data with `Content-Type:
  application/json`: a body that looks like multipart is read as multipart.
- insertStockIO's and Update POS's curl lines miss a closing quote, and saveTrnsSalesOsdc's
  ends with a dangling `\\`: we read them as intended.
- The sale example is tax-inclusive (18 % → 1602 of 10500), the purchase example
  tax-exclusive (1890 of 10500, yet totAmt 10500): per band, tax may be either within 1
  shilling, and totAmt may be the taxable total or taxable + tax.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from aiohttp import web

from app.sandbox.faults import Fault, FaultDecision
from app.sandbox.kra_agent_api import FORM, Refused, fail
from app.sandbox.kra_agent_checks import read_form
from app.sandbox.kra_agent_control import control_app
from app.sandbox.kra_agent_sales import KraAgentApi, request_keys
from app.sandbox.kra_agent_store import DEFAULT_EMAIL, DEFAULT_PASSWORD, STATE_FILE, Store
from app.sandbox.kra_agent_views import pos_view, recorded_count, records
from app.sandbox.server import SandboxServer

__all__ = ["DEFAULT_EMAIL", "DEFAULT_PASSWORD", "KraAgentSandbox"]

API_BASE = "/kra-agent/api/v1"
CHECKER_PATH = "/kra-agent/sale/invoice-checker/{token}"
DEFAULT_SHOWS = 2  # a pending sale with no rule completes on its 2nd /saleShow


class KraAgentSandbox(SandboxServer):
    """The fake KRA Agent: an HTTPS API, a plain-HTTP control port, records and faults."""

    def __init__(self, data_dir: Path, *, token_lifetime: float = 3600.0) -> None:
        super().__init__(data_dir)
        self.store = Store(self.data_dir / STATE_FILE)
        self.token_lifetime = token_lifetime
        self.pending: dict[str, Any] = {"count": 0, "after_seconds": None, "after_shows": None}
        self._api = KraAgentApi(self)

    # -- Python API (server.py: ports, URLs, outages, connection counts) ----------------

    @property
    def token_lifetime(self) -> float:
        """Seconds an access token lasts (default 3600); tokens issued later use the new value."""
        return self._token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValueError("token_lifetime must be a number of seconds > 0")
        self._token_lifetime = float(seconds)

    def set_pending_sales(self, count: int, after_seconds: float | None = None,
                          after_shows: int | None = None) -> None:
        """The next `count` sales/credit notes answer statusFromKRA "not_completed"; each
        completes `after_seconds` after it arrived or on its `after_shows`-th /saleShow,
        whichever comes first (neither given: on the 2nd /saleShow)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count must be a whole number >= 0")
        if after_seconds is not None and (isinstance(after_seconds, bool)
                                          or not isinstance(after_seconds, int | float)
                                          or after_seconds < 0):
            raise ValueError("after_seconds must be a number of seconds >= 0")
        if after_shows is not None and (isinstance(after_shows, bool)
                                        or not isinstance(after_shows, int) or after_shows < 1):
            raise ValueError("after_shows must be a whole number >= 1")
        if after_seconds is None and after_shows is None:
            after_shows = DEFAULT_SHOWS
        self.pending = {"count": count, "after_seconds": after_seconds, "after_shows": after_shows}

    def add_pos(self, email: str = DEFAULT_EMAIL, **fields: str) -> dict[str, Any]:
        """Set up a POS for a user, as /pos/setup would; its view (client_id, client_secret...).
        Defaults: company "Sandbox Shop", kra_pin "P051234567A", branch "00", serial "1"."""
        user = self.store.user_by_email(email)
        if user is None:
            raise ValueError(f"no user {email}")
        values = {"company_name": "Sandbox Shop", "kra_pin": "P051234567A", "branch_id": "00",
                  "dvc_srl_no": "1", "integration_token": "", "callback_url": "",
                  "type": "RIMS Utility", "cmcKey": ""}
        values.update({k: str(v) for k, v in fields.items()})
        return pos_view(self._api.add_pos(user["id"], values))

    def add_user(self, name: str, email: str, password: str) -> int:
        """Register an account (as /auth/register); its user id."""
        if self.store.user_by_email(email) is not None:
            raise ValueError(f"{email} is already registered")
        return int(self.store.add_user(name, email, password)["id"])

    def reset_token(self, email: str) -> str | None:
        """The OTP /auth/forgot-password "e-mailed" (None before any)."""
        user = self.store.user_by_email(email)
        return None if user is None else user.get("reset_token")

    def received_count(self, kind: str, key: object) -> int:
        """Requests received naming ("sale" | "credit_note", trdInvcNo), ("product", itemCd),
        ("purchase", invcNo), ("stock_io", sarNo) or ("stock_master", itemCd), whatever the
        answer (persisted)."""
        return self.store.received_count(kind, str(key))

    def recorded_count(self, kind: str, key: object) -> int:
        """How many records of ("sale" | "credit_note", trdInvcNo), ("product", itemCd),
        ("purchase", invcNo), ("stock_io", sarNo) or ("stock_master", itemCd) exist: 0 or 1,
        except stock_master, which keeps every balance sent."""
        return recorded_count(self.store, kind, key)

    def request_counts(self) -> dict[str, int]:
        """Requests received per endpoint ("/sale", "/auth/login"...), whatever the answer."""
        return dict(self.store["requests"])

    @property
    def total_requests(self) -> int:
        return int(self.store["total"])

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """What was recorded, oldest first: sales, credit_notes, products, purchases, stock_io,
        stock_master; each with its `request_id` and the document as received (a copy)."""
        return records(self.store)

    @property
    def base_url(self) -> str:
        return self.origin + API_BASE

    async def reset_faults(self) -> None:
        """Clear every fault (an outage too) and the pending-sales plan."""
        self.set_pending_sales(0)
        await super().reset_faults()

    # -- the HTTPS application --------------------------------------------------------

    def _https_app(self) -> web.Application:
        api = self._api
        table = [
            ("POST", "/auth/register", api.register), ("POST", "/auth/login", api.login),
            ("POST", "/auth/refresh-token", api.refresh),
            ("POST", "/auth/forgot-password", api.forgot_password),
            ("POST", "/auth/reset-password", api.reset_password),
            ("POST", "/pos/setup", api.pos_setup), ("POST", "/pos/setup/update", api.pos_update),
            ("GET", "/pos/index", api.pos_index), ("POST", "/selectInitOsdcInfo", api.init_device),
            ("POST", "/productSave", api.product_save), ("GET", "/productGet", api.product_get),
            ("GET", "/productShow", api.product_show),
            ("GET", "/selectItemClsList", api.item_classes),
            ("POST", "/sale", api.sale), ("GET", "/saleGet", api.sale_get),
            ("GET", "/saleShow", api.sale_show), ("GET", "/sale/summaryGet", api.summary),
            ("POST", "/saveTrnsSalesOsdc", api.credit_note),
            ("POST", "/selectTrnsPurchaseSalesList", api.purchases_list),
            ("POST", "/insertTrnsPurchase", api.purchase), ("POST", "/insertStockIO", api.stock_io),
            ("POST", "/saveStockMaster", api.stock_master), ("GET", "/stockGet", api.stock_get),
        ]
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler in table:
            app.router.add_route(method, API_BASE + path, handler)
        app.router.add_get(CHECKER_PATH, api.invoice_checker)
        return app

    def _control_app(self) -> web.Application:
        return control_app(self)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API_BASE + "/"):
            return await self._counted(request, handler)
        arrive = functools.partial(self._arrive, handler=handler)
        return await self._counted(
            request, functools.partial(self._faulted, arrive=arrive, respond=self._respond))

    async def _arrive(self, request: web.Request, handler: Any) -> Any:
        """Parse the form (kept on the request for the endpoint), count the request; the
        endpoint's handler is what `_respond` gets."""
        form, problem = await read_form(request)
        request[FORM] = (form, problem)
        endpoint = request.path[len(API_BASE):]
        self.store.note_request(endpoint, request_keys(request.path, form))
        return handler

    async def _respond(self, request: web.Request, decision: FaultDecision,
                       handler: Any) -> web.StreamResponse:
        """An armed fault's answer, or the endpoint's."""
        if decision.fault is Fault.FAIL:
            return fail(500, "Server Error")
        if decision.fault is Fault.RATE_LIMIT:
            return fail(429, "Too Many Attempts.",
                        headers={"Retry-After": decision.retry_after_header})
        if decision.fault is Fault.UNAUTHORIZED:
            return fail(401, "Unauthenticated.")
        if decision.fault is Fault.REJECT:
            return fail(422, "The data was refused (practice sandbox: reject_next).",
                        {"sales": ["refused by the practice sandbox (reject_next)"]})
        return await self._handle(request, handler)

    async def _handle(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response
        except web.HTTPMethodNotAllowed as exc:
            return fail(405, f"The {request.method} method is not supported for this route. "
                             f"Supported methods: {', '.join(sorted(exc.allowed_methods))}.")
        except web.HTTPNotFound:
            return fail(404, f"The route {request.path} could not be found.")

