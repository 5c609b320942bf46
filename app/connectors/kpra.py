"""KPRA RIMS live API (seed 000): POST the invoice as JSON over verified HTTPS, read the answer.

The live API names two fields differently from the utility (date/sales_tax); integrators report
the server's expectations drifting, so which names are sent is a setting (``field_style``).
"""

import email.utils
import json
import ssl
import time
from pathlib import Path

import aiohttp

from app.connectors.outcomes import (
    Accepted,
    AlreadyRecorded,
    Ambiguous,
    AuthFailed,
    Credentials,
    Outcome,
    Rejected,
    RetryLater,
)
from app.domain import wire_json
from app.store.records import InvoiceRecord

_DUPLICATE_WORDS = ("duplicate", "already")


class KpraConnector:
    name = "kpra"
    display_name = "KPRA"

    def __init__(self, url: str, *, ca_file: Path | None = None, field_style: str = "live",
                 concurrency: int = 8, connect_timeout: float = 10.0, read_timeout: float = 30.0):
        self.url = url
        self._ca_file = ca_file
        self._field_style = field_style
        self._concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(
            total=connect_timeout + read_timeout, connect=connect_timeout, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            context = ssl.create_default_context()  # certificate verification always on
            if self._ca_file:
                context.load_verify_locations(cafile=str(self._ca_file))
            connector = aiohttp.TCPConnector(
                ssl=context, limit=self._concurrency, keepalive_timeout=60, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout,
                headers={"User-Agent": "rims-utility", "Accept": "application/json"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def payload(self, invoice: InvoiceRecord, credentials: Credentials) -> dict[str, object]:
        body: dict[str, object] = {
            "ntn": credentials.ntn,
            "pos_id": credentials.pos_id,
            "key": credentials.key,
            "invoice_no": invoice.invoice_no,
            "amount": invoice.amount,
        }
        if self._field_style in ("live", "both"):
            body["sales_tax"] = invoice.tax_amount
        if self._field_style in ("utility", "both"):
            body["tax_amount"] = invoice.tax_amount
        body["tax_rate"] = invoice.tax_rate
        body["total_amount"] = invoice.total_amount
        if self._field_style in ("live", "both"):
            body["date"] = invoice.date_time
        if self._field_style in ("utility", "both"):
            body["date_time"] = invoice.date_time
        body["payment_mode"] = invoice.payment_mode
        return body

    async def submit(self, invoice: InvoiceRecord, credentials: Credentials) -> Outcome:
        body = wire_json.dumps_bytes(self.payload(invoice, credentials))
        try:
            async with self._client().post(
                self.url, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                text = await response.text(errors="replace")
                return classify(response.status, text, response.headers.get("Retry-After"))
        except aiohttp.ClientConnectorCertificateError:
            return RetryLater("The authority's HTTPS certificate could not be verified (a captive "
                              "portal or wrong clock on this PC can cause this); nothing was sent.")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as why:
            return RetryLater(f"Cannot reach {_host(self.url)}: {_short(why)}. Check the internet "
                              "connection; the invoice is kept and will be sent.")
        except TimeoutError:
            return Ambiguous("No answer from the authority in time; it may have been recorded, so "
                             "it will be checked again.")
        except aiohttp.ClientError as why:
            return Ambiguous(f"The connection broke before the answer arrived ({_short(why)}); it "
                             "may have been recorded, so it will be checked again.")

    async def probe(self) -> bool:
        try:
            async with self._client().get(self.url) as response:
                await response.read()
                return True
        except (aiohttp.ClientError, TimeoutError):
            return False


def classify(status: int, text: str, retry_after: str | None = None) -> Outcome:
    """Translate one KPRA answer. Pure, so every branch is unit-tested."""
    try:
        answer = json.loads(text) if text.strip() else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    message = str(answer.get("message") or "").strip()
    errors = answer.get("errors")
    detail = " ".join(part for part in (message, _errors_text(errors)) if part)
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    transaction_id = data.get("transaction_id")
    transaction_id = None if transaction_id in (None, "") else str(transaction_id)

    if status in (200, 201):
        return Accepted(transaction_id, status, message or "Recorded by the authority.")
    if status == 409 or (status == 400 and any(w in detail.lower() for w in _DUPLICATE_WORDS)):
        return AlreadyRecorded(status, detail or "Duplicate invoice.", transaction_id)
    if status == 400:
        return Rejected(status, f"KPRA refused this invoice: {detail or 'Bad Request'}"[:1000])
    if status in (401, 403):
        return AuthFailed(status, f"KPRA did not accept the NTN / POS ID / key ({status} "
                          f"{message or 'Unauthorized'}). Check the key with KPRA, then enter it "
                          "again in Settings (or `rims-utility setup`) for this POS.")
    if status in (404, 405):
        return AuthFailed(status, f"The authority's address does not take invoices ({status} "
                          f"{message or 'Not Found'}): the upstream URL setting is wrong.")
    if status == 429:
        return RetryLater("KPRA asked to slow down (429); waiting as it asked.", status,
                          parse_retry_after(retry_after))
    if 500 <= status < 600:
        return Ambiguous(f"KPRA server error {status} ({message or 'no message'}); will retry.",
                         status)
    return Ambiguous(f"Unexpected answer {status} from KPRA; will retry.", status)


def _errors_text(errors: object) -> str:
    """The authority's per-field reasons as a shopkeeper reads them: "(amount: must be > 0;
    tax_amount: does not match)". Anything else than a dict or list is shown as JSON."""
    if not errors:
        return ""
    if isinstance(errors, dict):
        parts = [f"{field}: {', '.join(map(str, why)) if isinstance(why, list) else why}"
                 for field, why in errors.items()]
    elif isinstance(errors, list):
        parts = [str(why) for why in errors]
    else:
        parts = [json.dumps(errors, ensure_ascii=False)]
    return f"({'; '.join(parts)})"


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


def _host(url: str) -> str:
    from urllib.parse import urlsplit
    return urlsplit(url).hostname or url


def _short(why: BaseException) -> str:
    text = str(why) or type(why).__name__
    return text if len(text) < 200 else text[:200] + "…"
