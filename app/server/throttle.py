"""Throttling of repeated failed key checks (401) per client, against guessing keys.

After ``max_failures`` final 401 answers within ``window`` seconds from one client, that client's
state-changing requests are refused (429 with Retry-After) for ``cooling`` seconds. Only
failures count: an attacker cannot wash its count clean by mixing in a post it knows to be
good. Other clients are never affected.

Pure logic (no aiohttp, no real clock): the clock is injected, so tests control time."""

import ipaddress
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_FAILURES = 10  # a till with a wrong key sends one invoice at a time; ten a minute is not that
WINDOW = 60.0
COOLING = 60.0
MAX_TRACKED = 4096  # clients remembered at once; bounds the memory an address-hopper can take

LOOPBACK = "loopback"
LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1"})


def client_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer address as an IP (an IPv4-mapped IPv6 one as the IPv4 it is); None if not one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_key(address: str | None) -> str:
    """The bucket a client address counts in.

    - every loopback address is one client: any of 127.0.0.0/8 can be used as a source address
      on this computer, so a local guesser could otherwise take a fresh bucket per attempt;
    - an IPv6 address counts with its /64, which one machine can hop around in;
    - an IPv4 address (or an IPv4-mapped IPv6 one) is itself.
    """
    if address is None:
        return "unknown"
    if address in LOOPBACK_ADDRESSES:  # the usual case, without parsing
        return LOOPBACK
    ip = client_ip(address)
    if ip is None:
        return address
    if ip.is_loopback:
        return LOOPBACK
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class FailureThrottle:
    def __init__(self, clock: Callable[[], float], *, max_failures: int = MAX_FAILURES,
                 window: float = WINDOW, cooling: float = COOLING,
                 max_tracked: int = MAX_TRACKED):
        if max_failures < 1 or window <= 0 or cooling <= 0 or max_tracked < 1:
            raise ValueError("throttle limits must be positive")
        self.clock = clock
        self.max_failures, self.window, self.cooling = max_failures, window, cooling
        self.max_tracked = max_tracked
        self._clients: dict[str, _Client] = {}

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None if it is not blocked."""
        client = self._clients.get(key)
        if client is None or not client.blocked_until:
            return None
        left = client.blocked_until - self.clock()
        if left > 0:
            return left
        client.blocked_until = 0.0
        return None

    def failed(self, key: str) -> bool:
        """Count one failed key check; True if this one blocks the client."""
        now = self.clock()
        client = self._clients.get(key)
        if client is None:
            self._make_room(now)
            client = self._clients[key] = _Client()
        failures = client.failures
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        failures.append(now)
        if len(failures) < self.max_failures:
            return False
        failures.clear()
        client.blocked_until = now + self.cooling
        return True

    def tracked(self) -> int:
        return len(self._clients)

    def _make_room(self, now: float) -> None:
        if len(self._clients) < self.max_tracked:
            return
        # First forget clients with nothing recent and no block; then the oldest ones.
        for key in [k for k, c in self._clients.items() if self._idle(c, now)]:
            del self._clients[key]
        while len(self._clients) >= self.max_tracked:
            del self._clients[next(iter(self._clients))]

    def _idle(self, client: _Client, now: float) -> bool:
        recent = client.failures and client.failures[-1] > now - self.window
        return not recent and client.blocked_until <= now
