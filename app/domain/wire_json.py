"""JSON with Decimal values written as exact JSON numbers (the stdlib cannot emit raw numbers)."""

import json
from collections.abc import Callable, Mapping
from decimal import Decimal

from app.domain.money import plain


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


# Built once: json.loads/dumps with keyword arguments build a new decoder/encoder per call,
# which costs more than the parsing itself on the POS hot path.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
_encode_text = json.encoder.encode_basestring  # the C implementation, non-ASCII kept as is


def loads(text: str) -> object:
    """Parse JSON keeping every number exact (Decimal) and refusing NaN/Infinity."""
    return _DECODER.decode(text)


def dumps(obj: object) -> str:
    return _encode(obj)


def _unsupported(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _compact_encoder() -> Callable[[object], str]:
    """json.dumps(obj, ensure_ascii=False, separators=(",", ":")) for plain data, minus the
    cost of building an encoder on every call (JSONEncoder.encode does that)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    encode = make(None, _unsupported, json.encoder.encode_basestring, None, ":", ",", False,
                  False, True)
    return lambda obj: "".join(encode(obj, 0))


compact = _compact_encoder()


def _encode(obj: object) -> str:
    kind = type(obj)  # exact types first: this runs for every invoice received
    if kind is str:
        return _encode_text(obj)
    if kind is Decimal:
        return plain(obj)  # type: ignore[arg-type]
    if kind is int:
        return str(obj)
    if kind is dict:
        return "{" + ",".join([_encode_text(str(k)) + ":" + _encode(v)
                               for k, v in obj.items()]) + "}"  # type: ignore[attr-defined]
    if kind is list:
        return "[" + ",".join([_encode(v) for v in obj]) + "]"  # type: ignore[attr-defined]
    if isinstance(obj, str):
        return _encode_text(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, float):
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(int(obj))
    if isinstance(obj, Decimal):
        return plain(obj)
    if isinstance(obj, Mapping):
        return _encode(dict(obj))
    if isinstance(obj, list | tuple):
        return _encode(list(obj))
    return json.dumps(obj)
