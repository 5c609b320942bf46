"""JSON with Decimal values written as exact JSON numbers (the stdlib cannot emit raw numbers)."""

import json
from collections.abc import Mapping
from decimal import Decimal

from app.domain.money import plain


def loads(text: str | bytes) -> object:
    """Parse JSON keeping every number exact (Decimal) and refusing NaN/Infinity."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def dumps(obj: object) -> str:
    return _encode(obj)


def _encode(obj: object) -> str:
    if isinstance(obj, Decimal):
        return plain(obj)
    if isinstance(obj, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_encode(v) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False)
