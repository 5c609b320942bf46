"""Whether the upstream may be asked right now. One failure is the invoice's problem; two in a
row look like an outage: then only one probe goes out per backoff period, so a long outage costs
a trickle of requests and the queue drains at full speed the moment a probe succeeds."""

from dataclasses import dataclass

from app.sync.retry import RetryPolicy


@dataclass
class UpstreamGate:
    policy: RetryPolicy
    failures_in_row: int = 0
    level: int = 0  # outage depth: how many backoff periods so far
    closed_until: float = 0.0
    reachable: bool | None = None  # None until something was tried
    last_error: str | None = None

    @property
    def probing(self) -> bool:
        return self.level > 0

    def wait(self, now: float) -> float:
        return max(0.0, self.closed_until - now)

    def success(self) -> None:
        self.failures_in_row = self.level = 0
        self.closed_until = 0.0
        self.reachable, self.last_error = True, None

    def failure(self, now: float, message: str, *, unreachable: bool) -> None:
        self.failures_in_row += 1
        self.last_error = message
        if unreachable:
            self.reachable = False
        if self.failures_in_row >= 2 and now >= self.closed_until:
            self.level += 1
            self.closed_until = now + self.policy.delay(self.level)

    def slow_down(self, now: float, seconds: float) -> None:
        """429: the server is there but wants us to wait; nobody sends before then."""
        self.reachable = True
        self.closed_until = max(self.closed_until, now + seconds)
