"""The invoice as the utility understands it, after validation."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain import wire_json
from app.domain.money import canonical

WIRE_DATETIME = "%Y-%m-%d %H:%M:%S"  # the seed's format, on every wire we speak

CASH, CARD = 1, 2


def wire_time(timestamp: float | None) -> str | None:
    """A stored unix time as this PC's local wall-clock time, in the wire format."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp).strftime(WIRE_DATETIME)


class cached_property:
    """Computed on first use, then a plain attribute of the instance (frozen dataclasses too)."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn, self.name = fn, fn.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.fn(instance)
        return value


@dataclass(frozen=True)
class Warning:
    """Something odd the shopkeeper should see; never a reason to refuse a sale."""

    code: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Invoice:
    """A validated invoice. It never carries the POS key (that stays in the keyring)."""

    ntn: str
    pos_id: str
    invoice_no: str
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    date_time: datetime  # the shop's wall-clock time, naive, as on the receipt
    payment_mode: int = CASH
    warnings: tuple[Warning, ...] = ()
    received: dict[str, object] = field(default_factory=dict, compare=False)  # as sent, minus key

    @cached_property
    def wire_date_time(self) -> str:
        return self.date_time.isoformat(" ")  # = WIRE_DATETIME (no microseconds: validation
        # drops them); unlike strftime it keeps four-digit years below 1000

    @cached_property
    def content_hash(self) -> str:
        """Same content, same hash: 200 and "200.00" are the same amount. Extra fields don't count.
        Fields are joined with a separator that validation forbids inside them (a control char)."""
        text = "\x1f".join((
            self.ntn, self.pos_id, self.invoice_no, canonical(self.amount),
            canonical(self.tax_rate), canonical(self.tax_amount), canonical(self.total_amount),
            self.wire_date_time, str(self.payment_mode),
        ))
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def received_json(self) -> str:
        """The fields exactly as the POS sent them (numbers exact), minus the key."""
        return wire_json.dumps(self.received)

    @cached_property
    def warnings_json(self) -> str:
        if not self.warnings:
            return "[]"
        return wire_json.dumps([w.as_dict() for w in self.warnings])


@dataclass(frozen=True)
class Submission:
    """What the POS sent: the invoice plus the key it authenticated with."""

    invoice: Invoice
    key: str
