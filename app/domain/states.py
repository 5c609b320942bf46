"""Invoice states (DESIGN.md, "Invoice states")."""

from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"  # on disk, waiting for its turn (or for the upstream to come back)
    SENDING = "sending"  # a request is in flight; found at start-up it means "ambiguous"
    SYNCED = "synced"  # the authority recorded it
    REJECTED = "rejected"  # the authority said no; a person must look at it
    HELD = "held"  # credentials/configuration problem for its POS; paused until fixed


PENDING_STATES = (State.QUEUED, State.SENDING, State.HELD)
