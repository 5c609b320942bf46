"""The KPRA sandbox's books: accepted invoices and arrival counts, kept in records.jsonl.

Two kinds of line: {"event":"request", pos_id, invoice_no} per POST (ids null when the
body did not name them) and {"event":"record", pos_id, invoice_no, transaction_id,
fields}. The `key` is never in `fields`. Damaged lines are skipped with a log message.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.sandbox.rules import Key, dumps

log = logging.getLogger(__name__)

FIRST_TRANSACTION_ID = 8843481
RECORDS_FILE = "records.jsonl"


@dataclass(frozen=True)
class Record:
    """One invoice the sandbox accepted: its id, fields as received (no `key`), arrivals."""

    pos_id: str
    invoice_no: str
    transaction_id: int
    fields: Mapping[str, Any]
    received_count: int


class Book:
    """Accepted invoices and arrival counts, appended to records.jsonl and replayed on load."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[Key, tuple[int, dict[str, Any]]] = {}
        self.counts: dict[Key, int] = {}
        self.total = 0
        self.next_id = FIRST_TRANSACTION_ID
        if path.exists():
            self._load()

    def note_request(self, key: Key | None) -> None:
        pos_id, invoice_no = key if key else (None, None)
        self._append({"event": "request", "pos_id": pos_id, "invoice_no": invoice_no})

    def add(self, key: Key, fields: dict[str, Any]) -> int:
        tid = self.next_id
        event = {"event": "record", "pos_id": key[0], "invoice_no": key[1]}
        self._append({**event, "transaction_id": tid, "fields": fields})
        return tid

    def _load(self) -> None:
        text = self.path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            try:
                self._apply(json.loads(line, parse_float=Decimal))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("%s line %d is damaged; skipped", self.path, number)
        if text and not text.endswith("\n"):  # a crash cut the last line: start afresh
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")

    def _apply(self, event: dict[str, Any]) -> None:
        pos_id, invoice_no = event["pos_id"], event["invoice_no"]
        named = isinstance(pos_id, str) and isinstance(invoice_no, str)
        key = (pos_id, invoice_no) if named else None
        if event["event"] == "request":
            self.total += 1
            if key:
                self.counts[key] = self.counts.get(key, 0) + 1
        elif event["event"] == "record":
            tid, fields = event["transaction_id"], event["fields"]
            if key is None or not isinstance(tid, int) or not isinstance(fields, dict):
                raise ValueError("malformed record")
            self.records[key] = (tid, fields)
            self.next_id = max(self.next_id, tid + 1)

    def _append(self, event: dict[str, Any]) -> None:
        stamped = {**event, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(dumps(stamped) + "\n")
        self._apply(event)
