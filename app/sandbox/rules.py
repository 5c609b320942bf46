"""What the KPRA sandbox accepts: request bodies, the seed's validation rules, exact JSON.

Bodies are JSON or form data; JSON numbers are read as exact Decimals and written back
unchanged (`dumps`), so an amount is never rounded through a float on its way through.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

MAX_INVOICE_NO = 50
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

Key = tuple[str, str]
Errors = dict[str, str]


# -- request parsing and the seed's validation rules ----------------------------------


async def read_body(request: web.Request) -> tuple[dict[str, Any], Errors | None]:
    """The fields of a JSON or form body, or the reason it is a Bad Request."""
    raw = await request.read()
    kind = request.content_type
    try:
        if kind == "application/json":
            parsed = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_nan)
            if not isinstance(parsed, dict):
                return {}, {"body": "must be a JSON object"}
            return parsed, None
        if kind == "application/x-www-form-urlencoded":
            text = raw.decode("utf-8")
            return dict(parse_qsl(text, keep_blank_values=True, errors="strict")), None
    except (ValueError, RecursionError):
        return {}, {"body": f"malformed {'JSON' if kind.endswith('json') else 'form data'}"}
    return {}, {"content_type": "use application/json or application/x-www-form-urlencoded"}


def _nan(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def field_text(value: Any) -> str | None:
    """A string field's value; JSON integers are accepted as their digits (e.g. invoice 19)."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: Any) -> Decimal | None:
    """A JSON number or numeric string as an exact Decimal; None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def _valid_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        dt.datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        return False
    return True


def first_present(body: Mapping[str, Any], *names: str) -> tuple[str | None, Any]:
    """The first of `names` with a non-blank value in `body`, and that value."""
    for name in names:
        if _present(body.get(name)):
            return name, body[name]
    return None, None


def invoice_key(body: Mapping[str, Any]) -> Key | None:
    """(pos_id, invoice_no) when the body names both, else None."""
    pos_id, invoice_no = field_text(body.get("pos_id")), field_text(body.get("invoice_no"))
    return (pos_id, invoice_no) if pos_id is not None and invoice_no is not None else None


def _check_text(body: Mapping[str, Any], name: str, errors: Errors) -> None:
    if not _present(body.get(name)):
        errors[name] = "required"
    elif field_text(body[name]) is None:
        errors[name] = "must be a string"


def check_credential_fields(body: Mapping[str, Any]) -> Errors:
    """Errors for missing or non-string `ntn`, `pos_id` and `key` (empty when all fine)."""
    errors: Errors = {}
    for name in ("ntn", "pos_id", "key"):
        _check_text(body, name, errors)
    return errors


def _check_number(body: Mapping[str, Any], name: str, errors: Errors) -> Decimal | None:
    if not _present(body.get(name)):
        errors[name] = "required"
        return None
    number = _number(body[name])
    if number is None:
        errors[name] = "must be a number"
    return number


def check_invoice(body: Mapping[str, Any]) -> Errors:
    """The seed's rules, over live (`date`, `sales_tax`) or utility (`date_time`,
    `tax_amount`) field names. Tax arithmetic is deliberately not checked (nor by KPRA)."""
    errors: Errors = {}
    _check_text(body, "invoice_no", errors)
    if "invoice_no" not in errors and len(str(field_text(body["invoice_no"]))) > MAX_INVOICE_NO:
        errors["invoice_no"] = f"must be at most {MAX_INVOICE_NO} characters"
    for name in ("amount", "total_amount"):
        number = _check_number(body, name, errors)
        if number is not None and number <= 0:
            errors[name] = "must be greater than 0"
    rate = _check_number(body, "tax_rate", errors)
    if rate is not None and not 0 <= rate <= 100:
        errors["tax_rate"] = "must be between 0 and 100"
    if first_present(body, "sales_tax", "tax_amount")[0] is None:
        errors["sales_tax"] = "required (or tax_amount)"
    for name in ("sales_tax", "tax_amount"):
        if _present(body.get(name)):
            _check_number(body, name, errors)
    if first_present(body, "date", "date_time")[0] is None:
        errors["date"] = "required (or date_time)"
    for name in ("date", "date_time"):
        if _present(body.get(name)) and not _valid_date(body[name]):
            errors[name] = "must be a valid date and time as YYYY-MM-DD HH:MM:SS"
    mode = body.get("payment_mode")
    number = _number(mode) if _present(mode) else None
    if number is not None and number not in (1, 2):  # non-numeric values mean 1 (cash)
        errors["payment_mode"] = "must be 1 (cash) or 2 (card)"
    return errors


# -- exact-number JSON ----------------------------------------------------------------


def dumps(obj: Any) -> str:
    """JSON text with Decimals written exactly as numbers (json.dumps would need floats)."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    return json.dumps(obj)


def answer(
    status: int,
    message: str,
    *,
    errors: Errors | None = None,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A KPRA-shaped JSON answer: {"status", "message", ["errors"], ["data"]}."""
    payload: dict[str, Any] = {"status": status, "message": message}
    if errors is not None:
        payload["errors"] = errors
    if data is not None:
        payload["data"] = data
    return json_response(payload, status, headers)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """`obj` as an application/json response, Decimals exact (see `dumps`)."""
    return web.Response(
        status=status, text=dumps(obj), content_type="application/json", headers=headers
    )
