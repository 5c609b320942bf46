"""The fault plan: how the sandbox's KPRA endpoint should misbehave next.

Real KPRA fails in ways our forwarder must survive (outages, 500s, lost answers, slow
answers, rate limits, sudden 401s). Tests and "practice mode" arm those failures here;
the HTTPS handler calls `take()` once per request and acts on the returned decision.
Plain state, no I/O. Counters are consumed under a lock, so two concurrent requests can
never both consume the last `fail_next`.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Fault(enum.Enum):
    """The single counted fault a request gets (at most one per request)."""

    NONE = "none"
    DOWN = "down"
    FAIL = "fail"
    DROP = "drop"
    RATE_LIMIT = "rate_limit"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: a fault, plus a delay before answering."""

    fault: Fault = Fault.NONE
    delay: float = 0.0
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """`Retry-After` value: whole seconds, rounded up."""
        return str(max(0, math.ceil(self.retry_after)))


# Counted faults in the order they are checked; only the first armed one is consumed.
_COUNTERS: tuple[tuple[str, Fault], ...] = (
    ("fail_next", Fault.FAIL),
    ("drop_next", Fault.DROP),
    ("rate_limit_next", Fault.RATE_LIMIT),
    ("unauthorized_next", Fault.UNAUTHORIZED),
)
_INTS = ("fail_next", "drop_next", "rate_limit_next", "delay_next", "unauthorized_next")
_FLOATS = ("retry_after", "delay")
_DEFAULTS: dict[str, Any] = {
    "down": False,
    "fail_next": 0,
    "drop_next": 0,
    "rate_limit_next": 0,
    "retry_after": 1.0,
    "delay": 0.0,
    "delay_next": 0,
    "unauthorized_next": 0,
}


class FaultPlan:
    """Armed faults. Assigning an attribute validates it (e.g. `plan.fail_next = 2`).

    - down: the HTTPS site is stopped (the sandbox does that in `set_down`; if only this
      flag is set, requests that still arrive are dropped unanswered).
    - fail_next / drop_next / rate_limit_next / unauthorized_next: counters, checked in
      that order; one request consumes one unit of the first non-zero counter.
    - retry_after: seconds for the 429 `Retry-After` header.
    - delay: seconds to wait before answering; delay_next: 0 = every request while
      delay > 0, N = only the next N requests (then delay drops back to 0).
    """

    FIELDS: tuple[str, ...] = tuple(_DEFAULTS)

    down: bool
    fail_next: int
    drop_next: int
    rate_limit_next: int
    retry_after: float
    delay: float
    delay_next: int
    unauthorized_next: int

    def __init__(self) -> None:
        object.__setattr__(self, "_lock", threading.RLock())
        self.reset()

    def __setattr__(self, name: str, value: Any) -> None:
        checked = _check(name, value)
        with self._lock:
            object.__setattr__(self, name, checked)

    def reset(self) -> None:
        """Clear every fault (including `down`; the sandbox restarts its site itself)."""
        with self._lock:
            for name, value in _DEFAULTS.items():
                object.__setattr__(self, name, value)

    def apply(self, changes: Mapping[str, Any]) -> None:
        """Set several fields at once, all-or-nothing; `{"reset": true}` resets first.

        Raises ValueError naming the first unknown or invalid field.
        """
        checked = {k: _check(k, v) for k, v in changes.items() if k != "reset"}
        reset = changes.get("reset", False)
        if not isinstance(reset, bool):
            raise ValueError("reset: must be true or false")
        with self._lock:
            if reset:
                self.reset()
            for name, value in checked.items():
                object.__setattr__(self, name, value)

    def snapshot(self) -> dict[str, Any]:
        """The current plan as a plain dict (for the control API)."""
        with self._lock:
            return {name: getattr(self, name) for name in self.FIELDS}

    def take(self) -> FaultDecision:
        """Consume what applies to one arriving request, atomically."""
        with self._lock:
            if self.down:
                return FaultDecision(Fault.DOWN)
            fault = Fault.NONE
            for name, kind in _COUNTERS:
                remaining = getattr(self, name)
                if remaining > 0:
                    object.__setattr__(self, name, remaining - 1)
                    fault = kind
                    break
            delay = self.delay
            if delay > 0 and self.delay_next > 0:
                object.__setattr__(self, "delay_next", self.delay_next - 1)
                if self.delay_next == 0:
                    object.__setattr__(self, "delay", 0.0)
            return FaultDecision(fault, delay, self.retry_after)


def _check(name: str, value: Any) -> Any:
    """Validate one field's value; return it normalised (ints as int, seconds as float)."""
    if name not in _DEFAULTS:
        raise ValueError(f"{name}: unknown fault field")
    if name == "down":
        if not isinstance(value, bool):
            raise ValueError("down: must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number")
    if name in _INTS:
        if (isinstance(value, float) and not value.is_integer()) or value < 0:
            raise ValueError(f"{name}: must be a whole number >= 0")
        return int(value)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name}: must be a number of seconds >= 0")
    return number
