"""What the KRA Agent sandbox accepts: form bodies, the JSON documents inside them, arithmetic.

Every POST of the document is `curl --form`: multipart/form-data. We also take
x-www-form-urlencoded and (for clients that prefer it) a JSON object body. The sale, product
and stock documents travel as JSON *strings* inside a form field (`sales`, `products`,
`data`); a JSON body may carry them as objects. Numbers are exact Decimals.

Errors are Laravel-shaped, {field: [message, ...]}, with dotted paths into the documents
(`sales.taxAmtB`, `sales.itemList.1.taxAmt`). The document shows no error answers at all:
this shape is our choice, kept the same everywhere.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from app.sandbox.rules import dumps

Errors = dict[str, list[str]]
BANDS = ("A", "B", "C", "D", "E")
TOLERANCE = Decimal(1)  # a band's or line's tax may be off by the rounding step (1 shilling)
EXACT = Decimal("0.01")  # sums must add up to the cent
_DATE8 = re.compile(r"\d{8}")
_DATE14 = re.compile(r"\d{14}")
_BOUNDARY = re.compile(rb"--([!-~]{1,200})\r?\n")


async def read_form(request: web.Request) -> tuple[dict[str, str], str | None]:
    """The form fields of a request (every value a string), or why the body is unreadable.

    The seed's /selectTrnsPurchaseSalesList example sends `--form` data with a
    `Content-Type: application/json` header (curl then sends a multipart body without a
    boundary parameter): a body that starts like multipart is read as multipart whatever
    its declared type.
    """
    raw = await request.read()
    kind = request.content_type
    try:
        if kind == "multipart/form-data" or raw.startswith(b"--"):
            return _multipart(raw, request.content_type, request.headers), None
        if kind == "application/x-www-form-urlencoded":
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)), None
        if kind == "application/json" and raw.strip():
            parsed = json.loads(raw.decode("utf-8"), parse_float=Decimal)
            if not isinstance(parsed, dict):
                return {}, "The body must be a JSON object."
            return {k: v if isinstance(v, str) else dumps(v) for k, v in parsed.items()}, None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}, "The request body could not be read."
    if raw.strip() and request.method == "POST":
        return {}, "Send form fields (multipart/form-data or x-www-form-urlencoded)."
    return {}, None


def _multipart(raw: bytes, kind: str, headers: Mapping[str, str]) -> dict[str, str]:
    boundary = None
    if kind == "multipart/form-data":
        header = headers.get("Content-Type", "")
        message = email.message_from_string(f"Content-Type: {header}\r\n\r\n")
        boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        found = _BOUNDARY.match(raw)
        if found is None:
            raise ValueError("no multipart boundary")
        boundary = found.group(1).decode("ascii")
    head = f'Content-Type: multipart/form-data; boundary="{boundary}"\r\n\r\n'.encode()
    message = email.message_from_bytes(head + raw, policy=email.policy.HTTP)
    if not message.is_multipart():
        raise ValueError("not multipart")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True) or b""
            fields[name] = payload.decode("utf-8")
    return fields


def json_field(form: Mapping[str, str], name: str, errors: Errors) -> Any:
    """The JSON document inside a form field (None + an error when missing or malformed)."""
    text = form.get(name)
    if text is None or not text.strip():
        add(errors, name, f"The {name} field is required.")
        return None
    try:
        return json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError):
        add(errors, name, f"The {name} field must be a valid JSON string.")
        return None


def add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def number(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact Decimal; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, str) and value.strip():
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def money(value: Any) -> str | None:
    """The seed's read-back format for amounts: "10500.00"."""
    amount = number(value)
    return None if amount is None else str(amount.quantize(EXACT, ROUND_HALF_UP))


def text(value: Any) -> str | None:
    """A string or integer field as text (trdInvcNo is 1414 in one example, "50041" in another)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return None


def need_text(doc: Mapping[str, Any], name: str, prefix: str, errors: Errors) -> str | None:
    value = text(doc.get(name))
    if value is None:
        add(errors, f"{prefix}{name}", f"The {name} field is required.")
    return value


def need_number(doc: Mapping[str, Any], name: str, prefix: str, errors: Errors,
                minimum: Decimal | None = Decimal(0)) -> Decimal | None:
    value = number(doc.get(name))
    if value is None:
        add(errors, f"{prefix}{name}", f"The {name} field must be a number.")
    elif minimum is not None and value < minimum:
        add(errors, f"{prefix}{name}", f"The {name} field must be at least {minimum}.")
        return None
    return value


def need_date(doc: Mapping[str, Any], name: str, prefix: str, errors: Errors, digits: int,
              required: bool = True) -> None:
    value = doc.get(name)
    if value in (None, "") and not required:
        return
    pattern = _DATE8 if digits == 8 else _DATE14
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shape = "YYYYMMDD" if digits == 8 else "YYYYMMDDhhmmss"
        add(errors, f"{prefix}{name}", f"The {name} field must be a date as {shape}.")


def _close(a: Decimal, b: Decimal, within: Decimal) -> bool:
    return abs(a - b) <= within


def _tax_ok(taxable: Decimal, rate: Decimal, tax: Decimal) -> bool:
    """Tax-inclusive (taxable × r / (100 + r)) or tax-exclusive (taxable × r / 100)."""
    inclusive = taxable * rate / (100 + rate)
    exclusive = taxable * rate / 100
    return _close(tax, inclusive, TOLERANCE) or _close(tax, exclusive, TOLERANCE)


def _item_list(doc: Mapping[str, Any], prefix: str, errors: Errors) -> list[Any]:
    """The document's itemList (a non-empty list, as many as totItemCnt says), or []."""
    lines = doc.get("itemList")
    if not isinstance(lines, list) or not lines:
        add(errors, f"{prefix}itemList", "The itemList must be a non-empty list.")
        lines = []
    count = number(doc.get("totItemCnt"))
    if count is None or count != len(lines):
        add(errors, f"{prefix}totItemCnt", f"The totItemCnt must be {len(lines)} (items in itemList).")
    return lines


def check_transaction(doc: Any, prefix: str, errors: Errors, *, date_field: str,
                      receipt_types: tuple[str, ...]) -> None:
    """A sale, credit note or purchase: fields, lines and the arithmetic the header shows.

    Per band: taxblAmtX = Σ line taxblAmt of that band (to the cent), taxAmtX = taxblAmtX ×
    r/(100+r) or × r/100 within 1 shilling; totTaxblAmt = Σ bands, totTaxAmt = Σ taxAmtX;
    totAmt is the taxable total or taxable + tax (the seed's examples use both).
    """
    if not isinstance(doc, dict):
        add(errors, prefix.rstrip("."), "Must be a JSON object.")
        return
    need_text(doc, "invcNo", prefix, errors)
    kind = doc.get("rcptTyCd")
    if kind not in receipt_types:
        add(errors, f"{prefix}rcptTyCd", f"The rcptTyCd must be {' or '.join(receipt_types)}.")
    need_date(doc, date_field, prefix, errors, 8)
    need_date(doc, "cfmDt", prefix, errors, 14)
    lines = _item_list(doc, prefix, errors)
    rates: dict[str, Decimal] = {}
    band_taxable: dict[str, Decimal] = {}
    band_tax: dict[str, Decimal] = {}
    for band in BANDS:
        rates[band] = need_number(doc, f"taxRt{band}", prefix, errors) or Decimal(0)
        band_taxable[band] = need_number(doc, f"taxblAmt{band}", prefix, errors) or Decimal(0)
        band_tax[band] = need_number(doc, f"taxAmt{band}", prefix, errors) or Decimal(0)
    sums = dict.fromkeys(BANDS, Decimal(0))
    for index, line in enumerate(lines):
        band = _check_line(line, f"{prefix}itemList.{index}.", rates, errors)
        if band is not None:
            sums[band] += number(line.get("taxblAmt")) or Decimal(0)
    for band in BANDS:
        if lines and not _close(band_taxable[band], sums[band], EXACT):
            add(errors, f"{prefix}taxblAmt{band}",
                f"The taxblAmt{band} must be {sums[band]} (the sum of band {band}'s lines).")
        if not _tax_ok(band_taxable[band], rates[band], band_tax[band]):
            add(errors, f"{prefix}taxAmt{band}",
                f"The taxAmt{band} does not match taxblAmt{band} at taxRt{band}.")
    total_taxable = need_number(doc, "totTaxblAmt", prefix, errors)
    total_tax = need_number(doc, "totTaxAmt", prefix, errors)
    total = need_number(doc, "totAmt", prefix, errors)
    if total_taxable is not None and not _close(total_taxable, sum(band_taxable.values()), EXACT):
        add(errors, f"{prefix}totTaxblAmt", "The totTaxblAmt must be the sum of taxblAmtA..E.")
    if total_tax is not None and not _close(total_tax, sum(band_tax.values()), EXACT):
        add(errors, f"{prefix}totTaxAmt", "The totTaxAmt must be the sum of taxAmtA..E.")
    if None not in (total, total_taxable, total_tax) and not (
        _close(total, total_taxable, TOLERANCE) or _close(total, total_taxable + total_tax, TOLERANCE)
    ):
        add(errors, f"{prefix}totAmt", "The totAmt must be totTaxblAmt (tax-inclusive) or "
                                       "totTaxblAmt + totTaxAmt.")


def _check_line(line: Any, prefix: str, rates: Mapping[str, Decimal], errors: Errors) -> str | None:
    """One itemList entry; its band letter when that is valid."""
    if not isinstance(line, dict):
        add(errors, prefix.rstrip("."), "Must be a JSON object.")
        return None
    need_text(line, "itemCd", prefix, errors)
    need_text(line, "itemNm", prefix, errors)
    qty = need_number(line, "qty", prefix, errors)
    if qty is not None and qty <= 0:
        add(errors, f"{prefix}qty", "The qty must be greater than 0.")
    price = need_number(line, "prc", prefix, errors)
    supply = need_number(line, "splyAmt", prefix, errors)
    discount = number(line.get("dcAmt", line.get("totDcAmt"))) or Decimal(0)
    taxable = need_number(line, "taxblAmt", prefix, errors)
    tax = need_number(line, "taxAmt", prefix, errors)
    total = need_number(line, "totAmt", prefix, errors)
    if None not in (qty, price, supply) and not _close(supply, qty * price, TOLERANCE):
        add(errors, f"{prefix}splyAmt", "The splyAmt must be qty × prc.")
    if None not in (supply, taxable) and not _close(taxable, supply - discount, TOLERANCE):
        add(errors, f"{prefix}taxblAmt", "The taxblAmt must be splyAmt − dcAmt.")
    band = line.get("taxTyCd")
    if band not in BANDS:
        add(errors, f"{prefix}taxTyCd", "The taxTyCd must be one of A, B, C, D, E.")
        return None
    if None not in (taxable, tax) and rates and not _tax_ok(taxable, rates[band], tax):
        add(errors, f"{prefix}taxAmt", f"The taxAmt does not match taxblAmt at taxRt{band}.")
    if None not in (total, taxable, tax) and not (
        _close(total, taxable, TOLERANCE) or _close(total, taxable + tax, TOLERANCE)
    ):
        add(errors, f"{prefix}totAmt", "The totAmt must be taxblAmt or taxblAmt + taxAmt.")
    return band


def check_stock_io(doc: Any, errors: Errors) -> None:
    """insertStockIO's `data`: lines add up to the totals (no rate is sent, so line taxes are
    only summed, not recomputed)."""
    prefix = "data."
    if not isinstance(doc, dict):
        add(errors, "data", "Must be a JSON object.")
        return
    for name in ("sarNo", "sarTyCd", "regTyCd"):
        need_text(doc, name, prefix, errors)
    need_date(doc, "ocrnDt", prefix, errors, 8)
    lines = _item_list(doc, prefix, errors)
    taxable_sum = tax_sum = Decimal(0)
    for index, line in enumerate(lines):
        if _check_line(line, f"{prefix}itemList.{index}.", {}, errors) is not None:
            taxable_sum += number(line.get("taxblAmt")) or Decimal(0)
            tax_sum += number(line.get("taxAmt")) or Decimal(0)
    taxable = need_number(doc, "totTaxblAmt", prefix, errors)
    tax = need_number(doc, "totTaxAmt", prefix, errors)
    need_number(doc, "totAmt", prefix, errors)
    if taxable is not None and lines and not _close(taxable, taxable_sum, EXACT):
        add(errors, f"{prefix}totTaxblAmt", f"The totTaxblAmt must be {taxable_sum} (the lines' sum).")
    if tax is not None and lines and not _close(tax, tax_sum, EXACT):
        add(errors, f"{prefix}totTaxAmt", f"The totTaxAmt must be {tax_sum} (the lines' sum).")


PRODUCT_TEXT = ("itemCd", "itemClsCd", "itemTyCd", "itemNm", "orgnNatCd", "pkgUnitCd", "qtyUnitCd")


def check_product(product: Any, prefix: str, errors: Errors) -> None:
    if not isinstance(product, dict):
        add(errors, prefix.rstrip("."), "Must be a JSON object.")
        return
    for name in PRODUCT_TEXT:
        need_text(product, name, prefix, errors)
    if product.get("taxTyCd") not in BANDS:
        add(errors, f"{prefix}taxTyCd", "The taxTyCd must be one of A, B, C, D, E.")
    need_number(product, "dftPrc", prefix, errors)
    if product.get("useYn", "Y") not in ("Y", "N"):
        add(errors, f"{prefix}useYn", "The useYn must be Y or N.")


def check_stock_master(doc: Any, errors: Errors) -> None:
    if not isinstance(doc, dict):
        add(errors, "data", "Must be a JSON object.")
        return
    need_text(doc, "itemCd", "data.", errors)
    need_number(doc, "rsdQty", "data.", errors)


POS_REQUIRED = ("company_name", "kra_pin", "branch_id", "dvc_srl_no")
POS_FIELDS = (*POS_REQUIRED, "integration_token", "callback_url", "type", "cmcKey")


def check_pos(form: Mapping[str, str], errors: Errors) -> dict[str, str]:
    for name in POS_REQUIRED:
        if not form.get(name, "").strip():
            add(errors, name, f"The {name} field is required.")
    return {name: form.get(name, "") for name in POS_FIELDS}
