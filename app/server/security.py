"""Localhost security: what every request must pass before a route sees it (one middleware),
and the connection limits the HTTP server runs with.

In order, cheapest and most basic first:

1. **Client address** (403). Loopback clients are always allowed. In LAN mode (listening on
   anything but loopback) only the addresses and networks in ``allowed_clients`` are; the
   service refuses to start in LAN mode without that list (``LanNeedsAllowList``).
2. **Host header** (421), against DNS rebinding: a web page on ``evil.example`` whose name is
   made to resolve to 127.0.0.1 reaches this server with ``Host: evil.example``. Only our own
   names are answered: ``localhost``, ``127.0.0.1`` and ``[::1]``, with our port or none; in LAN
   mode also this computer's name (``hostname``, ``hostname.local``), the names given in
   ``allowed_hosts``, and any IP address literal (a rebinding needs a DNS name the attacker
   controls; a browser sends an IP literal only to that very IP). A request without a Host
   header (HTTP/1.0 POS software) is let through: no browser sends one.

   Why **421 Misdirected Request** and not 403: RFC 9110 defines 421 for exactly this, "the
   server is not able to produce a response for this combination of scheme and authority". It
   says the *address used* is wrong, not that the caller lacks permission, so a POS integrator
   can tell it apart from the 403s below (cross-site, client not allowed) by the status alone.
   (HTTP/1.1 clients do not retry a 421 by themselves; the message says what to use instead.)
3. **Cross-site browser requests** (403) on every state-changing method (anything but GET, HEAD,
   OPTIONS): refused when ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``, or when an
   ``Origin`` header is present and is not one of our own origins (``http://localhost:PORT``,
   ``http://127.0.0.1:PORT``, ``http://[::1]:PORT``, and in LAN mode the allowed names). POS
   software sends neither header and is unaffected.
4. **Failed key checks** (429 with Retry-After): see throttle.py. Only final 401 answers count
   (the invoice handler's retry after reloading the keys happens inside one request).
5. **Slow bodies** (408): a request body must arrive within ``body_timeout`` seconds of the
   headers; a client dribbling it is answered 408 and disconnected. (Slow *headers* are cut by
   aiohttp's keep-alive timer, which runs from the moment a connection opens until a complete
   request head arrives: ``keepalive_timeout`` in ``handler_args``.)

Everything per request is a set lookup or a string comparison; the sets are computed once
(``listening_on``, when the port is known)."""

import asyncio
import ipaddress
import logging
import math
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from app.server.responses import Handler, error
from app.server.throttle import LOOPBACK_ADDRESSES, FailureThrottle, client_ip, client_key

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED_FETCH_SITES = frozenset({"cross-site", "same-site"})

# HTTP parser limits (aiohttp RequestHandler arguments). The request line carries at most an
# invoice status path or a QR query; 64 header lines are three times what a browser sends; a
# header line may be as long as aiohttp's default, since browsers send every localhost cookie.
MAX_LINE_SIZE = 4096
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 64
# After an early answer (413, 429, …) the unread rest of a body is read and dropped for at most
# this long, so the client sees the answer instead of a reset; then the connection is closed.
LINGERING_TIME = 2.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class LanNeedsAllowList(ValueError):
    """Listening beyond this computer without saying which clients may post."""


class BodyTimeout(TimeoutError):
    """The request body did not arrive in time. A TimeoutError, so that aiohttp's lingering
    read after our 408 answer ends quietly and closes the connection."""


def handler_args(idle_timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner``: parser limits and connection timeouts.
    ``idle_timeout`` closes a connection that is idle between requests, or that has not sent a
    complete request head that long after it opened (slowloris)."""
    return {"keepalive_timeout": idle_timeout, "max_line_size": MAX_LINE_SIZE,
            "max_field_size": MAX_FIELD_SIZE, "max_headers": MAX_HEADERS,
            "lingering_time": LINGERING_TIME}


def is_loopback_host(host: str) -> bool:
    """Whether listening on ``host`` keeps the server to this computer."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "" (every interface): treat it as the LAN


def parse_clients(entries: Iterable[str]) -> tuple[Network, ...]:
    """``allowed_clients`` entries: IP addresses or networks (CIDR). Raises ValueError."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"allowed_clients: {entry!r} is not an IP address or network "
                             "(e.g. 192.168.1.20 or 192.168.1.0/24)") from None
    return tuple(networks)


def _ip_literal(name: str) -> bool:
    """An IP address as a Host header names it: 192.168.1.10, or IPv6 in brackets."""
    bracketed = name.startswith("[") and name.endswith("]")
    try:
        ip = ipaddress.ip_address(name[1:-1] if bracketed else name)
    except ValueError:
        return False
    return bracketed == (ip.version == 6)


def _host_name(address: str) -> str:
    """An address as it appears in a Host header (IPv6 in brackets), lower case."""
    address = address.strip().lower()
    if ":" in address and not address.startswith("["):
        return f"[{address}]"
    return address


class SecurityPolicy:
    """What the middleware accepts; built once at start-up (``build``), completed when the
    port is known (``listening_on``)."""

    def __init__(self, *, lan: bool, bind_host: str, clients: tuple[Network, ...],
                 host_names: Iterable[str], body_timeout: float, throttle: FailureThrottle,
                 port: int = 0):
        self.lan = lan
        self.bind_host = bind_host
        self.clients = clients
        self.host_names = tuple(dict.fromkeys(_host_name(n) for n in host_names))
        self.body_timeout = body_timeout
        self.throttle = throttle
        self.port = 0
        self._hosts: frozenset[str] = frozenset()
        self._origins: frozenset[str] = frozenset()
        self.listening_on(port)

    @classmethod
    def build(cls, host: str, *, allowed_clients: Iterable[str] = (),
              allowed_hosts: Iterable[str] = (), body_timeout: float = 10.0, port: int = 0,
              clock: Callable[[], float] = time.monotonic) -> "SecurityPolicy":
        """The policy for listening on ``host``. Raises LanNeedsAllowList in LAN mode without
        ``allowed_clients``, ValueError for an entry that is not an address or network."""
        clients = parse_clients(allowed_clients)
        lan = not is_loopback_host(host)
        names = list(LOOPBACK_NAMES)
        if lan:
            if not clients:
                raise LanNeedsAllowList(
                    f"Listening on {host or 'every network interface'} would let any computer "
                    "on the network send invoices. Say which computers (tills) may: "
                    "--allow-client 192.168.1.20 (repeat it, or give a network such as "
                    "192.168.1.0/24), or allowed_clients = [\"192.168.1.20\"] in config.toml. "
                    "To accept only this computer, listen on 127.0.0.1 (the default).")
            names += _own_names(host)
            names += list(allowed_hosts)
        return cls(lan=lan, bind_host=host, clients=clients, host_names=names,
                   body_timeout=body_timeout, throttle=FailureThrottle(clock), port=port)

    def listening_on(self, port: int) -> None:
        """Precompute the accepted Host header values and origins for the bound port."""
        self.port = port
        hosts, origins = set(), set()
        for name in self.host_names:
            hosts.update((name, f"{name}:{port}"))
            origins.add(f"http://{name}:{port}")
            if port == 80:
                origins.add(f"http://{name}")
        self._hosts, self._origins = frozenset(hosts), frozenset(origins)

    # The checks, cheapest first: set lookups; parsing only on the rare paths.

    def client_allowed(self, remote: str | None) -> bool:
        if remote in LOOPBACK_ADDRESSES:
            return True
        if remote is None:  # the client is already gone, or not on TCP
            return not self.lan
        ip = client_ip(remote)
        if ip is None:
            return False
        if ip.is_loopback:
            return True
        return any(ip in network for network in self.clients)

    def host_allowed(self, host: str) -> bool:
        value = host.strip().lower()
        if value in self._hosts:
            return True
        name, port = _split_host(value)
        if self.port == 0:  # not listening yet (a test's app): any port of our own names
            return name in self.host_names or (self.lan and _ip_literal(name))
        return self.lan and port in ("", str(self.port)) and _ip_literal(name)

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        value = origin.strip().lower()
        if value in self._origins:
            return True
        if self.port == 0 and value.startswith("http://"):  # not listening yet: any port
            return _split_host(value[7:])[0] in self.host_names
        # LAN mode: a page served by this utility under one of our IP addresses (the Host
        # header, already checked, is an IP literal) posting to that same address.
        return (self.lan and host is not None and value == f"http://{host.strip().lower()}"
                and _ip_literal(_split_host(host.strip().lower())[0]))

    def cross_site(self, headers: Mapping[str, str], host: str | None) -> dict[str, str] | None:
        """The rule a state-changing request breaks, as an ``errors`` entry, or None."""
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site.strip().lower() in REFUSED_FETCH_SITES:
            return {"sec-fetch-site": f"{site.strip()[:40]}: requests from other web sites are "
                                      "not accepted"}
        origin = headers.get(hdrs.ORIGIN)
        if origin is not None and not self.origin_allowed(origin, host):
            return {"origin": f"{origin.strip()[:100]} is not this utility's own origin"}
        return None

    def own_url(self) -> str:
        """How a client should address this utility, for the refusal messages."""
        if self.lan:
            return f"http://<this computer's IP address>:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        """The start-up line for LAN mode."""
        clients = ", ".join(str(n) if n.num_addresses > 1 else str(n.network_address)
                            for n in self.clients)
        names = ", ".join(n for n in self.host_names if n not in LOOPBACK_NAMES)
        return (f"listening on the LAN at {self.bind_host or '*'}:{self.port}; only these "
                f"clients are accepted: {clients} (and this computer itself). Tills may address "
                f"it as any of this computer's IP addresses" + (f" or {names}" if names else ""))


def _split_host(value: str) -> tuple[str, str]:
    """A Host header value as (name, port); the port is "" when absent."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, ""
        rest = value[end + 1:]
        return value[:end + 1], rest[1:] if rest.startswith(":") else ("" if not rest else "?")
    name, _, port = value.partition(":")
    return name, port


def _own_names(host: str) -> list[str]:
    """In LAN mode: the address we listen on (if specific) and this computer's own name."""
    names = []
    if host and host not in ("0.0.0.0", "::"):
        names.append(host)
    try:
        hostname = socket.gethostname().strip().lower()
    except OSError:
        hostname = ""
    if hostname:
        names += [hostname, f"{hostname}.local"]
    return names


def middleware(policy: SecurityPolicy, own_throttle: tuple[str, ...] = ()) -> Middleware:
    """``own_throttle``: path prefixes whose routes throttle their own failures (the dashboard's
    sign-in): the key-guessing throttle neither refuses nor counts requests to them."""

    @web.middleware
    async def localhost_security(request: web.Request, handler: Handler) -> web.StreamResponse:
        remote = request.remote
        if not policy.client_allowed(remote):
            return error(
                403, f"This computer ({remote}) is not allowed to send requests to RIMS "
                     "Utility. On the computer running RIMS Utility, add it with "
                     f"--allow-client {remote} (or allowed_clients in config.toml) and restart.",
                {"client": f"{remote} is not in allowed_clients"})
        host = request.headers.get(hdrs.HOST)
        if host is not None and not policy.host_allowed(host):
            shown = host.strip()[:100]
            return error(
                421, f"Refused: this request was addressed to {shown!r}, which is not a name of "
                     "this RIMS Utility. A web page may be trying to reach it under its own "
                     f"name (DNS rebinding). Use {policy.own_url()} instead" + (
                         "; or, if the tills know this computer by that name, add it with "
                         "--allow-host (allowed_hosts in config.toml) and restart."
                         if policy.lan else "."),
                {"host": f"{shown} is not an allowed host name for this server"})
        state_changing = request.method not in SAFE_METHODS
        key = ""
        if state_changing:
            broken = policy.cross_site(request.headers, host)
            if broken is not None:
                return error(
                    403, "Refused: a web page from another site tried to send this through a "
                         "browser. RIMS Utility accepts it only from the POS software itself or "
                         f"from its own pages ({policy.own_url()}).", broken)
            key = client_key(remote)
            wait = None if request.path.startswith(own_throttle) else policy.throttle.retry_after(key)
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                return error(
                    429, "Too many requests with a wrong NTN, POS ID or key came from this "
                         f"computer; its requests are refused for {seconds} s more. Check the "
                         "NTN, POS ID and key set in the POS (or run `rims-utility setup`), then "
                         "send again.",
                    {"key": "too many failed key checks from this address"},
                    headers={"Retry-After": str(seconds)})
        deadline = None
        if not request.content.is_eof():
            deadline = asyncio.get_running_loop().call_later(
                policy.body_timeout, _cut_off, request.content, policy.body_timeout)
        try:
            response = await handler(request)
        except BodyTimeout:
            response = error(
                408, f"The request body did not arrive within {policy.body_timeout:g} s, so the "
                     "connection is closed and nothing was saved. Send it again.",
                {"body": "arrived too slowly"})
            response.force_close()
            return response
        finally:
            if deadline is not None:
                deadline.cancel()
        if (state_changing and response.status == 401 and not request.path.startswith(own_throttle)
                and policy.throttle.failed(key)):
            log.warning("%d requests with a wrong NTN / POS ID / key from %s within %g s: its "
                        "requests are refused for the next %g s", policy.throttle.max_failures,
                        key, policy.throttle.window, policy.throttle.cooling)
        return response

    return localhost_security


def _cut_off(content: Any, timeout: float) -> None:
    if not content.is_eof():
        content.set_exception(BodyTimeout(f"request body not received within {timeout:g} s"))
