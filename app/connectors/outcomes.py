"""What a send can end in (DESIGN.md, "connectors/"). The forwarder maps each to a state."""

from dataclasses import dataclass
from typing import Protocol

from app.store.records import InvoiceRecord


@dataclass(frozen=True)
class Credentials:
    ntn: str
    pos_id: str
    key: str

    def __repr__(self) -> str:  # never let the key reach a log line or traceback
        return f"Credentials(ntn={self.ntn!r}, pos_id={self.pos_id!r}, key=***)"


@dataclass(frozen=True)
class Accepted:
    transaction_id: str | None
    status: int
    message: str = "Recorded by the authority."
    upstream_ref: str | None = None  # the upstream's own id (ProTax inv_/itm_, KRA sale_id)
    receipt_url: str | None = None  # the upstream's receipt link for the QR (Kenya)


@dataclass(frozen=True)
class AlreadyRecorded:
    """The authority says it already has this invoice number for this POS."""

    status: int
    message: str
    transaction_id: str | None = None


@dataclass(frozen=True)
class Rejected:
    status: int
    message: str


@dataclass(frozen=True)
class AuthFailed:
    """Credentials or configuration wrong: nothing for this POS can go until a person fixes it."""

    status: int
    message: str


@dataclass(frozen=True)
class RetryLater:
    """Certainly not recorded (refused connection, 429, ...): try again after ``after`` s
    (None: the retry policy decides)."""

    message: str
    status: int | None = None
    after: float | None = None


@dataclass(frozen=True)
class Ambiguous:
    """Sent, but the answer was lost or was a server error: it may have been recorded."""

    message: str
    status: int | None = None


@dataclass(frozen=True)
class Submitted:
    """The upstream holds it but has not finished (ProTax QUEUED/PROCESSING, KRA Agent
    not_completed): ask about ``upstream_ref`` again after ``after`` s instead of posting again."""

    upstream_ref: str
    message: str
    status: int | None = None
    after: float | None = None


Outcome = (Accepted | AlreadyRecorded | Rejected | AuthFailed | RetryLater | Ambiguous
           | Submitted)


class Connector(Protocol):
    name: str

    async def submit(self, invoice: InvoiceRecord, credentials: Credentials) -> Outcome: ...

    async def probe(self) -> bool:
        """True when the authority's server answers at all (any HTTP status)."""
        ...

    async def close(self) -> None: ...
