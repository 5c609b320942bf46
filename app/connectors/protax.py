"""Kenya eTIMS through ProTax API v2 (seed 004; docs/KENYA.md).

Per row kind: ``item`` → ``POST /items``; ``invoice`` → ``POST /invoices`` (``offline_mode``:
ProTax queues it when KRA is unreachable and the utility polls ``GET /invoices/{id}``);
``credit_note`` → ``POST /invoices/credit-note``; ``stock`` → ``POST /stock/adjustment``. Every
call carries the POS's API key (``X-API-Key``; ``Credentials.key`` is the keyring JSON
``{"api_key"}``).

ProTax has no idempotency key, so after a lost answer (``record.ambiguous``) the connector looks
before posting again: an invoice by its number in ``GET /invoices`` for its date, an item by its
name in ``GET /items``, a stock adjustment by the item's balance in ``GET /stock``. A credit note
cannot be looked up at all: it is not posted twice blindly (a person checks the dashboard).

Answers are translated by pure functions (``classify_invoice``, ``classify_created``),
unit-tested in tests/unit/test_kenya_answers.py.
"""

import json
import ssl as ssl_module
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.connectors import protax_wire as wire
from app.connectors.http import (
    Answer,
    Client,
    Decided,
    client_timeout,
    failure_tail,
    parse_json,
    reachable,
    send,
    short,
)
from app.connectors.kenya_tokens import KenyaSetupError, answer_message
from app.connectors.outcomes import (
    Accepted,
    AlreadyRecorded,
    Ambiguous,
    AuthFailed,
    Credentials,
    Outcome,
    Rejected,
    RetryLater,
    Submitted,
)
from app.connectors.setup_call import setup_call
from app.domain import wire_json
from app.domain.money import NotANumber, to_decimal
from app.store.records import InvoiceRecord

__all__ = ["KenyaSetupError", "ProTaxConnector", "health", "lookup_customer"]

POLL_AFTER = 30.0
PER_PAGE = 100  # the document's maximum
MAX_PAGES = 50  # a day's invoices, looked through after a lost answer
STOCK_ADDS = ("IN", "RETURN")  # stock adjustment types that add to the item's balance
AUTH_HINT = ("check the key in Settings for this POS: test keys start ptx_test_, live keys "
             "ptx_live_, and a sandbox key does not work on the live address (or the reverse).")


class ProTaxConnector:
    name = "protax"
    display_name = "ProTax (eTIMS)"

    def __init__(self, base_url: str, *, ca_file: Path | None = None, concurrency: int = 16,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 poll_after: float = POLL_AFTER):
        self.base_url = base_url.rstrip("/")
        self._poll_after = poll_after
        self._client = Client(ca_file=ca_file, limit=concurrency,
                              timeout=client_timeout(connect_timeout, read_timeout))

    async def close(self) -> None:
        await self._client.close()

    async def probe(self) -> bool:
        return await reachable(self._client(), self.base_url + "/health")

    # -- sending -----------------------------------------------------------------------------

    async def submit(self, invoice: InvoiceRecord, credentials: Credentials) -> Outcome:
        try:
            key = _api_key(credentials)
            detail = invoice.detail or {}
            if invoice.kind in ("invoice", "credit_note") and invoice.upstream_ref:
                return await self._poll(invoice.upstream_ref, key, _what(invoice.kind))
            if invoice.kind == "item":
                return await self._item(invoice, detail, key)
            if invoice.kind == "invoice":
                return await self._invoice(invoice, detail, key)
            if invoice.kind == "credit_note":
                return await self._credit_note(invoice, detail, key)
            if invoice.kind == "stock":
                return await self._stock(invoice, detail, key)
            return Rejected(0, f"The ProTax mode cannot send a row of kind {invoice.kind!r}.")
        except Decided as done:
            return done.outcome
        except wire.MissingReference as why:  # the row it needs is synced but has no id
            return Rejected(0, f"This {_what(invoice.kind)} cannot be sent to ProTax: {why} "
                               "(it was recorded without one); check it in the ProTax dashboard.")
        except (KeyError, ValueError, TypeError, InvalidOperation) as why:
            return Rejected(0, f"This {_what(invoice.kind)} cannot be sent to ProTax: its stored "
                               f"details are incomplete ({short(why)}).")

    async def _item(self, record: InvoiceRecord, detail: dict, key: str) -> Outcome:
        body = wire.item(detail)
        if record.ambiguous:
            found = await self._find_item(body, key)
            if found is not None:
                return found
        answer = await self._request("POST", "/items", key, body=body)
        if answer.status == 409:
            found = await self._find_item(body, key)
            if found is not None:
                return found
        return classify_created(answer.status, answer.text, answer.retry_after, what="item")

    async def _find_item(self, body: dict[str, Any], key: str) -> Accepted | None:
        """An item registered with this name; when several are, the one whose class, units,
        tax type and price are ours too, and of those the last listed (the newest)."""
        best: tuple[int, dict[str, Any]] | None = None
        for entry in await self._list("/items", {}, key):
            if str(entry.get("item_name") or entry.get("name") or "") != body["item_name"] \
                    or not entry.get("id"):
                continue
            score = sum(1 for field, value in body.items() if field != "item_name"
                        and _same(entry.get(field), value))
            if best is None or score >= best[0]:
                best = (score, entry)
        if best is None:
            return None
        ref = str(best[1]["id"])
        return Accepted(ref, 200, f"ProTax already had item {body['item_name']!r} ({ref}).",
                        upstream_ref=ref)

    async def _invoice(self, record: InvoiceRecord, detail: dict, key: str) -> Outcome:
        body = wire.invoice(detail, record.refs)
        if record.ambiguous:
            found = await self._find_invoice(body["invoice_number"], body["invoice_date"], key)
            if found is not None:
                return await self._poll(str(found["id"]), key, "invoice")
        answer = await self._request("POST", "/invoices", key, body=body)
        outcome = classify_invoice(answer.status, answer.text, answer.retry_after,
                                   poll_after=self._poll_after)
        if answer.status == 409:
            found = await self._find_invoice(body["invoice_number"], body["invoice_date"], key)
            if found is not None:
                if record.ambiguous:
                    return await self._poll(str(found["id"]), key, "invoice")
                cuin = found.get("cuin")
                return AlreadyRecorded(
                    409, f"ProTax already has invoice {body['invoice_number']} ({found['id']}, "
                         f"{found.get('status') or 'status unknown'}), sent by other software or "
                         "another till: it was not sent again.", None if not cuin else str(cuin))
        return outcome

    async def _find_invoice(self, number: str, day: str, key: str) -> dict[str, Any] | None:
        for entry in await self._list("/invoices", {"from_date": day, "to_date": day}, key):
            if str(entry.get("invoice_number")) == number and entry.get("id"):
                return entry
        return None

    async def _credit_note(self, record: InvoiceRecord, detail: dict, key: str) -> Outcome:
        if record.ambiguous:
            return Rejected(0, (
                "The answer to this credit note was lost and ProTax offers no way to check "
                "whether it was recorded: look it up in the ProTax dashboard (credit notes of "
                f"invoice {detail.get('original_invoice_no')}). If it is not there, send it "
                "again from the dashboard here; if it is, nothing more is needed."))
        body = wire.credit_note(detail, record.refs)
        answer = await self._request("POST", "/invoices/credit-note", key, body=body)
        return classify_invoice(answer.status, answer.text, answer.retry_after,
                                what="credit note", poll_after=self._poll_after)

    async def _stock(self, record: InvoiceRecord, detail: dict, key: str) -> Outcome:
        body = wire.stock_adjustment(detail, record.refs)
        if record.ambiguous:
            balance = await self._balance(body["item_id"], key)
            after = _decimal(detail.get("remaining_quantity"))
            if balance is not None and after is not None and balance == after:
                return Accepted(None, 200, "ProTax's stock balance already includes this "
                                "movement (checked after a lost answer).")
            delta = _decimal(detail.get("quantity")) or Decimal(0)
            sign = 1 if body["adjustment_type"] in STOCK_ADDS else -1
            before = None if after is None else after - sign * delta
            if balance is None or before is None or balance != before:
                return Rejected(0, (
                    "The answer to this stock movement was lost and ProTax's balance for item "
                    f"{detail.get('item_code')} does not show whether it was recorded: check it in "
                    "the ProTax dashboard before sending it again."))
        answer = await self._request("POST", "/stock/adjustment", key, body=body)
        return classify_created(answer.status, answer.text, answer.retry_after,
                                what="stock movement")

    async def _balance(self, item_id: str, key: str) -> Decimal | None:
        answer = await self._request("GET", "/stock", key, params={"item_id": item_id},
                                     sent=False)
        if answer.status != 200:
            return None
        for entry in _entries(answer.body) or [_entity(answer.body)]:
            if isinstance(entry, dict) and str(entry.get("item_id", item_id)) == item_id:
                for name in ("balance", "quantity", "quantity_on_hand", "stock", "current_stock"):
                    value = _decimal(entry.get(name))
                    if value is not None:
                        return value
        return None

    async def _poll(self, ref: str, key: str, what: str) -> Outcome:
        answer = await self._request("GET", f"/invoices/{quote(ref, safe='')}", key, sent=False)
        if answer.status == 404:
            return Rejected(404, f"ProTax no longer knows {what} {ref}; look it up in the ProTax "
                                 "dashboard before sending it again.")
        outcome = classify_invoice(answer.status, answer.text, answer.retry_after, what=what,
                                   poll_after=self._poll_after)
        if isinstance(outcome, Ambiguous):  # a question, not a send: nothing can be doubled
            return RetryLater(outcome.message, outcome.status)
        return outcome

    async def _list(self, path: str, params: dict[str, str], key: str) -> list[dict[str, Any]]:
        """Every entry of a paginated list (as many pages as it says, up to MAX_PAGES). A failed
        page raises Decided with a RetryLater: nothing was sent."""
        entries: list[dict[str, Any]] = []
        page = 1
        while page <= MAX_PAGES:
            answer = await self._request("GET", path, key, sent=False,
                                         params={**params, "page": str(page),
                                                 "per_page": str(PER_PAGE)})
            if answer.status != 200:
                outcome = classify_invoice(answer.status, answer.text, answer.retry_after)
                if isinstance(outcome, AuthFailed | RetryLater):
                    raise Decided(outcome)
                raise Decided(RetryLater(f"ProTax could not list {path} ({answer.status}); the "
                                       "check is tried again later.", answer.status))
            body = answer.body
            entries.extend(e for e in _entries(body) if isinstance(e, dict))
            meta = body.get("meta") if isinstance(body, dict) else None
            pages = meta.get("total_pages") if isinstance(meta, dict) else None
            if not isinstance(pages, int) or page >= pages:
                break
            page += 1
        return entries

    async def _request(self, method: str, path: str, key: str, *, body: dict | None = None,
                       params: dict[str, str] | None = None, sent: bool = True) -> Answer:
        headers = {"X-API-Key": key}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = wire_json.dumps_bytes(body)
        answer = await send(self._client(), method, self.base_url + path, who="ProTax", sent=sent,
                            recheck="it will be checked before sending again", data=data,
                            params=params, headers=headers)
        if answer.status == 401:
            raise Decided(AuthFailed(401, f"ProTax refused the API key (401 "
                                        f"{answer_message(answer.body, 401)}): {AUTH_HINT}"))
        return answer


# -- answers (pure) ------------------------------------------------------------------------------


def classify_invoice(status: int, text: str, retry_after: str | None = None, *,
                     what: str = "invoice", poll_after: float = POLL_AFTER) -> Outcome:
    """An invoice or credit note as ProTax answers it (``POST`` or ``GET /invoices/{id}``):
    SIGNED → Accepted (CUIN, id, QR link); QUEUED/PROCESSING → Submitted; REJECTED → Rejected."""
    answer = parse_json(text)
    if 200 <= status < 300:
        entity = _entity(answer)
        ref = entity.get("id")
        if ref in (None, ""):
            return Ambiguous(f"ProTax answered {status} without the {what}'s id; it will be "
                             "checked again.", status)
        ref = str(ref)
        state = str(entity.get("status") or "").upper()
        if state == "SIGNED":
            cuin = entity.get("cuin")
            return Accepted(None if cuin in (None, "") else str(cuin), status,
                            f"KRA eTIMS signed this {what} (CUIN {cuin}).", upstream_ref=ref,
                            receipt_url=entity.get("qr_code_url") or None)
        if state in ("QUEUED", "PROCESSING", ""):
            return Submitted(ref, f"ProTax holds this {what} ({ref}, {state or 'no status'}) and "
                                  "KRA has not signed it yet; asking again shortly.", status,
                             poll_after)
        return Rejected(status, f"KRA eTIMS refused this {what} ({ref}, {state}): "
                                f"{_reason(entity, status)}"[:1000])
    if status in (400, 422):
        who = "KRA eTIMS" if status == 422 else "ProTax"
        return Rejected(status, f"{who} refused this {what}: {_reason(answer, status)}"[:1000])
    if status == 409:
        return AlreadyRecorded(409, f"ProTax already has this {what} number "
                                    f"({_reason(answer, status)}).")
    return _failure(status, answer, retry_after, what)


def classify_created(status: int, text: str, retry_after: str | None = None, *,
                     what: str = "item") -> Outcome:
    """``POST /items`` and ``POST /stock/adjustment``: 2xx → Accepted with ProTax's id."""
    answer = parse_json(text)
    if 200 <= status < 300:
        entity = _entity(answer)
        ref = entity.get("id") or entity.get("item_id") if what == "item" else entity.get("id")
        ref = None if ref in (None, "") else str(ref)
        if what == "item" and ref is None:
            return Ambiguous(f"ProTax answered {status} without the item's id; it will be "
                             "looked up by name.", status)
        return Accepted(ref, status, f"ProTax recorded the {what}"
                        + (f" ({ref})." if ref else "."), upstream_ref=ref)
    if status in (400, 422):
        return Rejected(status, f"ProTax refused this {what}: {_reason(answer, status)}"[:1000])
    if status == 409:
        return AlreadyRecorded(409, f"ProTax already has this {what} "
                                    f"({_reason(answer, status)}).")
    return _failure(status, answer, retry_after, what)


def _failure(status: int, answer: object, retry_after: str | None, what: str) -> Outcome:
    if status == 401:
        return AuthFailed(401, f"ProTax refused the API key (401 {answer_message(answer, 401)}): "
                               f"{AUTH_HINT}")
    if status == 403:
        return AuthFailed(403, f"ProTax does not allow this API key to send a {what} (403 "
                               f"{answer_message(answer, 403)}): {AUTH_HINT}")
    return failure_tail(status, answer, retry_after, what, who="ProTax", url_end="/api/v2")


def _reason(answer: object, status: int) -> str:
    """``rejection_reason`` first (422), then the message and the per-field errors."""
    parts = []
    if isinstance(answer, dict):
        for where in (answer, answer.get("data") if isinstance(answer.get("data"), dict) else {}):
            reason = where.get("rejection_reason")
            if reason:
                parts.append(str(reason))
    general = answer_message(answer, status)
    if general != f"HTTP {status}" or not parts:
        parts.append(general)
    return "; ".join(parts)


def _entity(answer: object) -> dict[str, Any]:
    if isinstance(answer, dict):
        data = answer.get("data")
        if isinstance(data, dict) and "id" in data and "id" not in answer:
            return data
        return answer
    return {}


def _entries(answer: object) -> list[Any]:
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        for name in ("data", "items", "invoices"):
            if isinstance(answer.get(name), list):
                return answer[name]
    return []


def _decimal(value: object) -> Decimal | None:
    """A number ProTax sent (money.to_decimal's rules), or None when missing or not one."""
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except NotANumber:
        return None


def _same(theirs: object, ours: object) -> bool:
    if isinstance(ours, int | Decimal) and not isinstance(ours, bool):
        return _decimal(theirs) == Decimal(ours)
    return str(theirs) == str(ours)


def _api_key(credentials: Credentials) -> str:
    try:
        keys = json.loads(credentials.key)
    except ValueError:
        keys = None
    key = keys.get("api_key") if isinstance(keys, dict) else None
    if not isinstance(key, str) or not key:
        raise Decided(AuthFailed(0, f"POS {credentials.pos_id} has no ProTax API key saved: enter "
                                  "it in Settings (test keys start ptx_test_, live keys "
                                  "ptx_live_)."))
    return key


def _what(kind: str) -> str:
    return kind.replace("_", " ")


# -- setup (the wizard) ----------------------------------------------------------------------


async def _setup_get(url: str, api_key: str, ssl: ssl_module.SSLContext | bool,
                     params: dict[str, str] | None = None) -> tuple[int, object]:
    return await setup_call("GET", url, who="ProTax", ssl=ssl, timeout=30, params=params,
                            headers={"X-API-Key": api_key})


def _setup_refusal(status: int, answer: object) -> KenyaSetupError:
    if status == 401:
        return KenyaSetupError(f"ProTax refused the API key (401 {answer_message(answer, 401)}): "
                               f"{AUTH_HINT}")
    if status in (404, 405):
        return KenyaSetupError(f"This address does not answer like ProTax API v2 ({status}): it "
                               "should end in /api/v2.")
    return KenyaSetupError(f"ProTax answered {status}: {answer_message(answer, status)}.")


async def health(base_url: str, api_key: str, *, ssl: ssl_module.SSLContext | bool = True) -> dict:
    """``GET /health`` with the key: ProTax's status JSON plus ``key_kind`` ("test", "live" or
    "unknown", from the key's prefix)."""
    status, answer = await _setup_get(base_url.rstrip("/") + "/health", api_key, ssl)
    if status != 200 or not isinstance(answer, dict):
        raise _setup_refusal(status, answer)
    return {**answer, "key_kind": wire.key_kind(api_key)}


async def lookup_customer(base_url: str, api_key: str, pin: str, *,
                          ssl: ssl_module.SSLContext | bool = True) -> dict | None:
    """``GET /customers?pin=``: the business registered under a buyer's KRA PIN, or None when
    ProTax knows no such PIN."""
    status, answer = await _setup_get(base_url.rstrip("/") + "/customers", api_key, ssl,
                                      params={"pin": pin})
    if status == 404:
        return None
    if status != 200 or not isinstance(answer, dict):
        raise _setup_refusal(status, answer)
    data = answer.get("data")
    if isinstance(data, list):
        return data[0] if data and isinstance(data[0], dict) else None
    return data if isinstance(data, dict) else answer
