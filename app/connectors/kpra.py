"""KPRA RIMS live API (seed 000): POST the invoice as JSON over verified HTTPS, read the answer.

The live API names two fields differently from the utility (date/sales_tax); integrators report
the server's expectations drifting, so which names are sent is a setting (``field_style``).
"""

import json
from pathlib import Path

from app.connectors.http import (
    Client,
    Decided,
    client_timeout,
    parse_json,
    parse_retry_after,
    reachable,
    send,
)
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
        self._field_style = field_style
        self._client = Client(ca_file=ca_file, limit=concurrency,
                              timeout=client_timeout(connect_timeout, read_timeout))

    async def close(self) -> None:
        await self._client.close()

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
            answer = await send(self._client(), "POST", self.url, who="the authority", data=body,
                                headers={"Content-Type": "application/json"})
        except Decided as done:
            return done.outcome
        return classify(answer.status, answer.text, answer.retry_after)

    async def probe(self) -> bool:
        return await reachable(self._client(), self.url)


def classify(status: int, text: str, retry_after: str | None = None) -> Outcome:
    """Translate one KPRA answer. Pure, so every branch is unit-tested."""
    answer = parse_json(text)
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
