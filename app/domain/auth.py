"""Checking what a POS sent against the configured POSes, in constant time."""

import hmac
from collections.abc import Mapping

# pos_id → (ntn, key); key None when the POS is configured but its key is not in the keyring.
CredentialTable = Mapping[str, tuple[str, str | None]]

_NO_KEY = b"\x00unknown-pos\x00"


def credentials_match(table: CredentialTable, ntn: str, pos_id: str, key: str) -> bool:
    """True when ``pos_id`` is configured with this NTN and key. The comparisons take the same
    time whether or not the POS exists, so timing does not reveal which part was wrong."""
    entry = table.get(pos_id)
    expected_ntn, expected_key = entry if entry is not None else ("", None)
    key_ok = hmac.compare_digest(key.encode(), expected_key.encode() if expected_key else _NO_KEY)
    ntn_ok = hmac.compare_digest(ntn.encode(), expected_ntn.encode())
    return entry is not None and expected_key is not None and key_ok and ntn_ok
