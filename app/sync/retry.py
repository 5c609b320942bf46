"""The one retry policy (DESIGN.md): first retry after 5–10 s, then capped exponential backoff
with jitter, forever. A 429's Retry-After is honoured (within reason)."""

import random
from dataclasses import dataclass, field

from app.settings import RetrySettings


@dataclass
class RetryPolicy:
    settings: RetrySettings = field(default_factory=RetrySettings)
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1-based)."""
        s = self.settings
        if failures <= 1:
            return self.rng.uniform(s.first_min, s.first_max)
        ceiling = min(s.cap, s.first_max * 2 ** min(failures - 1, 32))
        return self.rng.uniform(ceiling / 2, ceiling)

    def retry_after(self, asked: float | None, failures: int) -> float:
        if asked is None:
            return self.delay(failures)
        return min(max(asked, 0.0), self.settings.retry_after_max)
