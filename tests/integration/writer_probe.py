"""Sent to the database writer process by test_writer_process.py (ops travel by name): nothing
here may import more than the standard library, or it would show in what it reports."""

import sys


def loaded_modules(db: object) -> list[str]:
    """What the writer process has imported (an op: called as fn(db) inside a transaction)."""
    return sorted(sys.modules)
