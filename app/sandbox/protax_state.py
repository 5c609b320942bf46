"""The ProTax sandbox's account: items, invoices, credit notes, stock, webhooks, kept in one
JSON file (protax.json, rewritten atomically after every change, so a restart keeps them).

One sandbox = one ProTax account: every accepted API key sees the same records. Money is
Decimal throughout (JSON numbers are read as Decimal and written exactly, see rules.dumps);
amounts are rounded half-up to cents.

Tax (the document's bands; prices EXCLUDE VAT): A = 16 %, B = 8 %, C = 0 %, D = exempt.
A line's subtotal = quantity x unit_price; the invoice's tax = for each band, the band's
subtotal x rate, rounded once per band; total = subtotal + tax. The documented example,
5 x 10000 in band A, gives subtotal 50000, tax_amount 8000, total 58000.

Failures are raised as `ApiError`; protax_api.py turns them into answers of the one error
shape {"error": {"code", "message", ["fields"]}} (+ extra top-level keys, e.g. "id").
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import secrets
import string
import time
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from app.sandbox.rules import dumps

log = logging.getLogger(__name__)

STATE_FILE = "protax.json"
BANDS: dict[str, Decimal] = {"A": Decimal(16), "B": Decimal(8), "C": Decimal(0), "D": Decimal(0)}
CENT = Decimal("0.01")
KINDS = ("invoice", "credit_note", "item", "stock", "webhook")
# A small built-in KRA PIN registry for GET /customers (more with `add_pin`).
PIN_REGISTRY: dict[str, str] = {
    "P051234567A": "Acme Ltd",
    "P051098765B": "Savannah Traders Ltd",
    "A123456789A": "Taxpayer1112",
    "P000111222C": "Nairobi Hardware Supplies",
}
# The item the document's examples refer to (invoice, PUT /items/itm_abc123, GET /stock).
EXAMPLE_ITEM = {
    "id": "itm_abc123", "item_name": "IT Consulting Services", "item_class_code": "99111002",
    "packaging_unit_code": "NX", "quantity_unit_code": "HUR", "tax_type_code": "A",
    "unit_price": Decimal(10000),
}
_ID_CHARS = string.ascii_lowercase + string.digits


class ApiError(Exception):
    """An answer other than success: status, code, message, per-field problems, extras."""

    def __init__(self, status: int, code: str, message: str, *,
                 fields: Mapping[str, str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = dict(fields) if fields else None
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error, **self.extra}


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dec(value: Any) -> Decimal:
    """A stored number (int or Decimal, as loaded) as a Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Any) -> int | Decimal:
    """An amount as the document writes it: an int when whole (58000), else cents (12.5 → 12.50)."""
    amount = cents(dec(value))
    return int(amount) if amount == amount.to_integral_value() else amount


def number(value: Any) -> int | Decimal:
    """A quantity as given: an int when whole, else the exact decimal."""
    amount = dec(value)
    return int(amount) if amount == amount.to_integral_value() else amount.normalize()


def rate(band: str | None) -> Decimal:
    """The band's VAT rate in percent (0 for a line of a rejected invoice without a band)."""
    return BANDS[band] if band else Decimal(0)


def line_amounts(quantity: Decimal, unit_price: Decimal, band: str | None) -> dict[str, Decimal]:
    subtotal = cents(quantity * unit_price)
    tax = cents(subtotal * rate(band) / 100)
    return {"subtotal": subtotal, "tax_amount": tax, "total": subtotal + tax}


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, int | Decimal]:
    """Invoice totals: tax computed once per band over the band's subtotal."""
    per_band: dict[str, Decimal] = {}
    for line in lines:
        per_band[line["tax_type_code"]] = per_band.get(line["tax_type_code"], Decimal(0)) + cents(
            dec(line["quantity"]) * dec(line["unit_price"]))
    subtotal = sum(per_band.values(), Decimal(0))
    tax = sum((cents(amount * rate(band) / 100) for band, amount in per_band.items()),
              Decimal(0))
    return {"subtotal": money(subtotal), "tax_amount": money(tax), "total": money(subtotal + tax)}


class State:
    """Everything the account holds, and the arrival counts; `save()` after each change."""

    def __init__(self, path: Path, *, examples: bool = True) -> None:
        self.path = path
        self.items: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.credit_notes: dict[str, dict[str, Any]] = {}
        self.stock: list[dict[str, Any]] = []
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.pins: dict[str, str] = dict(PIN_REGISTRY)
        self.counts: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        self.requests: dict[str, int] = {}
        self.total_requests = 0
        self.cuin_seq = 0
        self.reserved: list[str] = []  # ids the next objects of their prefix take (in memory)
        if path.exists():
            self._load()
        elif examples:
            stamp = now_text()
            self.items[EXAMPLE_ITEM["id"]] = {
                **EXAMPLE_ITEM, "item_code": self._item_code(EXAMPLE_ITEM),
                "created_at": stamp, "updated_at": stamp}
            self.save()

    # -- persistence ---------------------------------------------------------------

    _FIELDS = ("items", "invoices", "credit_notes", "stock", "webhooks", "pins", "counts",
               "requests", "total_requests", "cuin_seq")

    def _load(self) -> None:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"), parse_float=Decimal)
        except (OSError, ValueError) as why:
            log.warning("%s is damaged (%s); starting empty", self.path, why)
            return
        for name in self._FIELDS:
            if name in saved:
                setattr(self, name, saved[name])
        for kind in KINDS:
            self.counts.setdefault(kind, {})

    def save(self) -> None:
        text = dumps({name: getattr(self, name) for name in self._FIELDS})
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    # -- ids, counts ---------------------------------------------------------------

    def new_id(self, prefix: str, taken: Mapping[str, Any] | None = None) -> str:
        for wanted in self.reserved:
            if wanted.startswith(prefix):
                self.reserved.remove(wanted)
                if taken is None or wanted not in taken:  # an id in use is not given twice
                    return wanted
                break
        while True:
            candidate = prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(10))
            if taken is None or candidate not in taken:
                return candidate

    def note_request(self, endpoint: str, kind: str | None, key: str | None) -> None:
        self.total_requests += 1
        self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
        if kind is not None and key is not None:
            self.counts[kind][key] = self.counts[kind].get(key, 0) + 1
        self.save()

    def next_cuin(self) -> str:
        self.cuin_seq += 1
        return f"KRA{dt.datetime.now(dt.UTC):%Y%m%d}{self.cuin_seq:06d}"

    @staticmethod
    def _item_code(item: Mapping[str, Any]) -> str:
        return f"KE2{item['packaging_unit_code']}{item['quantity_unit_code']}"

    # -- items ---------------------------------------------------------------------

    def add_item(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        item_id = self.new_id("itm_", self.items)
        stamp = now_text()
        seq = f"{len(self.items) + 1:07d}"
        item = {"id": item_id, **fields, "created_at": stamp, "updated_at": stamp}
        item["item_code"] = self._item_code(item) + seq
        self.items[item_id] = item
        self.save()
        return item

    def update_item(self, item_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        item = self.item(item_id)
        item.update(fields)
        item["updated_at"] = now_text()
        self.save()
        return item

    def item(self, item_id: str) -> dict[str, Any]:
        item = self.items.get(item_id)
        if item is None:
            raise ApiError(404, "not_found", f"Item {item_id} not found.")
        return item

    # -- stock ---------------------------------------------------------------------

    def move(self, item_id: str, kind: str, quantity: Decimal, date: str, *,
             reference: str | None = None, unit_cost: Decimal | None = None,
             source: str = "manual", document_id: str | None = None) -> dict[str, Any]:
        """Record one stock movement (the caller saves)."""
        movement = {
            "id": self.new_id("adj_"), "item_id": item_id, "adjustment_type": kind,
            "quantity": quantity, "adjustment_date": date, "reference": reference,
            "unit_cost": unit_cost, "source": source, "document_id": document_id,
            "created_at": now_text(),
        }
        self.stock.append(movement)
        return movement

    def balance(self, item_id: str) -> Decimal:
        total = Decimal(0)
        for movement in self.stock:
            if movement["item_id"] == item_id:
                sign = 1 if movement["adjustment_type"] in ("IN", "RETURN") else -1
                total += sign * dec(movement["quantity"])
        return total

    # -- invoices ------------------------------------------------------------------

    def live_invoice_numbered(self, invoice_number: str) -> dict[str, Any] | None:
        """The invoice holding this number (REJECTED ones release it), if any."""
        for invoice in self.invoices.values():
            if invoice["invoice_number"] == invoice_number and invoice["status"] != "REJECTED":
                return invoice
        return None

    def sign(self, document: dict[str, Any]) -> None:
        """KRA eTIMS signs: CUIN, signed_at, KRA metadata, and the stock movements."""
        document["status"] = "SIGNED"
        document["cuin"] = self.next_cuin()
        document["signed_at"] = now_text()
        document["kra_response"] = {
            "result_code": "000", "result_message": "It is succeeded",
            "receipt_number": self.cuin_seq, "signed_at": document["signed_at"],
        }
        credit = document["id"].startswith("cn_")
        for line in document["lines"]:
            self.move(line["item_id"], "RETURN" if credit else "OUT", dec(line["quantity"]),
                      document["signed_at"][:10], reference=document.get("invoice_number"),
                      source="credit_note" if credit else "invoice", document_id=document["id"])

    def reject(self, invoice: dict[str, Any], reason: str) -> None:
        invoice["status"] = "REJECTED"
        invoice["rejection_reason"] = reason
        invoice["kra_response"] = {"result_code": "999", "result_message": reason}

    def settle(self, invoice: dict[str, Any], *, polled: bool = False) -> None:
        """A PROCESSING invoice finishes after enough polls or seconds (the caller saves)."""
        if invoice["status"] != "PROCESSING":
            return
        plan = invoice["processing"]
        if polled:
            plan["polls"] += 1
        by_polls = plan["after_polls"] > 0 and plan["polls"] >= plan["after_polls"]
        by_time = plan["after_seconds"] > 0 and time.time() >= dec(plan["started"]) + dec(
            plan["after_seconds"])
        if by_polls or by_time or (plan["after_polls"] == 0 and dec(plan["after_seconds"]) == 0):
            if plan["outcome"] == "REJECTED":
                self.reject(invoice, "KRA eTIMS rejected the invoice after processing "
                            "(practice sandbox: processing_outcome REJECTED)")
            else:
                self.sign(invoice)

    def settle_all(self) -> None:
        changed = False
        for invoice in self.invoices.values():
            if invoice["status"] == "PROCESSING":
                self.settle(invoice)
                changed = changed or invoice["status"] != "PROCESSING"
        if changed:
            self.save()

    def release_queue(self) -> int:
        """KRA eTIMS is back: sign every QUEUED invoice, oldest first."""
        queued = [inv for inv in self.invoices.values() if inv["status"] == "QUEUED"]
        for invoice in queued:
            self.sign(invoice)
        if queued:
            self.save()
        return len(queued)

    def document(self, document_id: str) -> dict[str, Any]:
        found = self.invoices.get(document_id) or self.credit_notes.get(document_id)
        if found is None:
            raise ApiError(404, "not_found", f"Invoice {document_id} not found.")
        return found

    def credited(self, invoice_id: str) -> list[Decimal]:
        """Per line of the original: the quantity credited so far."""
        original = self.invoices[invoice_id]
        taken = [Decimal(0)] * len(original["lines"])
        for note in self.credit_notes.values():
            if note["original_invoice_id"] == invoice_id:
                for line in note["lines"]:
                    taken[line["original_line"]] += dec(line["quantity"])
        return taken

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """A deep copy of everything, by kind (see KINDS), oldest first."""
        self.settle_all()
        return copy.deepcopy({
            "invoice": list(self.invoices.values()),
            "credit_note": list(self.credit_notes.values()),
            "item": list(self.items.values()),
            "stock": list(self.stock),
            "webhook": list(self.webhooks.values()),
        })
