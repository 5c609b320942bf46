"""How an invoice's ``received_json`` (the POS's fields exactly as received, minus the key) and
its content hash are stored: compactly, and always recoverable exactly (schema v4).

- received_json is a BLOB: one format byte, then the UTF-8 text deflated (raw deflate) with a
  preset dictionary of the POS API's field names. A till's JSON is mostly those names, so a
  typical invoice's 188 bytes become about 80. Text that would not get smaller stays TEXT,
  verbatim. ``unpack`` gives back the exact text either way.
- content_hash is the SHA-256's 32 bytes (a BLOB), not its 64 hex digits; the store's readers
  hand out the hex (records.py), as before.

A format byte, once shipped, means the same dictionary forever: a new dictionary is a new byte.
"""

import zlib

_FORMAT_1 = 1
# The POS API's fields (the seed's names, the live API's aliases, form posts' quoted values),
# the most common last: deflate finds the field names here instead of spelling them out.
_DICTIONARIES = {
    _FORMAT_1: (
        b'"date":"20"sales_tax":"","tax_rate":"","payment_mode":"1"}'
        b'{"ntn":"","pos_id":"","invoice_no":"","amount":,"tax_rate":,"tax_amount":,'
        b'"total_amount":,"date_time":"20","payment_mode":'
    ),
}
# Raw deflate (no zlib header or checksum: SQLite's pages have their own checks) with a window
# of 512 bytes and the smallest hash table: a JSON of a few hundred bytes is packed as small as
# with the defaults, in 5 µs instead of 20-80 (the default buffers, 256 KB, are allocated and
# touched anew for every invoice). Inflating takes any window up to 32 KB.
_LEVEL, _PACK_WINDOW, _MEM_LEVEL = 6, -9, 1
_UNPACK_WINDOW = -15


def pack(text: str) -> bytes | str:
    """What goes into the received_json column for ``text``."""
    data = text.encode()
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, _PACK_WINDOW, _MEM_LEVEL,
                               zlib.Z_DEFAULT_STRATEGY, _DICTIONARIES[_FORMAT_1])
    packed = bytes((_FORMAT_1,)) + deflate.compress(data) + deflate.flush()
    return packed if len(packed) < len(data) else text


def unpack(value: bytes | str) -> str:
    """The exact text ``pack`` was given (a TEXT value is that text already: stored before
    schema v4 was migrated, or not worth packing)."""
    if isinstance(value, str):
        return value
    dictionary = _DICTIONARIES.get(value[0]) if value else None
    if dictionary is None:
        raise ValueError(f"received_json in an unknown format ({value[:1].hex() or 'empty'}); "
                         "written by a newer RIMS Utility?")
    inflate = zlib.decompressobj(_UNPACK_WINDOW, dictionary)
    text = inflate.decompress(value[1:]) + inflate.flush()
    if not inflate.eof:
        raise ValueError("received_json is cut short")
    return text.decode()


def hash_bytes(hex_digest: str) -> bytes:
    """The content_hash column's value for a hex digest (Invoice.content_hash)."""
    return bytes.fromhex(hex_digest)


def hash_hex(value: bytes | str) -> str:
    """The hex digest, from the content_hash column (TEXT before schema v4 was migrated)."""
    return value if isinstance(value, str) else value.hex()
