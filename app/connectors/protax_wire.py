"""ProTax API v2 (seed 004) request bodies, built from a row's ``detail`` (docs/KENYA.md).

Pure functions, unit-tested against every request example of the document
(tests/unit/test_protax_wire.py). Amounts are exact JSON numbers (never floats).

ProTax prices exclude VAT (the item's ``unit_price`` is "excluding VAT"; the invoice example is
5 × 10000 → subtotal 50000, tax 8000). A till that prices tax-inclusive (``prices_include_tax``),
or gives a discount, has its line sent at the net unit price: the line's net amount / quantity,
rounded half-up to cents.

Deliberate differences from the examples: ``offline_mode`` is always true (the document: "queue
invoice if KRA eTIMS is unreachable"; the utility polls for the signature), ``customer_name`` is
"Walk-in customer" when the till gave none (ProTax requires it), and a stock adjustment carries
its ``reference`` (the GRN number; optional in the document, absent from its example).

Payment types: the detail holds the eTIMS code 01..07; ProTax knows only 01 Cash, 02 Credit,
03 Cheque, 04 Mobile Money, so PAYMENT_TYPE_CODES maps the rest to the closest of those: 03
cash/credit → 02 Credit (part of it is owed), 04 bank cheque → 03, 06 mobile money → 04, and
05 card and 07 other → 01 Cash (ProTax has no card or "other"; both are paid in full at the
sale, like cash, and cash is what ProTax is sent when nothing is known). The detail keeps the
till's own code, so the dashboard still says "Card".
"""

from decimal import Decimal
from typing import Any

from app.connectors.kra_agent_wire import num, num0
from app.domain.kenya_tax import cents

WALK_IN = "Walk-in customer"
# eTIMS payment type (the detail's) → ProTax's payment_type_code; see the module's docstring.
PAYMENT_TYPE_CODES = {"01": "01", "02": "02", "03": "02", "04": "03", "05": "01", "06": "04",
                      "07": "01"}


class MissingReference(ValueError):
    """A row this one depends on has no ProTax id (it should have been sent first)."""


def item(detail: dict[str, Any]) -> dict[str, Any]:
    """``POST /items`` from an ``item`` detail."""
    return {
        "item_name": detail["item_name"],
        "item_class_code": detail["item_class_code"],
        "packaging_unit_code": detail["pkg_unit"],
        "quantity_unit_code": detail["qty_unit"],
        "tax_type_code": detail["tax_type"],
        "unit_price": num0(detail.get("unit_price")),
    }


def payment_type_code(payment_type: object) -> str:
    """ProTax's code (01 Cash, 02 Credit, 03 Cheque, 04 Mobile Money) for an eTIMS one."""
    return PAYMENT_TYPE_CODES.get(str(payment_type or "01"), "01")


def net_unit_price(line: dict[str, Any], prices_include_tax: bool) -> int | Decimal:
    """The price ProTax expects: excluding VAT, after any discount."""
    discounted = Decimal(str(line.get("discount_amount") or "0")) != 0
    if not prices_include_tax and not discounted:
        return num0(line.get("unit_price"))
    quantity = Decimal(str(line["quantity"]))
    if quantity == 0:
        return 0
    net = Decimal(str(line["net_amount"])) / quantity
    return num0(cents(net))


def _item_id(refs: dict[str, tuple[str | None, str | None]], code: object) -> str:
    """The ProTax ``itm_`` id of item ``code`` (from ``refs``); MissingReference when none."""
    item_id = (refs.get(f"item:{code}") or (None, None))[0]
    if not item_id:
        raise MissingReference(f"item {code} has no ProTax item id yet")
    return item_id


def _lines(detail: dict[str, Any], refs: dict[str, tuple[str | None, str | None]]) -> list[dict]:
    inclusive = bool(detail.get("prices_include_tax"))
    items = []
    for line in detail.get("lines") or []:
        items.append({"item_id": _item_id(refs, line["item_code"]), "quantity": num0(line.get("quantity")),
                      "unit_price": net_unit_price(line, inclusive),
                      "tax_type_code": line.get("tax_type")})
    return items


def invoice(detail: dict[str, Any], refs: dict[str, tuple[str | None, str | None]]) -> dict:
    """``POST /invoices`` from an ``invoice`` detail; ``refs`` gives each item's ``itm_`` id."""
    body: dict[str, Any] = {
        "invoice_number": detail["invoice_no"],
        "invoice_date": str(detail["date_time"])[:10],
        "customer_name": detail.get("customer_name") or WALK_IN,
    }
    if detail.get("customer_pin"):
        body["customer_pin"] = detail["customer_pin"]
    currency = (detail.get("currency") or "KES").upper()
    body.update({
        "payment_type_code": payment_type_code(detail.get("payment_type")),
        "sales_type_code": detail.get("sales_type") or "N",
        "currency_code": currency,
    })
    if currency != "KES":
        body["exchange_rate"] = num(detail.get("exchange_rate"))
    body["items"] = _lines(detail, refs)
    body["offline_mode"] = True
    return body


def credit_note(detail: dict[str, Any], refs: dict[str, tuple[str | None, str | None]]) -> dict:
    """``POST /invoices/credit-note``: the original's ``inv_`` id, the reason, and the items only
    for a partial credit note (the document: "Omit for full reversal")."""
    original = str(detail["original_invoice_no"])
    original_id = (refs.get(original) or (None, None))[0]
    if not original_id:
        raise MissingReference(f"the original invoice {original} has no ProTax id yet")
    body: dict[str, Any] = {"original_invoice_id": original_id,
                            "reason": detail.get("reason") or "Goods returned"}
    if not detail.get("full", False):
        body["items"] = _lines(detail, refs)
    return body


def stock_adjustment(detail: dict[str, Any], refs: dict[str, tuple[str | None, str | None]]) -> dict:
    """``POST /stock/adjustment`` from a ``stock`` detail."""
    body: dict[str, Any] = {
        "item_id": _item_id(refs, detail["item_code"]),
        "adjustment_type": str(detail["adjustment_type"]).upper(),
        "quantity": num0(detail.get("quantity")),
        "adjustment_date": str(detail["date"])[:10],
    }
    if detail.get("reference"):
        body["reference"] = detail["reference"]
    if detail.get("unit_cost") not in (None, ""):
        body["unit_cost"] = num(detail["unit_cost"])
    return body


def key_kind(api_key: str) -> str:
    if api_key.startswith("ptx_test_"):
        return "test"
    if api_key.startswith("ptx_live_"):
        return "live"
    return "unknown"
