"""The ProTax API v2 endpoints (seed 004): what each accepts and answers.

Documented: field names, required fields, status codes 201/400/401/422/500, the shapes of the
/health, POST /invoices and GET /invoices answers. NOT documented, chosen here (and kept the
same everywhere):

- every error body is {"error": {"code", "message", ["fields": {field: problem}]}}, plus
  top-level extras where useful: 422 adds "rejection_reason" (and "id", "status": "REJECTED"
  for a rejected invoice, which is kept and listed); 409 adds the existing invoice's "id";
- a second POST /invoices with an invoice_number already held by a non-REJECTED invoice is
  409 "duplicate_invoice_number" (a rejected invoice's number may be used again);
- KRA eTIMS down (`etims_down`): with "offline_mode": true the invoice is accepted 201 as
  QUEUED (cuin, signed_at null) and signed when eTIMS is back; without it, 503
  "etims_unavailable" and nothing is kept (credit notes: always 503 then);
- GET /invoices/{id}, POST /invoices/credit-note, GET/POST /items, PUT /items/{id}, GET /stock,
  POST /stock/adjustment, GET /customers, POST /webhooks: the answers' shapes are not shown
  in the document; ours are in the handlers below (lists are {"data": [...], "meta": {...}});
- per_page above 100, a bad page, status or date filter: 400 (not silently clamped);
- an unknown item_id or a line tax_type_code other than the item's registered band, a
  malformed customer_pin: 422 (KRA rejects); a well-formed PIN outside the registry passes
  unless the setting `strict_pins` is on;
- stock balances may go negative (services, sales before goods are received);
- webhooks are stored and answered 201, never delivered (a desktop cannot receive them).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.sandbox.protax_rules import (
    CURRENCY,
    ITEM_FIELDS,
    PIN,
    Errors,
    bad_request,
    count_param,
    credit_items,
    credit_lines,
    date_field,
    invoice_lines,
    item_fields,
    item_view,
    line_view,
    number_field,
    rejected,
    text_field,
)
from app.sandbox.protax_state import (
    ApiError,
    State,
    money,
    now_text,
    number,
    totals,
)
from app.sandbox.rules import field_text

if TYPE_CHECKING:
    from app.sandbox.protax import ProTaxSandbox

API_VERSION = "2.0.1"
STATUSES = ("SIGNED", "PROCESSING", "REJECTED", "QUEUED")
PAYMENT_TYPES = ("01", "02", "03", "04")
SALES_TYPES = ("N", "C", "T")
ADJUSTMENTS = ("IN", "OUT", "DAMAGE", "RETURN")
EVENTS = ("invoice.signed", "invoice.rejected", "invoice.failed", "invoice.queued",
          "credit_note.signed")
Reply = tuple[int, Any]


# -- the endpoints -----------------------------------------------------------------------


class Api:
    """Handlers over one sandbox's account state and eTIMS settings."""

    def __init__(self, sandbox: ProTaxSandbox) -> None:
        self.sandbox = sandbox

    @property
    def state(self) -> State:
        return self.sandbox.state

    async def health(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        return 200, {
            "status": "ok",
            "version": API_VERSION,
            "environment": "sandbox" if key.startswith("ptx_test_") else "production",
            "kra_etims_status": "offline" if self.sandbox.etims_down else "operational",
            "timestamp": now_text(),
        }

    # invoices

    async def create_invoice(self, key: str, body: Any, query: Mapping[str, str], _: str,
                             *, force_reject: bool = False) -> Reply:
        errors: Errors = {}
        number_ = text_field(body, "invoice_number", errors)
        date = date_field(body, "invoice_date", errors)
        text_field(body, "customer_name", errors)
        pin = text_field(body, "customer_pin", errors, required=False)
        text_field(body, "payment_type_code", errors, choices=PAYMENT_TYPES)
        text_field(body, "sales_type_code", errors, choices=SALES_TYPES)
        currency = text_field(body, "currency_code", errors, pattern=CURRENCY,
                         what="must be an ISO 4217 code, e.g. KES")
        rate = number_field(body, "exchange_rate", errors, required=currency not in (None, "KES"),
                        positive=True)
        offline = body.get("offline_mode", False)
        if not isinstance(offline, bool):
            errors["offline_mode"] = "must be true or false"
        lines = invoice_lines(body.get("items"), errors)
        if errors or number_ is None or date is None:
            raise bad_request(errors)
        existing = self.state.live_invoice_numbered(number_)
        if existing is not None:
            raise ApiError(409, "duplicate_invoice_number",
                           f"invoice_number {number_} is already used by invoice "
                           f"{existing['id']}.", fields={"invoice_number": "already used"},
                           extra={"id": existing["id"], "status": existing["status"]})
        reason = "practice sandbox: reject_next" if force_reject else self._kra_check(pin, lines)
        if reason is None and self.sandbox.etims_down and not offline:
            raise ApiError(503, "etims_unavailable", "KRA eTIMS is unreachable; retry later "
                           "or send with offline_mode true to queue the invoice.")
        invoice = {
            "id": self.state.new_id("inv_", self.state.invoices),
            **{name: body.get(name) for name in (
                "invoice_number", "invoice_date", "customer_name", "customer_pin",
                "payment_type_code", "sales_type_code", "currency_code")},
            "exchange_rate": rate if rate is not None else Decimal(1),
            "offline_mode": offline, "lines": lines, "status": "PROCESSING", "cuin": None,
            "signed_at": None, "rejection_reason": None, "kra_response": None,
            "created_at": now_text(),
        }
        self.state.invoices[invoice["id"]] = invoice
        if reason is not None:
            self.state.reject(invoice, reason)
            self.state.save()
            raise rejected(reason, id=invoice["id"], invoice_number=number_, status="REJECTED")
        if self.sandbox.etims_down:
            invoice["status"] = "QUEUED"
        elif self.sandbox.take_processing():
            settings = self.sandbox.settings
            invoice["processing"] = {
                "polls": 0, "after_polls": settings["processing_polls"],
                "after_seconds": Decimal(str(settings["processing_seconds"])),
                "started": Decimal(str(round(time.time(), 3))),
                "outcome": settings["processing_outcome"]}
        else:
            self.state.sign(invoice)
        self.state.save()
        return 201, self._signed_view(invoice)

    def _kra_check(self, pin: str | None, lines: list[dict[str, Any]]) -> str | None:
        """What KRA eTIMS (or ProTax's item register) refuses; fills in each line's band."""
        if pin is not None and not PIN.fullmatch(pin):
            return f"Invalid customer PIN {pin}: a KRA PIN is a letter, 9 digits and a letter."
        if pin is not None and self.sandbox.settings["strict_pins"] and pin not in self.state.pins:
            return f"Customer PIN {pin} is not in the KRA PIN registry."
        for line in lines:
            item = self.state.items.get(line["item_id"])
            if item is None:
                return f"Item {line['item_id']} is not registered; register it with POST /items."
            if line["tax_type_code"] is None:
                line["tax_type_code"] = item["tax_type_code"]
            elif line["tax_type_code"] != item["tax_type_code"]:
                return (f"Item {line['item_id']} is registered with tax type "
                        f"{item['tax_type_code']}, not {line['tax_type_code']}.")
            line["item_name"] = item["item_name"]
        return None

    def _signed_view(self, doc: dict[str, Any]) -> dict[str, Any]:
        view = {"id": doc["id"]}
        if "invoice_number" in doc:
            view["invoice_number"] = doc["invoice_number"]
        else:
            view["original_invoice_id"] = doc["original_invoice_id"]
            view["reason"] = doc["reason"]
        view.update({"status": doc["status"], "cuin": doc["cuin"],
                     "qr_code_url": self.sandbox.qr_url(doc["id"]), "signed_at": doc["signed_at"],
                     "totals": totals(doc["lines"])})
        return view

    async def list_invoices(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        errors: Errors = {}
        status = text_field(query, "status", errors, required=False, choices=STATUSES)
        start = date_field(query, "from_date", errors, required=False)
        end = date_field(query, "to_date", errors, required=False)
        pin = text_field(query, "customer_pin", errors, required=False)
        page = count_param(query, "page", 1, errors)
        per_page = count_param(query, "per_page", 20, errors)
        if per_page > 100:
            errors["per_page"] = "must be at most 100"
        if errors:
            raise bad_request(errors)
        self.state.settle_all()
        found = [
            inv for inv in reversed(self.state.invoices.values())  # newest first
            if (status is None or inv["status"] == status)
            and (start is None or inv["invoice_date"] >= start)
            and (end is None or inv["invoice_date"] <= end)
            and (pin is None or inv["customer_pin"] == pin)
        ]
        shown = found[(page - 1) * per_page:page * per_page]
        data = [{"id": inv["id"], "invoice_number": inv["invoice_number"],
                 "status": inv["status"], "cuin": inv["cuin"],
                 "total": totals(inv["lines"])["total"], "invoice_date": inv["invoice_date"]}
                for inv in shown]
        meta = {"total": len(found), "page": page, "per_page": per_page,
                "total_pages": math.ceil(len(found) / per_page)}
        return 200, {"data": data, "meta": meta}

    async def get_invoice(self, key: str, body: Any, query: Mapping[str, str],
                          doc_id: str) -> Reply:
        doc = self.state.document(doc_id)
        if doc["status"] == "PROCESSING":
            self.state.settle(doc, polled=True)
            self.state.save()
        view = self._signed_view(doc)
        credit = "original_invoice_id" in doc
        view["type"] = "credit_note" if credit else "invoice"
        if not credit:
            view.update({name: doc[name] for name in (
                "invoice_date", "customer_name", "customer_pin", "payment_type_code",
                "sales_type_code", "currency_code")})
            view["exchange_rate"] = number(doc["exchange_rate"])
            view["offline_mode"] = doc["offline_mode"]
            view["credit_notes"] = [cn["id"] for cn in self.state.credit_notes.values()
                                    if cn["original_invoice_id"] == doc["id"]]
        view["rejection_reason"] = doc["rejection_reason"]
        view["items"] = [line_view(line) for line in doc["lines"]]
        view["kra_response"] = doc["kra_response"]
        view["created_at"] = doc["created_at"]
        return 200, view

    async def credit_note(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        """POST /invoices/credit-note. The answer is not documented: it is shaped like an
        invoice's ({"id": "cn_…", "original_invoice_id", "reason", "status": "SIGNED", "cuin",
        "qr_code_url", "signed_at", "totals"}), amounts positive."""
        errors: Errors = {}
        original_id = text_field(body, "original_invoice_id", errors)
        reason = text_field(body, "reason", errors)
        wanted = credit_items(body.get("items"), errors)
        if errors or original_id is None:
            raise bad_request(errors)
        original = self.state.invoices.get(original_id)
        if original is None:
            raise ApiError(404, "not_found", f"Invoice {original_id} not found.")
        self.state.settle(original)
        if original["status"] != "SIGNED":
            raise rejected(f"Invoice {original_id} is {original['status']}, not SIGNED.")
        lines = credit_lines(original, self.state.credited(original_id), wanted)
        if not lines:
            raise rejected(f"Invoice {original_id} is already fully credited.")
        if self.sandbox.etims_down:
            raise ApiError(503, "etims_unavailable", "KRA eTIMS is unreachable; retry later.")
        note = {"id": self.state.new_id("cn_", self.state.credit_notes),
                "original_invoice_id": original_id, "reason": reason, "lines": lines,
                "status": "PROCESSING", "cuin": None, "signed_at": None,
                "rejection_reason": None, "kra_response": None, "created_at": now_text()}
        self.state.credit_notes[note["id"]] = note
        self.state.sign(note)
        self.state.save()
        view = self._signed_view(note)
        view["items"] = [line_view(line) for line in lines]
        return 201, view

    # items

    async def list_items(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        items = [item_view(item) for item in self.state.items.values()]
        return 200, {"data": items, "meta": {"total": len(items)}}

    async def create_item(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        fields = item_fields(body, partial=False)
        return 201, item_view(self.state.add_item(fields))

    async def update_item(self, key: str, body: Any, query: Mapping[str, str],
                          item_id: str) -> Reply:
        self.state.item(item_id)
        unknown = sorted(set(body) - set(ITEM_FIELDS))
        if unknown:
            raise bad_request({name: "cannot be changed" for name in unknown})
        if not body:
            raise bad_request({"body": f"give at least one of {', '.join(ITEM_FIELDS)}"})
        return 200, item_view(self.state.update_item(item_id, item_fields(body, partial=True)))

    # stock

    async def stock(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        item_id = query.get("item_id")
        items = [self.state.item(item_id)] if item_id else list(self.state.items.values())
        data = [{"item_id": item["id"], "item_name": item["item_name"],
                 "quantity_unit_code": item["quantity_unit_code"],
                 "balance": number(self.state.balance(item["id"]))} for item in items]
        return 200, {"data": data}

    async def adjust_stock(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        errors: Errors = {}
        item_id = text_field(body, "item_id", errors)
        kind = text_field(body, "adjustment_type", errors, choices=ADJUSTMENTS)
        quantity = number_field(body, "quantity", errors, positive=True)
        date = date_field(body, "adjustment_date", errors)
        reference = text_field(body, "reference", errors, required=False)
        cost = number_field(body, "unit_cost", errors, required=False)
        if errors or item_id is None or kind is None or quantity is None or date is None:
            raise bad_request(errors)
        if item_id not in self.state.items:
            raise rejected(f"Item {item_id} is not registered.")
        move = self.state.move(item_id, kind, quantity, date, reference=reference, unit_cost=cost)
        self.state.save()
        view = {name: move[name] for name in (
            "id", "item_id", "adjustment_type", "adjustment_date", "reference", "created_at")}
        view["quantity"] = number(quantity)
        view["unit_cost"] = None if cost is None else money(cost)
        view["balance"] = number(self.state.balance(item_id))
        return 201, view

    # customers, webhooks

    async def customers(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        errors: Errors = {}
        pin = text_field(query, "pin", errors, pattern=PIN,
                    what="must be a KRA PIN: a letter, 9 digits and a letter")
        if errors or pin is None:
            raise bad_request(errors)
        name = self.state.pins.get(pin)
        if name is None:
            raise ApiError(404, "not_found", f"PIN {pin} is not in the KRA PIN registry.")
        return 200, {"pin": pin, "name": name, "status": "active"}

    async def webhooks(self, key: str, body: Any, query: Mapping[str, str], _: str) -> Reply:
        """POST /webhooks: stored and answered 201; the sandbox never delivers events."""
        errors: Errors = {}
        url = text_field(body, "url", errors, pattern=re.compile(r"https://\S+"),
                    what="must be an HTTPS URL")
        events = body.get("events")
        if not isinstance(events, list) or not events:
            errors["events"] = "required: a non-empty array of event names"
        elif any(event not in EVENTS for event in events):
            errors["events"] = f"known events: {', '.join(EVENTS)}"
        secret = text_field(body, "secret", errors, required=False)
        if errors:
            raise bad_request(errors)
        hook = {"id": self.state.new_id("wh_", self.state.webhooks), "url": url,
                "events": events, "secret": secret, "active": True, "created_at": now_text()}
        self.state.webhooks[hook["id"]] = hook
        self.state.save()
        return 201, {name: hook[name] for name in ("id", "url", "events", "active", "created_at")}


Handler = Callable[[str, Any, Mapping[str, str], str], Awaitable[Reply]]


def routes(api: Api) -> list[tuple[str, re.Pattern[str], str, Handler]]:
    """(method, path pattern under /api/v2, endpoint name, handler); group 1 = the id."""
    table = [
        ("GET", r"/health", "GET /health", api.health),
        ("POST", r"/invoices", "POST /invoices", api.create_invoice),
        ("GET", r"/invoices", "GET /invoices", api.list_invoices),
        ("POST", r"/invoices/credit-note", "POST /invoices/credit-note", api.credit_note),
        ("GET", r"/invoices/([^/]+)", "GET /invoices/{id}", api.get_invoice),
        ("GET", r"/items", "GET /items", api.list_items),
        ("POST", r"/items", "POST /items", api.create_item),
        ("PUT", r"/items/([^/]+)", "PUT /items/{id}", api.update_item),
        ("GET", r"/stock", "GET /stock", api.stock),
        ("POST", r"/stock/adjustment", "POST /stock/adjustment", api.adjust_stock),
        ("GET", r"/customers", "GET /customers", api.customers),
        ("POST", r"/webhooks", "POST /webhooks", api.webhooks),
    ]
    return [(method, re.compile(path), name, handler) for method, path, name, handler in table]


def counted_key(endpoint: str, body: Any) -> tuple[str | None, str | None]:
    """Which (kind, key) an arriving POST is counted under for `received_count`."""
    if not isinstance(body, Mapping):
        return None, None
    kind, name = {
        "POST /invoices": ("invoice", "invoice_number"),
        "POST /invoices/credit-note": ("credit_note", "original_invoice_id"),
        "POST /items": ("item", "item_name"),
        "POST /stock/adjustment": ("stock", "reference"),
        "POST /webhooks": ("webhook", "url"),
    }.get(endpoint, (None, None))
    if kind is None:
        return None, None
    key = field_text(body.get(name))
    if kind == "stock" and key is None:
        key = field_text(body.get("item_id"))
    return kind, key
