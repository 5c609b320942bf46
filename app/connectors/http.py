"""The connectors' HTTP: a client session opened on first use (certificate verification always
on, kept-alive connections, at most ``limit`` at once, the timeouts), and one ``send`` that turns
a failed connection into the outcome it means: RetryLater when nothing can have been recorded,
Ambiguous when it may have been."""

import email.utils
import json
import ssl as ssl_module
import time
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

import aiohttp

from app.connectors.outcomes import Ambiguous, AuthFailed, Outcome, Rejected, RetryLater

HEADERS = {"User-Agent": "rims-utility", "Accept": "application/json"}


def make_ssl(ca_file: object = None) -> ssl_module.SSLContext:
    """Certificate verification always on; ``ca_file`` adds one extra CA (the practice sandbox)."""
    context = ssl_module.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def client_timeout(connect_timeout: float, read_timeout: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=connect_timeout + read_timeout, connect=connect_timeout, sock_read=read_timeout)


class Client:
    """One aiohttp session, opened on first call (and again after ``close()``). TLS: ``ssl`` as
    given, else ``make_ssl(ca_file)``. ``keepalive``: seconds an idle connection is kept (None:
    aiohttp's defaults)."""

    def __init__(self, *, limit: int, timeout: aiohttp.ClientTimeout, ca_file: object = None,
                 ssl: ssl_module.SSLContext | bool | None = None, keepalive: float | None = 60.0):
        self._limit = limit
        self._timeout = timeout
        self._ca_file = ca_file
        self._ssl = ssl
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def __call__(self) -> aiohttp.ClientSession:
        if self._session is None:
            ssl = make_ssl(self._ca_file) if self._ssl is None else self._ssl
            pooling = ({} if self._keepalive is None else
                       {"keepalive_timeout": self._keepalive, "enable_cleanup_closed": True})
            connector = aiohttp.TCPConnector(ssl=ssl, limit=self._limit, **pooling)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers=HEADERS)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Decided(Exception):
    """Control flow: a call already decided the send's outcome."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome)
        self.outcome = outcome


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    retry_after: str | None

    @cached_property
    def body(self) -> object:
        """The text as JSON (``{}`` when it is not), parsed once."""
        return parse_json(self.text)


async def send(session: aiohttp.ClientSession, method: str, url: str, *, who: str,
               sent: bool = True, recheck: str = "it will be checked again",
               **request: object) -> Answer:
    """One request (``request``: aiohttp's data/params/headers). A failed connection raises
    Decided. ``sent``: a lost answer may mean it was recorded (Ambiguous, after which
    ``recheck``); False for questions (RetryLater). ``who`` names the upstream in messages
    ("the KRA Agent", "ProTax")."""
    whose = f"{who}'s"
    try:
        async with session.request(method, url, **request) as response:
            text = await response.text(errors="replace")
            return Answer(response.status, text, response.headers.get("Retry-After"))
    except aiohttp.ClientConnectorCertificateError:
        raise Decided(RetryLater(
            f"{whose[:1].upper()}{whose[1:]} HTTPS certificate could not be verified (a captive "
            "portal or wrong clock on this PC can cause this); nothing was sent.")) from None
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as why:
        raise Decided(RetryLater(
            f"Cannot reach {host(url)}: {short(why)}. Check the internet connection; it is kept "
            "and will be sent.")) from None
    except TimeoutError:
        if not sent:
            raise Decided(RetryLater(f"No answer from {who} in time; asking again later.")) \
                from None
        raise Decided(Ambiguous(f"No answer from {who} in time; it may have been recorded, so "
                                f"{recheck}.")) from None
    except aiohttp.ClientError as why:
        if not sent:
            raise Decided(RetryLater(f"The connection to {who} broke ({short(why)}); asking "
                                     "again later.")) from None
        raise Decided(Ambiguous(f"The connection broke before {whose} answer arrived "
                                f"({short(why)}); it may have been recorded, so {recheck}.")) \
            from None


async def reachable(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether ``url`` answers at all (any status)."""
    try:
        async with session.get(url) as response:
            await response.read()
            return True
    except (aiohttp.ClientError, TimeoutError):
        return False


def form_data(fields: dict[str, str]) -> aiohttp.FormData:
    """``fields`` as multipart/form-data (curl --form, as the KRA Agent's document shows)."""
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        form.add_field(name, value)
    return form


def parse_json(text: str) -> object:
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return {}


def host(url: str) -> str:
    return urlsplit(url).hostname or url


def short(why: BaseException) -> str:
    text = str(why) or type(why).__name__
    return text if len(text) < 200 else text[:200] + "…"


def answer_message(answer: object, status: int) -> str:
    """The server's own words (``message`` / ``errors``, or ProTax-style ``error: {message,
    fields}``), without echoing anything else."""
    if isinstance(answer, dict):
        parts = []
        message = answer.get("message") or answer.get("error")
        if isinstance(message, dict):  # {"error": {"code", "message", "fields"}}
            answer = {"errors": message.get("fields")}
            message = message.get("message")
        if isinstance(message, str) and message.strip():
            parts.append(message.strip())
        errors = answer.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{field}: {', '.join(map(str, why)) if isinstance(why, list) else why}"
                         for field, why in errors.items())
        if parts:
            return "; ".join(parts)[:300]
    return f"HTTP {status}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def failure_tail(status: int, answer: object, retry_after: str | None, what: str, *, who: str,
                 url_end: str) -> Outcome:
    """The failures a JSON API's answers share, once its own 4xx rules are applied: 404 from the
    API itself (it names the problem) → Rejected; 404/405 otherwise → AuthFailed (the address is
    wrong: it should end in ``url_end``); 429 → RetryLater; 5xx and anything else → Ambiguous.
    ``who`` names the upstream as in ``send`` ("the KRA Agent", "ProTax")."""
    name = who.removeprefix("the ")
    subject = who[:1].upper() + who[1:]
    if status == 404 and isinstance(answer, dict) and (answer.get("message") or answer.get("error")):
        # the API itself answered ("Invoice inv_… not found"): about this {what}, not the URL
        return Rejected(404, f"{subject} refused this {what}: {answer_message(answer, 404)}"[:1000])
    if status in (404, 405):
        return AuthFailed(status, f"The {name} address does not take this request ({status}): the "
                                  f"upstream URL setting is wrong (it should end in {url_end}).")
    if status == 429:
        return RetryLater(f"{subject} asked to slow down (429); waiting as it asked.", status,
                          parse_retry_after(retry_after))
    if 500 <= status < 600:
        return Ambiguous(f"{name} server error {status} ({answer_message(answer, status)}); will "
                         "retry.", status)
    return Ambiguous(f"Unexpected answer {status} from {who}; will retry.", status)
