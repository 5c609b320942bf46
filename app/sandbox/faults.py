"""The fault plan: how the sandbox's KPRA endpoint should misbehave next.

Real KPRA fails in ways our forwarder must survive (outages, 500s, lost answers, slow
answers, rate limits, sudden 401s). Tests and "practice mode" arm those failures here;
the HTTPS handler calls `take()` once per request and acts on the returned decision.
Plain state, no I/O. Counters are consumed under a lock, so two concurrent requests can
never both consume the last `fail_next`.

Besides counted faults there is a seeded random mode ("chaos") for soak tests: each request
draws its fault from a probability table, e.g.
`plan.apply({"chaos": {"fail": 0.1, "drop": 0.05, "slow": 0.2}, "chaos_seed": 7})`.
The same seed deals the same sequence of faults to the same sequence of requests (which
invoice gets which fault still depends on the order in which requests arrive).
"""

from __future__ import annotations

import enum
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


class Fault(enum.Enum):
    """The single counted fault a request gets (at most one per request)."""

    NONE = "none"
    DOWN = "down"
    FAIL = "fail"
    DROP = "drop"
    RATE_LIMIT = "rate_limit"
    UNAUTHORIZED = "unauthorized"
    REJECT = "reject"  # a 400 about the invoice's data: what a stricter rule upstream says
    RESET = "reset"  # the connection breaks after the body arrived, before it is handled


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: a fault, plus a delay before answering.

    `hold` is a wait before the request is even handled (a stuck server: the client may
    give up, and the invoice is still recorded afterwards).
    """

    fault: Fault = Fault.NONE
    delay: float = 0.0
    retry_after: float = 0.0
    hold: float = 0.0

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
    ("reject_next", Fault.REJECT),
)
_INTS = ("fail_next", "drop_next", "rate_limit_next", "delay_next", "unauthorized_next",
         "reject_next",
         "chaos_seed")
_FLOATS = ("retry_after", "delay", "chaos_slow_max", "chaos_timeout")
# Chaos: one draw per request picks at most one of these (their probabilities add up to <= 1)...
_CHAOS_FAULTS: tuple[tuple[str, Fault], ...] = (
    ("fail", Fault.FAIL),
    ("reset", Fault.RESET),
    ("drop", Fault.DROP),
    ("rate_limit", Fault.RATE_LIMIT),
    ("timeout", Fault.NONE),  # held `chaos_timeout` seconds before it is handled
)
# ... and a second, independent draw makes the answer slow (0..chaos_slow_max seconds).
CHAOS_KINDS: tuple[str, ...] = (*(name for name, _ in _CHAOS_FAULTS), "slow")
_DEFAULTS: dict[str, Any] = {
    "down": False,
    "fail_next": 0,
    "drop_next": 0,
    "rate_limit_next": 0,
    "retry_after": 1.0,
    "delay": 0.0,
    "delay_next": 0,
    "unauthorized_next": 0,
    "reject_next": 0,
    "chaos": {},
    "chaos_seed": 0,
    "chaos_slow_max": 0.5,
    "chaos_timeout": 40.0,
}


class FaultPlan:
    """Armed faults. Assigning an attribute validates it (e.g. `plan.fail_next = 2`).

    - down: the HTTPS site is stopped (the sandbox does that in `set_down`; if only this
      flag is set, requests that still arrive are dropped unanswered).
    - fail_next / drop_next / rate_limit_next / unauthorized_next / reject_next: counters,
      checked in that order; one request consumes one unit of the first non-zero counter.
      reject_next answers 400 about the invoice's data (nothing recorded): the invoice is
      rejected, and a retry after the fix goes through.
    - retry_after: seconds for the 429 `Retry-After` header.
    - delay: seconds to wait before answering; delay_next: 0 = every request while
      delay > 0, N = only the next N requests (then delay drops back to 0).
    - chaos: {kind: probability} for requests no counter applies to, kinds in CHAOS_KINDS:
      fail (500), reset (connection broken before handling: not recorded), drop (handled,
      maybe recorded, answer lost), rate_limit (429 with `retry_after`), timeout (held
      `chaos_timeout` seconds, then handled: the client has given up by then), and, drawn
      separately, slow (0..`chaos_slow_max` seconds more before answering). {} = off.
    - chaos_seed: seeds the draws; assigning it or `chaos` starts the sequence afresh.
    `dealt()` counts the chaos faults dealt so far.
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
    reject_next: int
    chaos: Mapping[str, float]
    chaos_seed: int
    chaos_slow_max: float
    chaos_timeout: float

    def __init__(self) -> None:
        object.__setattr__(self, "_lock", threading.RLock())
        self.reset()

    def __setattr__(self, name: str, value: Any) -> None:
        checked = _check(name, value)
        with self._lock:
            self._set(name, checked)

    def reset(self) -> None:
        """Clear every fault (including `down`; the sandbox restarts its site itself)."""
        with self._lock:
            for name, value in _DEFAULTS.items():
                self._set(name, value)
            object.__setattr__(self, "_dealt", {})

    def dealt(self) -> dict[str, int]:
        """How many of each chaos fault were dealt since the last reset (kinds never dealt: 0)."""
        with self._lock:
            return {kind: self._dealt.get(kind, 0) for kind in CHAOS_KINDS}

    def _set(self, name: str, value: Any) -> None:
        """Store a checked value (lock held); arming chaos or its seed restarts the draws."""
        if name == "chaos":
            value = MappingProxyType(dict(value))  # changed only by assigning (validated)
        object.__setattr__(self, name, value)
        if name in ("chaos", "chaos_seed"):
            object.__setattr__(self, "_rng", random.Random(self.__dict__.get("chaos_seed", 0)))

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
                self._set(name, value)

    def snapshot(self) -> dict[str, Any]:
        """The current plan as a plain dict (for the control API)."""
        with self._lock:
            plan = {name: getattr(self, name) for name in self.FIELDS}
            plan["chaos"] = dict(plan["chaos"])
            return plan

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
            hold = 0.0
            if fault is Fault.NONE and self.chaos:
                fault, hold, slow = self._draw()
                delay += slow
            return FaultDecision(fault, delay, self.retry_after, hold)

    def _draw(self) -> tuple[Fault, float, float]:
        """One request's chaos (lock held): (fault, hold, extra delay). The same three draws
        every time, so a seed's sequence does not depend on which faults are armed."""
        pick, slow_pick = self._rng.random(), self._rng.random()
        slow_for = self._rng.uniform(0.0, self.chaos_slow_max)
        fault, hold, kind = Fault.NONE, 0.0, None
        edge = 0.0
        for name, kind_fault in _CHAOS_FAULTS:
            edge += self.chaos.get(name, 0.0)
            if pick < edge:
                kind, fault = name, kind_fault
                hold = self.chaos_timeout if name == "timeout" else 0.0
                break
        slow = slow_for if slow_pick < self.chaos.get("slow", 0.0) else 0.0
        for dealt in (kind, "slow" if slow else None):
            if dealt is not None:
                self._dealt[dealt] = self._dealt.get(dealt, 0) + 1
        return fault, hold, slow


def _check(name: str, value: Any) -> Any:
    """Validate one field's value; return it normalised (ints as int, seconds as float)."""
    if name not in _DEFAULTS:
        raise ValueError(f"{name}: unknown fault field")
    if name == "down":
        if not isinstance(value, bool):
            raise ValueError("down: must be true or false")
        return value
    if name == "chaos":
        return _check_chaos(value)
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


def _check_chaos(value: Any) -> dict[str, float]:
    """A chaos table: known kinds, probabilities in [0, 1], the exclusive faults adding up to
    at most 1 ("slow" is drawn on its own)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"chaos: must be an object of {{kind: probability}}, kinds "
                         f"{', '.join(CHAOS_KINDS)}")
    table: dict[str, float] = {}
    for kind, probability in value.items():
        if kind not in CHAOS_KINDS:
            raise ValueError(f"chaos: unknown kind {kind!r} (known: {', '.join(CHAOS_KINDS)})")
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            raise ValueError(f"chaos: {kind} must be a probability between 0 and 1")
        number = float(probability)
        if not 0.0 <= number <= 1.0:  # also refuses NaN
            raise ValueError(f"chaos: {kind} must be a probability between 0 and 1")
        table[kind] = number
    if sum(p for kind, p in table.items() if kind != "slow") > 1.0 + 1e-9:
        raise ValueError("chaos: the probabilities of the faults other than slow add up to "
                         "more than 1")
    return table
