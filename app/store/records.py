"""Plain records the store hands out; callers never see models or rows."""

import json
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from app.domain.states import State
from app.store.received import hash_hex, unpack


@dataclass(frozen=True)
class InvoiceRecord:
    id: int
    pos_id: str
    invoice_no: str
    ntn: str
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    date_time: str
    payment_mode: int
    warnings: list[dict[str, str]]
    content_hash: str
    state: State
    received_at: float
    updated_at: float
    attempts: int
    next_attempt_at: float
    ambiguous: bool
    last_error: str | None
    last_status: int | None
    transaction_id: str | None
    synced_at: float | None
    pos_version: int = 0  # only filled in by claim_due
    # Kenya (docs/KENYA.md); KPRA rows keep the defaults.
    kind: str = "invoice"  # invoice | credit_note | item | stock
    detail: dict | None = None  # the normalized document (docs/KENYA.md, "detail")
    upstream_ref: str | None = None  # the upstream's own id once it has one
    receipt_url: str | None = None  # the upstream's receipt link (the QR), once synced
    # Only filled in by claim_due: per row this one depends on (by its invoice_no), that row's
    # (upstream_ref, transaction_id).
    refs: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    COLUMNS = (
        "id, pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, total_amount, date_time, "
        "payment_mode, warnings_json, content_hash, state, received_at, updated_at, attempts, "
        "next_attempt_at, ambiguous, last_error, last_status, transaction_id, synced_at, "
        "kind, detail, upstream_ref, receipt_url"
    )

    @classmethod
    def from_row(cls, row: tuple, pos_version: int = 0) -> "InvoiceRecord":
        (id_, pos_id, invoice_no, ntn, amount, tax_rate, tax_amount, total_amount, date_time,
         payment_mode, warnings_json, content_hash, state, received_at, updated_at, attempts,
         next_attempt_at, ambiguous, last_error, last_status, transaction_id, synced_at,
         kind, detail, upstream_ref, receipt_url) = row
        return cls(
            id=id_, pos_id=pos_id, invoice_no=invoice_no, ntn=ntn, amount=Decimal(amount),
            tax_rate=Decimal(tax_rate), tax_amount=Decimal(tax_amount),
            total_amount=Decimal(total_amount), date_time=date_time, payment_mode=payment_mode,
            warnings=json.loads(warnings_json), content_hash=hash_hex(content_hash),
            state=State(state),
            received_at=received_at, updated_at=updated_at, attempts=attempts,
            next_attempt_at=next_attempt_at, ambiguous=bool(ambiguous), last_error=last_error,
            last_status=last_status, transaction_id=transaction_id, synced_at=synced_at,
            pos_version=pos_version, kind=kind,
            detail=None if detail is None else json.loads(unpack(detail)),
            upstream_ref=upstream_ref, receipt_url=receipt_url,
        )


class IntakeOutcome(StrEnum):
    CREATED = "created"
    REPLAYED = "replayed"  # identical content already stored: answer like the first time
    CONFLICT = "conflict"  # same pos_id + invoice_no, different content
    REFUSED = "refused"  # Kenya: cannot be stored as it stands (errors say why; answered 422)
    FAILED = "failed"  # Kenya: a bug stored nothing of this one (errors["problem"]: for the log)


class IntakeResult(NamedTuple):
    outcome: IntakeOutcome
    state: State  # the invoice's state now (a new one is queued, or held with its POS)
    record: InvoiceRecord | None = None  # the row already stored (replays and conflicts;
    # Kenya documents: also the row just created, with its final detail)
    errors: dict[str, str] | None = None  # REFUSED: field → what is wrong


@dataclass(frozen=True)
class AttemptRecord:
    started_at: float
    duration_ms: int
    http_status: int | None
    outcome: str
    message: str


@dataclass(frozen=True)
class PosRecord:
    pos_id: str
    ntn: str
    upstream: str
    version: int
    held_reason: str | None
    held_at: float | None


@dataclass(frozen=True)
class Summary:
    """What the health endpoint and `rims-utility status` show."""

    counts: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: float | None = None
    last_synced_at: float | None = None
    held: list[PosRecord] = field(default_factory=list)
