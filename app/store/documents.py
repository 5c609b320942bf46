"""Kenya intake (docs/KENYA.md): storing the documents a till posts in the Kenya modes, as rows
of the one outbox (the invoice table, by ``kind``), with the rows each needs synced first
(dependency) and the items each POS sells (item). Called by the single writer inside its
group-commit transaction, like repository.store_invoices.

Row numbers: a sale keeps the till's number; a credit note is ``cn:<number>``, an item
``item:<code>``, a stock movement ``stock:<reference>`` (Kenya numbers never hold a colon)."""

import copy
import hashlib
import json
import sqlite3
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import peewee
from peewee import SqliteDatabase

from app.domain.errors import InvoiceValidationError
from app.domain.kenya import (
    Document,
    credited_quantities,
    kra_item_code,
    resolve_credit_note,
)
from app.domain.kenya_tax import TaxConfig, text
from app.domain.money import plain
from app.domain.states import State
from app.store import received
from app.store.records import IntakeOutcome, IntakeResult, InvoiceRecord

PREFIXES = {"invoice": "", "credit_note": "cn:", "item": "item:", "stock": "stock:"}
MONEY_KINDS = ("invoice", "credit_note")  # the kinds reports and totals sum
_SELECT = f"SELECT {InvoiceRecord.COLUMNS} FROM invoice"
_INSERT = (
    "INSERT INTO invoice (pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, total_amount, "
    "date_time, payment_mode, received_json, warnings_json, content_hash, state, received_at, "
    "updated_at, attempts, next_attempt_at, ambiguous, kind, detail) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,0,?,?) RETURNING id")
_ADDS = ("IN", "RETURN")  # stock adjustment types that add to the remaining quantity
_SUBTRACTS = ("OUT", "DAMAGE")


class Refused(Exception):
    """The document cannot be stored as it stands (answered 422, naming the field)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def row_number(kind: str, number: str) -> str:
    """The row's invoice_no for a document of ``kind`` numbered ``number`` (without prefix)."""
    return PREFIXES[kind] + number


def store_documents(db: SqliteDatabase, docs: Sequence[Document],
                    config: TaxConfig) -> list[IntakeResult]:
    """Group-commit body for Kenya documents, in order (a credit note may follow its original in
    the same batch). Per document: the same row number with the same content → REPLAYED (the
    first answer again), with other content → CONFLICT; a document that cannot be stored →
    REFUSED with its errors (nothing of it written); else CREATED, with the record as stored
    (its final detail: item codes, credited lines, remaining stock). ``config``: the tax
    settings credit notes and stock movements are computed with."""
    now = time.time()
    held = {pos_id for (pos_id,) in db.execute_sql(
        "SELECT pos_id FROM pos WHERE held_reason IS NOT NULL").fetchall()}
    results = []
    for doc in docs:
        try:
            with db.atomic():  # a savepoint: a refused document leaves nothing behind
                results.append(_store(db, doc, config, now, held))
        except (Refused, InvoiceValidationError) as refused:  # either names the field
            results.append(IntakeResult(IntakeOutcome.REFUSED, State.QUEUED, None,
                                        refused.errors))
        except (sqlite3.OperationalError, peewee.OperationalError):
            raise  # disk/lock trouble concerns the whole transaction
        except Exception:  # a bug: this document only (500), the others are stored
            results.append(IntakeResult(IntakeOutcome.FAILED, State.QUEUED, None,
                                        {"problem": traceback.format_exc()}))
    return results


def _store(db: SqliteDatabase, doc: Document, config: TaxConfig, now: float,
           held: set[str]) -> IntakeResult:
    state = State.HELD if doc.pos_id in held else State.QUEUED
    number = doc.number  # the row's invoice_no, prefixed by kind ("item:" for a name only)
    if doc.kind == "item" and number == PREFIXES["item"]:  # registered by name: known already?
        known = _item(db, doc.pos_id, None, doc.detail.get("item_name"))
        number = row_number("item", known[1]) if known else ""
    existing = _row(db, doc.pos_id, number) if number else None
    if existing is not None:
        same = existing.content_hash == doc.content_hash or (
            # an item the shop sold before registering it: registered once, as first seen
            doc.kind == existing.kind == "item"
            and (existing.detail or {}).get("item_name") == doc.detail.get("item_name"))
        outcome = IntakeOutcome.REPLAYED if same else IntakeOutcome.CONFLICT
        return IntakeResult(outcome, existing.state, existing)
    detail = copy.deepcopy(doc.detail)  # a copy to complete
    needs: list[int] = []
    if doc.kind == "invoice":
        _resolve_items(db, doc, detail, needs, now, state)
    elif doc.kind == "credit_note":
        doc = _credit(db, doc, needs, config)
        detail = doc.detail
    elif doc.kind == "item":
        code = detail.get("item_code") or _new_code(db, doc.pos_id, detail)
        detail["item_code"] = code
        number = row_number("item", code)
    elif doc.kind == "stock":
        _stock(db, doc, detail, needs, config)
    else:
        raise ValueError(f"unknown document kind {doc.kind!r}")
    money = (doc.amount, doc.tax_rate, doc.tax_amount, doc.total_amount)
    row_id = _insert(db, doc, doc.kind, number, detail, money, state, now, doc.received_json,
                     doc.content_hash)
    if doc.kind == "item":
        _add_item(db, doc.pos_id, detail["item_code"], detail.get("item_name") or "", row_id)
    for needs_id in dict.fromkeys(needs):
        db.execute_sql("INSERT OR IGNORE INTO dependency (invoice_id, needs_id) VALUES (?, ?)",
                       (row_id, needs_id))
    record = _row_by_id(db, row_id)
    return IntakeResult(IntakeOutcome.CREATED, record.state, record)


# ---------------------------------------------------------------- per kind

def _resolve_items(db: SqliteDatabase, doc: Document, detail: dict, needs: list[int],
                   now: float, state: State) -> None:
    """Each line's item: known by code (else by name, for this POS) → its row; unknown → a new
    item row, registered before the sale (it is created first, and the sale needs it). The
    sale's lines get the final item codes."""
    lines = detail.get("lines") or []
    for index, line in enumerate(lines):
        code, name = line.get("item_code") or None, line.get("item_name") or None
        known = _item(db, doc.pos_id, code, name)
        if known is not None:
            line["item_code"] = known[1]
            needs.append(known[2])
            continue
        item = _item_document(doc, index, line)
        code = code or _new_code(db, doc.pos_id, item)
        item["item_code"] = code
        item["kind"] = "item"
        posted = json.dumps({**item, "implied_by": doc.number}, ensure_ascii=False,
                            separators=(",", ":"))
        item_id = _insert(db, doc, "item", row_number("item", code), item,
                          (Decimal(0), Decimal(0), Decimal(0), Decimal(0)), state, now, posted,
                          hashlib.sha256(posted.encode()).hexdigest())
        _add_item(db, doc.pos_id, code, name or item.get("item_name") or code, item_id)
        line["item_code"] = code
        needs.append(item_id)


def _item_document(doc: Document, index: int, line: dict) -> dict:
    """The item a sale's line implies (docs/KENYA.md, kind "item"): the domain's, else built
    from the line."""
    items = [dict(item) for item in doc.items]
    lines = doc.detail.get("lines") or []
    if len(items) == len(lines) and index < len(items):
        return items[index]
    for item in items:
        if ((line.get("item_code") and item.get("item_code") == line.get("item_code"))
                or (line.get("item_name") and item.get("item_name") == line.get("item_name"))):
            return item
    fields = ("item_code", "item_name", "item_class_code", "pkg_unit", "qty_unit", "tax_type")
    return {"kind": "item", **{name: line.get(name) for name in fields},
            "unit_price": line.get("unit_price")}


def _credit(db: SqliteDatabase, doc: Document, needs: list[int],
            config: TaxConfig) -> Document:
    """A credit note with its lines checked against its original (same POS, a sale) less what
    earlier credit notes took, and its money negative (kenya.resolve_credit_note)."""
    original_no = doc.detail.get("original_invoice_no") or ""
    original = _row(db, doc.pos_id, original_no, kind="invoice")
    if original is None or original.detail is None:
        raise Refused({"original_invoice_no": (
            f"invoice {original_no} was not received by this utility from POS {doc.pos_id}; "
            "a credit note can only be sent for a sale sent through it")})
    earlier = [_unpacked(packed) for (packed,) in db.execute_sql(
        "SELECT c.detail FROM dependency d JOIN invoice c ON c.id = d.invoice_id "
        "WHERE d.needs_id = ? AND c.kind = 'credit_note'", (original.id,)).fetchall()]
    credited = resolve_credit_note(doc, original.detail, credited_quantities(earlier), config)
    needs.append(original.id)
    # KRA's orgInvcNo is the original's invcNo, its row id (docs/KENYA.md, "Requests").
    return replace(credited, detail={**credited.detail, "original_id": original.id})


def _stock(db: SqliteDatabase, doc: Document, detail: dict, needs: list[int],
           config: TaxConfig) -> None:
    """A stock movement: needs its item's row; moves the item's remaining quantity."""
    code, name = detail.get("item_code") or None, detail.get("item_name") or None
    known = _item(db, doc.pos_id, code, None if code else name)
    if known is None:
        raise Refused({"item_code": (
            f"item {code or name} is not registered in this utility for POS {doc.pos_id}; "
            "register it first (POST /api/item, or sell it)")})
    item_id, code, outbox_id, stock_qty = known
    item = _row_by_id(db, outbox_id).detail or {}
    for field in ("item_name", "item_class_code", "pkg_unit", "qty_unit", "tax_type"):
        if not detail.get(field) and item.get(field):
            detail[field] = item[field]
    detail["item_code"] = code
    band = detail.get("tax_type")
    if detail.get("tax_rate") is None and band and band in config.rates:
        detail["tax_rate"] = text(config.rate(band))
    quantity = abs(Decimal(str(detail.get("quantity", 0))))
    adjustment = str(detail.get("adjustment_type", "")).upper()
    if adjustment in _SUBTRACTS:
        quantity = -quantity
    elif adjustment not in _ADDS:
        raise Refused({"adjustment_type": f"adjustment_type {adjustment} is not one of "
                                          f"{', '.join(_ADDS + _SUBTRACTS)}"})
    remaining = Decimal(stock_qty) + quantity
    db.execute_sql("UPDATE item SET stock_qty = ? WHERE id = ?", (plain(remaining), item_id))
    detail["remaining_quantity"] = plain(remaining)
    needs.append(outbox_id)


# ---------------------------------------------------------------- helpers

def _insert(db: SqliteDatabase, doc: Document, kind: str, invoice_no: str, detail: dict,
            money: tuple[Decimal, ...], state: State, now: float, received_text: str,
            content_hash: str) -> int:
    amount, tax_rate, tax_amount, total_amount = money
    warnings = doc.warnings_json if kind == doc.kind else "[]"
    (row_id,) = db.execute_sql(_INSERT, (
        doc.pos_id, invoice_no, doc.ntn, plain(amount), plain(tax_rate), plain(tax_amount),
        plain(total_amount), doc.wire_date_time, doc.payment_mode, received.pack(received_text),
        warnings, received.hash_bytes(content_hash), state.value, now, now, now, kind,
        pack_detail(detail))).fetchone()
    return row_id


def pack_detail(detail: dict[str, Any]) -> bytes | str:
    """The detail column's value (unpacked by records.InvoiceRecord.from_row)."""
    return received.pack(json.dumps(detail, ensure_ascii=False, separators=(",", ":"),
                                    default=str))  # (a Decimal: its exact text)


def _unpacked(value: bytes | str | None) -> dict:
    return {} if value is None else json.loads(received.unpack(value))


def _row(db: SqliteDatabase, pos_id: str, invoice_no: str,
         kind: str | None = None) -> InvoiceRecord | None:
    row = db.execute_sql(f"{_SELECT} WHERE pos_id = ? AND invoice_no = ?",
                         (pos_id, invoice_no)).fetchone()
    record = InvoiceRecord.from_row(row) if row else None
    return record if record is None or kind is None or record.kind == kind else None


def _row_by_id(db: SqliteDatabase, row_id: int) -> InvoiceRecord:
    return InvoiceRecord.from_row(db.execute_sql(f"{_SELECT} WHERE id = ?", (row_id,)).fetchone())


def _item(db: SqliteDatabase, pos_id: str, code: str | None,
          name: str | None) -> tuple[int, str, int, str] | None:
    """(item id, code, its outbox row id, remaining quantity), by code, else by name."""
    if code:
        return db.execute_sql(
            "SELECT id, code, outbox_id, stock_qty FROM item WHERE pos_id = ? AND code = ?",
            (pos_id, code)).fetchone()
    if name:
        return db.execute_sql(
            "SELECT id, code, outbox_id, stock_qty FROM item WHERE pos_id = ? AND name = ? "
            "ORDER BY id LIMIT 1", (pos_id, name)).fetchone()
    return None


def _add_item(db: SqliteDatabase, pos_id: str, code: str, name: str, outbox_id: int) -> None:
    db.execute_sql("INSERT INTO item (pos_id, code, name, outbox_id, stock_qty) "
                   "VALUES (?, ?, ?, ?, '0')", (pos_id, code, name, outbox_id))


def _new_code(db: SqliteDatabase, pos_id: str, item: dict) -> str:
    """A KRA-style item code (KE{type}{pkg}{qty}{seq:07d}) from this POS's own sequence."""
    name = f"item_seq:{pos_id}"
    row = db.execute_sql("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    seq = int(row[0]) if row else 0
    while True:
        seq += 1
        code = kra_item_code(item.get("item_type") or "1", item.get("pkg_unit") or "NT",
                             item.get("qty_unit") or "U", seq)
        if _item(db, pos_id, code, None) is None:
            break
    db.execute_sql("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, str(seq)))
    return code
