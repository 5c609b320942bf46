"""What the ProTax sandbox accepts and how it shows things: field checks (each records a
problem in `errors` and returns the clean value), the error helpers, and the views of lines
and items. The error shape is ApiError's (protax_state.py).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from app.sandbox.protax_state import (
    BANDS,
    ApiError,
    dec,
    line_amounts,
    money,
    number,
    rate,
    totals,
)
from app.sandbox.rules import _nan

PIN = re.compile(r"[AP]\d{9}[A-Z]")
CLASS_CODE = re.compile(r"\d{8,10}")
UNIT_CODE = re.compile(r"[A-Z0-9]{1,5}")
CURRENCY = re.compile(r"[A-Z]{3}")
ITEM_FIELDS = ("item_name", "item_class_code", "packaging_unit_code", "quantity_unit_code",
               "tax_type_code", "unit_price")
Errors = dict[str, str]


def bad_request(errors: Errors) -> ApiError:
    return ApiError(400, "validation_error", "Invalid payload: missing or invalid fields.",
                    fields=errors)


def rejected(reason: str, **extra: Any) -> ApiError:
    return ApiError(422, "kra_rejected", "KRA eTIMS rejected the request.",
                    extra={"rejection_reason": reason, **extra})


def text_field(body: Mapping[str, Any], name: str, errors: Errors, *, required: bool = True,
               pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = (),
               what: str = "") -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = "required"
        return None
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return None
    if (pattern and not pattern.fullmatch(value)) or (choices and value not in choices):
        errors[name] = what or f"must be one of {', '.join(choices)}"
        return None
    return value


def number_field(body: Mapping[str, Any], name: str, errors: Errors, *, required: bool = True,
                 positive: bool = False) -> Decimal | None:
    value = body.get(name)
    if value is None:
        if required:
            errors[name] = "required"
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        errors[name] = "must be a number"
        return None
    amount = dec(value)
    if not amount.is_finite() or (amount <= 0 if positive else amount < 0):
        errors[name] = "must be greater than 0" if positive else "must not be negative"
        return None
    return amount


def date_field(body: Mapping[str, Any], name: str, errors: Errors, required: bool = True) -> str | None:
    value = text_field(body, name, errors, required=required)
    if value is not None and parse_date(value) is None:
        errors[name] = "must be a date as YYYY-MM-DD"
        return None
    return value


def parse_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def count_param(query: Mapping[str, str], name: str, default: int, errors: Errors) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) < 1:
        errors[name] = "must be a whole number >= 1"
        return default
    return int(value)


def line_view(line: Mapping[str, Any]) -> dict[str, Any]:
    amounts = line_amounts(dec(line["quantity"]), dec(line["unit_price"]), line["tax_type_code"])
    return {"item_id": line["item_id"], "item_name": line.get("item_name"),
            "quantity": number(line["quantity"]), "unit_price": money(line["unit_price"]),
            "tax_type_code": line["tax_type_code"],
            "tax_rate": int(rate(line["tax_type_code"])) if line["tax_type_code"] else None,
            **{name: money(amount) for name, amount in amounts.items()}}


def invoice_lines(items: Any, errors: Errors) -> list[dict[str, Any]]:
    """An invoice's "items": item_id, quantity > 0, unit_price >= 0, optional tax_type_code
    (None = the item's registered band)."""
    lines = []
    for index, item in _objects(items, "required: a non-empty array of line items", errors):
        problems: Errors = {}
        item_id = text_field(item, "item_id", problems)
        quantity = number_field(item, "quantity", problems, positive=True)
        price = number_field(item, "unit_price", problems)
        band = text_field(item, "tax_type_code", problems, required=False, choices=tuple(BANDS))
        errors.update({f"items[{index}].{name}": problem for name, problem in problems.items()})
        if not problems:
            lines.append({"item_id": item_id, "quantity": quantity, "unit_price": price,
                          "tax_type_code": band})
    return lines


def credit_items(asked: Any, errors: Errors) -> list[tuple[str, Decimal]]:
    """A credit note's optional "items": (item_id, quantity > 0) pairs; [] = full reversal."""
    if asked is None:
        return []
    wanted = []
    for index, item in _objects(asked, "must be a non-empty array (omit it for a full "
                                "reversal)", errors):
        problems: Errors = {}
        item_id = text_field(item, "item_id", problems)
        quantity = number_field(item, "quantity", problems, positive=True)
        errors.update({f"items[{index}].{name}": problem for name, problem in problems.items()})
        if item_id is not None and quantity is not None:
            wanted.append((item_id, quantity))
    return wanted


def _objects(items: Any, problem: str, errors: Errors) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a non-empty array, with their indexes (problems into `errors`)."""
    if not isinstance(items, list) or not items:
        errors["items"] = problem
        return []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[f"items[{index}]"] = "must be an object"
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def credit_lines(original: Mapping[str, Any], taken: list[Decimal],
                  wanted: list[tuple[str, Decimal]]) -> list[dict[str, Any]]:
    """The credited lines: all that remains (no items asked), or the asked quantities taken
    from the original's lines of that item in order; 422 when more is asked than remains."""
    lines = original["lines"]
    left = [dec(line["quantity"]) - done for line, done in zip(lines, taken, strict=True)]
    if not wanted:
        wanted_lines = [(index, amount) for index, amount in enumerate(left) if amount > 0]
    else:
        wanted_lines = []
        for item_id, quantity in wanted:
            indexes = [i for i, line in enumerate(lines) if line["item_id"] == item_id]
            if not indexes:
                raise rejected(f"Item {item_id} is not on invoice {original['id']}.")
            available = sum((left[i] for i in indexes), Decimal(0))
            if quantity > available:
                raise rejected(f"Cannot credit {number(quantity)} of item {item_id}: only "
                               f"{number(available)} remain on invoice {original['id']}.")
            for i in indexes:
                part = min(quantity, left[i])
                if part > 0:
                    wanted_lines.append((i, part))
                    left[i] -= part
                    quantity -= part
    return [{**{k: v for k, v in lines[i].items()}, "quantity": amount, "original_line": i}
            for i, amount in wanted_lines]


def item_fields(body: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: Errors = {}
    checks: dict[str, Callable[[bool], Any]] = {
        "item_name": lambda req: text_field(body, "item_name", errors, required=req),
        "item_class_code": lambda req: text_field(body, "item_class_code", errors, required=req,
                                             pattern=CLASS_CODE, what="must be 8 to 10 digits"),
        "packaging_unit_code": lambda req: text_field(body, "packaging_unit_code", errors,
                                                 required=req, pattern=UNIT_CODE,
                                                 what="must be a unit code, e.g. NX, BX, BG"),
        "quantity_unit_code": lambda req: text_field(body, "quantity_unit_code", errors,
                                                required=req, pattern=UNIT_CODE,
                                                what="must be a unit code, e.g. KGS, PCS, HUR"),
        "tax_type_code": lambda req: text_field(body, "tax_type_code", errors, required=req,
                                           choices=tuple(BANDS)),
        "unit_price": lambda req: number_field(body, "unit_price", errors, required=req),
    }
    fields = {}
    for name, check in checks.items():
        if partial and name not in body:
            continue
        value = check(True)
        if value is not None:
            fields[name] = value
    if errors:
        raise bad_request(errors)
    return fields


def item_view(item: Mapping[str, Any]) -> dict[str, Any]:
    view = {name: item[name] for name in ("id", "item_code", *ITEM_FIELDS, "created_at",
                                          "updated_at")}
    view["unit_price"] = money(item["unit_price"])
    return view


def receipt_page(doc: Mapping[str, Any]) -> str:
    """The HTML receipt a `qr_code_url` opens (an invoice or a credit note)."""
    sums = totals(doc["lines"])
    title = doc.get("invoice_number") or f"Credit note for {doc['original_invoice_id']}"
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in (
            ("Document", title), ("Status", doc["status"]), ("CUIN", doc["cuin"] or "-"),
            ("Signed at", doc["signed_at"] or "-"), ("Subtotal", sums["subtotal"]),
            ("VAT", sums["tax_amount"]), ("Total", sums["total"])))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>eTIMS receipt "
            f"{html.escape(doc['id'])}</title></head><body><h1>KRA eTIMS receipt "
            f"(ProTax practice sandbox)</h1><table>{rows}</table></body></html>")


async def read_json(request: web.Request) -> tuple[Any, str | None]:
    """The JSON object body of a POST/PUT ({} for other methods), or why it is unusable."""
    if request.method not in ("POST", "PUT"):
        return {}, None
    raw = await request.read()
    if request.content_type != "application/json":
        return {}, "Send a JSON body with Content-Type: application/json."
    try:
        body = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_nan)
    except (ValueError, RecursionError):
        return {}, "The body is not valid JSON."
    if not isinstance(body, dict):
        return {}, "The body must be a JSON object."
    return body, None
