"""JSON with every number exact: decimals are read as Decimal and written back as the same JSON
number (the stdlib can do neither without going through floats, or slowly). msgspec does both in C,
which matters here: every invoice a POS sends is read once and written twice."""

from decimal import Decimal

import msgspec

# Built once; floats become Decimal from their own text, NaN/Infinity are not JSON at all.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(decimal_format="number")

DecodeError = msgspec.DecodeError  # a ValueError; str() says what is wrong and at which byte


def loads(data: bytes | str) -> object:
    """Parse JSON keeping every number exact (Decimal; whole numbers stay int). Raises
    DecodeError (not JSON, or lone UTF-16 surrogates) or UnicodeDecodeError (not UTF-8)."""
    return _DECODER.decode(data)


def dumps(obj: object) -> str:
    """Compact JSON text; Decimals as the exact numbers they are, non-ASCII kept as is."""
    return _ENCODER.encode(obj).decode()


def dumps_bytes(obj: object) -> bytes:
    """dumps(), as the UTF-8 bytes that go on the wire."""
    return _ENCODER.encode(obj)
