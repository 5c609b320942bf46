"""Kenya eTIMS through the KRA Agent API (seed 002; docs/KENYA.md).

Per row kind: ``item`` → ``POST /productSave``; ``invoice`` → ``POST /sale``; ``credit_note`` →
``POST /saveTrnsSalesOsdc``; ``stock`` → ``POST /insertStockIO`` then ``POST /saveStockMaster``; a
row that already has the agent's ``sale_id`` (``upstream_ref``, after ``not_completed``) is asked
about with ``GET /saleShow`` instead of being posted again. Device calls carry the POS's
Client-ID/Client-Secret (the keyring JSON in ``Credentials.key``); the calls the document shows
with ``Authorization`` also carry the account's bearer token (kenya_tokens.AgentTokens). Every
POST carries a stable ``requestID`` (``<pos>-<row id>-<step>``), so a retry after a lost answer
gets the agent's first answer rather than a second sale.

Answers are translated by pure functions (``classify_sale``, ``classify_product``,
``classify_status``, ``sale_outcome``), unit-tested in tests/unit/test_kenya_answers.py.
"""

import json
import ssl as ssl_module
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.connectors import kra_agent_wire as wire
from app.connectors.http import (
    Answer,
    Client,
    Decided,
    client_timeout,
    failure_tail,
    form_data,
    parse_json,
    reachable,
    send,
    short,
)
from app.connectors.kenya_tokens import (
    AgentTokens,
    KenyaSetupError,
    SignInFailed,
    TokenServiceUnavailable,
    answer_message,
    expires_at,
    read_tokens,
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
    Submitted,
)
from app.connectors.setup_call import setup_call
from app.store.records import InvoiceRecord

__all__ = ["KenyaSetupError", "KraAgentConnector", "init_device", "login", "setup_pos"]

POLL_AFTER = 30.0  # seconds before asking again about a not_completed sale
INTEGRATION_TYPE = "RIMS Utility"  # the form's ``type`` (the document's example: "QuickBooks")


@dataclass(frozen=True)
class _Device:
    client_id: str
    client_secret: str
    branch_id: str

    def __repr__(self) -> str:
        return f"_Device(client_id={self.client_id!r}, client_secret=***)"


class KraAgentConnector:
    name = "kra-agent"
    display_name = "KRA Agent (eTIMS)"

    def __init__(self, base_url: str, *, tokens: AgentTokens, ca_file: Path | None = None,
                 concurrency: int = 16, connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 poll_after: float = POLL_AFTER):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._poll_after = poll_after
        self._client = Client(ca_file=ca_file, limit=concurrency,
                              timeout=client_timeout(connect_timeout, read_timeout))

    async def close(self) -> None:
        """Closes this connector's connections and the token keeper's."""
        await self._client.close()
        await self.tokens.close()

    async def probe(self) -> bool:
        return await reachable(self._client(), self.base_url + "/")

    # -- sending -----------------------------------------------------------------------------

    async def submit(self, invoice: InvoiceRecord, credentials: Credentials) -> Outcome:
        try:
            device = _device(credentials)
            detail = invoice.detail or {}
            if invoice.kind in ("invoice", "credit_note") and invoice.upstream_ref:
                return await self._poll(invoice.upstream_ref, device)
            if invoice.kind == "item":
                return await self._item(invoice, detail, device)
            if invoice.kind == "invoice":
                return await self._sale(invoice, device, credit=False)
            if invoice.kind == "credit_note":
                return await self._sale(invoice, device, credit=True)
            if invoice.kind == "stock":
                return await self._stock(invoice, detail, device)
            return Rejected(0, f"The KRA Agent mode cannot send a row of kind {invoice.kind!r}.")
        except Decided as done:
            return done.outcome
        except (KeyError, ValueError, TypeError) as why:  # a detail the wire cannot be built from
            return Rejected(0, f"This {invoice.kind.replace('_', ' ')} cannot be sent to the KRA "
                               f"Agent: its stored details are incomplete ({short(why)}).")

    async def _item(self, record: InvoiceRecord, detail: dict, device: _Device) -> Outcome:
        fields = wire.item_form(record)
        answer = await self._request("POST", "/productSave", device, fields=fields)
        if answer.status == 409:  # the code is registered already: what a sale needs
            code = str(detail["item_code"])
            return Accepted(code, 409, f"The KRA Agent already had item {code} registered.",
                            upstream_ref=code)
        return classify_product(answer.status, answer.text, answer.retry_after)

    async def _sale(self, record: InvoiceRecord, device: _Device, *, credit: bool) -> Outcome:
        org_invc_no: int | str = 0
        if credit:
            try:
                org_invc_no = wire.original_invc_no(record)
            except KeyError as why:
                return Rejected(0, f"The credit note cannot be sent: {why.args[0]}, so it cannot "
                                   "name the sale it refunds; check the sale in the KRA Agent "
                                   "dashboard.")
        document = wire.sale_document(record, org_invc_no)
        fields = wire.sale_form(record, document)
        what = "credit note" if credit else "sale"
        answer = await self._request("POST", "/saveTrnsSalesOsdc" if credit else "/sale", device,
                                     fields=fields, bearer=credit)
        outcome = classify_sale(answer.status, answer.text, answer.retry_after, what=what,
                                poll_after=self._poll_after)
        if answer.status == 409:
            outcome = await self._duplicate(record, document, what, device, outcome)
        return outcome

    async def _duplicate(self, record: InvoiceRecord, document: dict, what: str, device: _Device,
                         outcome: Outcome) -> Outcome:
        """409: the agent has a sale with this trdInvcNo. Find it (GET /saleGet for the sale's
        day): ours after a lost answer → Accepted/Submitted, else AlreadyRecorded. ``what``:
        "sale" or "credit note"."""
        day = f"{document['cfmDt'][:4]}-{document['cfmDt'][4:6]}-{document['cfmDt'][6:8]}"
        try:
            answer = await self._request("GET", "/saleGet", device,
                                         params={"from": day, "to": day}, bearer=True, sent=False)
        except Decided:
            return outcome
        if answer.status != 200:
            return outcome
        found = find_sale(answer.body, document["trdInvcNo"], document["rcptTyCd"])
        if found is None:
            return outcome
        if record.ambiguous:
            return sale_outcome(found, 200, poll_after=self._poll_after)
        invc_no = found.get("invcNo")
        return AlreadyRecorded(
            409, f"The KRA Agent already has {what} {document['trdInvcNo']} "
                 f"(sale_id {found.get('sale_id')}, KRA invoice {invc_no}), sent by other "
                 "software or another till: it was not sent again.",
            None if invc_no is None else str(invc_no))

    async def _poll(self, sale_id: str, device: _Device) -> Outcome:
        answer = await self._request("GET", "/saleShow", device, params={"sale_id": sale_id},
                                     bearer=True, sent=False)
        if answer.status == 200:
            sale = first_sale(answer.body)
            if sale is not None:
                return sale_outcome(sale, 200, poll_after=self._poll_after)
            return RetryLater(f"The KRA Agent's answer about sale {sale_id} could not be read; "
                              "asking again later.", 200, self._poll_after)
        if answer.status == 404:
            return Rejected(404, f"The KRA Agent no longer knows sale {sale_id}; look it up in "
                                 "the KRA Agent dashboard before sending it again.")
        outcome = classify_status(answer.status, answer.text, answer.retry_after, what="sale")
        if isinstance(outcome, Ambiguous):  # a question, not a send: nothing can be doubled
            return RetryLater(outcome.message, outcome.status)
        return outcome

    async def _stock(self, record: InvoiceRecord, detail: dict, device: _Device) -> Outcome:
        moved, master = wire.stock_forms(record, device.branch_id)
        answer = await self._request("POST", "/insertStockIO", device, fields=moved)
        outcome = classify_status(answer.status, answer.text, answer.retry_after,
                                  what="stock movement")
        if not isinstance(outcome, Accepted):
            return outcome
        stock_id = outcome.upstream_ref
        if detail.get("remaining_quantity") in (None, ""):  # balance unknown: do not report one
            return Accepted(stock_id, outcome.status, "The KRA Agent recorded the stock movement "
                            "(the item's balance is not known here, so none was reported).",
                            upstream_ref=stock_id)
        answer = await self._request("POST", "/saveStockMaster", device, fields=master)
        outcome = classify_status(answer.status, answer.text, answer.retry_after,
                                  what="stock balance")
        if isinstance(outcome, Accepted):
            return Accepted(stock_id, outcome.status, "The KRA Agent recorded the stock movement "
                            "and the item's new balance.", upstream_ref=stock_id)
        return outcome

    async def _request(self, method: str, path: str, device: _Device, *,
                       fields: dict[str, str] | None = None, params: dict[str, str] | None = None,
                       bearer: bool = False, sent: bool = True) -> Answer:
        """One call with the device's headers (and the bearer token when ``bearer``), retried
        once with a renewed token after a 401. Failures that decide the outcome raise Decided.
        ``sent``: a lost answer may mean it was recorded (Ambiguous); False for questions."""
        for attempt in (1, 2):
            headers = {"Client-ID": device.client_id, "Client-Secret": device.client_secret}
            if bearer:
                headers["Authorization"] = f"Bearer {await self._bearer()}"
            answer = await send(self._client(), method, self.base_url + path,
                                who="the KRA Agent", sent=sent, params=params, headers=headers,
                                data=None if fields is None else form_data(fields))
            if answer.status == 401 and bearer and attempt == 1:
                await self.tokens.invalidate()
                continue
            if answer.status == 401:
                who = (f"this POS's Client-ID/Client-Secret or the account {self.tokens.email}'s "
                       "fresh sign-in") if bearer else "this POS's Client-ID/Client-Secret"
                raise Decided(AuthFailed(401, (
                    f"The KRA Agent refused {who} (401 {answer_message(answer.body, 401)}). "
                    "Run the KRA Agent POS setup again in Settings.")))
            return answer
        raise AssertionError("unreachable")

    async def _bearer(self) -> str:
        try:
            return await self.tokens.bearer()
        except SignInFailed as why:
            raise Decided(AuthFailed(401, str(why))) from None
        except TokenServiceUnavailable as why:
            raise Decided(RetryLater(str(why))) from None


# -- answers (pure) ------------------------------------------------------------------------------


def classify_status(status: int, text: str, retry_after: str | None = None, *,
                    what: str = "request") -> Outcome:
    """Answers that are not a sale's: 2xx with ``status: true`` → Accepted (upstream_ref = the
    agent's id: ``stock_id``/``id``/``purchase_id``); everything else as for any call."""
    answer = parse_json(text)
    if 200 <= status < 300:
        if isinstance(answer, dict) and answer.get("status") is not False:
            ref = next((answer[key] for key in ("stock_id", "id", "purchase_id", "sale_id")
                        if answer.get(key) not in (None, "")), None)
            ref = None if ref is None else str(ref)
            return Accepted(ref, status, f"The KRA Agent recorded the {what}.", upstream_ref=ref)
        return Rejected(status, f"The KRA Agent refused this {what}: "
                                f"{_refusal(answer, status)}"[:1000])
    return _failure(status, answer, retry_after, what)


def classify_sale(status: int, text: str, retry_after: str | None = None, *,
                  what: str = "sale", poll_after: float = POLL_AFTER) -> Outcome:
    """``POST /sale`` and ``POST /saveTrnsSalesOsdc`` answers."""
    answer = parse_json(text)
    if 200 <= status < 300:
        if not isinstance(answer, dict) or answer.get("status") is False:
            return Rejected(status, f"The KRA Agent refused this {what}: "
                                    f"{_refusal(answer, status)}"[:1000])
        kra = answer.get("kra_res") if isinstance(answer.get("kra_res"), dict) else {}
        sale = {"sale_id": answer.get("sale_id"), "invcNo": kra.get("invoiceNo"),
                "kra_response": kra}
        if sale["sale_id"] in (None, ""):
            return Ambiguous(f"The KRA Agent accepted the {what} but did not say its sale_id; it "
                             "will be checked again.", status)
        return sale_outcome(sale, status, what=what, poll_after=poll_after)
    if status == 409:
        return AlreadyRecorded(409, f"The KRA Agent already has this {what} number "
                                    f"({_refusal(answer, status)}).")
    return _failure(status, answer, retry_after, what)


def sale_outcome(sale: dict[str, Any], status: int, *, what: str = "sale",
                 poll_after: float = POLL_AFTER) -> Outcome:
    """A sale the agent holds (a POST's answer, or a ``saleShow``/``saleGet`` entry):
    completed → Accepted; still with the agent → Submitted; refused by KRA → Rejected."""
    kra = sale.get("kra_response") or sale.get("kra_res") or {}
    kra = kra if isinstance(kra, dict) else {}
    sale_id = str(sale.get("sale_id"))
    invc_no = sale.get("invcNo", kra.get("invoiceNo"))
    invc_no = None if invc_no in (None, "") else str(invc_no)
    url = kra.get("invoice_checker_url") or None
    state = str(kra.get("statusFromKRA") or "").strip().lower()
    if state == "completed":
        return Accepted(invc_no, status, f"KRA eTIMS recorded this {what} (KRA invoice "
                        f"{invc_no}).", upstream_ref=sale_id, receipt_url=url)
    if state in ("", "not_completed", "pending", "processing", "queued"):
        return Submitted(sale_id, f"The KRA Agent holds this {what} (sale_id {sale_id}) and has "
                                  "not yet had KRA's answer; asking again shortly.", status,
                         poll_after)
    reason = kra.get("resultMsg") or kra.get("message") or state
    return Rejected(status, f"KRA eTIMS refused this {what} (sale_id {sale_id}): {reason}"[:1000])


def classify_product(status: int, text: str, retry_after: str | None = None) -> Outcome:
    """``POST /productSave`` with one product: ``data[0].status`` says whether it was saved."""
    answer = parse_json(text)
    if 200 <= status < 300:
        if not isinstance(answer, dict) or answer.get("status") is False:
            return Rejected(status, f"The KRA Agent refused this item: "
                                    f"{_refusal(answer, status)}"[:1000])
        data = answer.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        if entry.get("status") is True:
            kra = entry.get("kraRes") if isinstance(entry.get("kraRes"), dict) else {}
            code = entry.get("item_cd") or kra.get("itemCode")
            code = None if code in (None, "") else str(code)
            return Accepted(code, status, f"The KRA Agent registered item {code}.",
                            upstream_ref=code)
        kra = entry.get("kraRes") if isinstance(entry.get("kraRes"), dict) else {}
        reason = (entry.get("message") or kra.get("resultMsg") or kra.get("statusFromKRA")
                  or "no reason given")
        return Rejected(status, f"The KRA Agent refused this item: {reason}"[:1000])
    return _failure(status, answer, retry_after, "item")


def _failure(status: int, answer: object, retry_after: str | None, what: str) -> Outcome:
    if status in (400, 422):
        return Rejected(status, f"The KRA Agent refused this {what}: "
                                f"{_refusal(answer, status)}"[:1000])
    if status == 409:
        return AlreadyRecorded(409, f"The KRA Agent already has this {what} "
                                    f"({_refusal(answer, status)}).")
    if status in (401, 403):
        return AuthFailed(status, f"The KRA Agent refused this POS's Client-ID/Client-Secret "
                                  f"({status} {answer_message(answer, status)}). Run the KRA "
                                  "Agent POS setup again in Settings.")
    return failure_tail(status, answer, retry_after, what, who="the KRA Agent",
                        url_end="/kra-agent/api/v1")


def _refusal(answer: object, status: int) -> str:
    """The agent's reason, naming the fields it complains about."""
    message = answer_message(answer, status)
    if isinstance(answer, dict) and isinstance(answer.get("kra_res"), dict):
        kra = answer["kra_res"]
        extra = kra.get("resultMsg") or kra.get("message")
        if extra and str(extra) not in message:
            message = f"{message}; KRA: {extra}"
    return message


def first_sale(answer: object) -> dict[str, Any] | None:
    """``saleShow``'s sale (the document shows ``data.sale`` as a one-element list)."""
    data = answer.get("data") if isinstance(answer, dict) else None
    sale = data.get("sale") if isinstance(data, dict) else None
    if isinstance(sale, list):
        sale = sale[0] if sale else None
    return sale if isinstance(sale, dict) else None


def find_sale(answer: object, trd_invc_no: object, rcpt_ty_cd: str) -> dict[str, Any] | None:
    """In a ``saleGet`` answer, the sale with this trader invoice number and receipt type."""
    data = answer.get("data") if isinstance(answer, dict) else None
    sales = data.get("sales") if isinstance(data, dict) else None
    for sale in sales if isinstance(sales, list) else []:
        if isinstance(sale, dict) and str(sale.get("trdInvcNo")) == str(trd_invc_no) \
                and str(sale.get("rcptTyCd") or rcpt_ty_cd) == rcpt_ty_cd:
            return sale
    return None


def _device(credentials: Credentials) -> _Device:
    try:
        keys = json.loads(credentials.key)
    except ValueError:
        keys = None
    if not isinstance(keys, dict) or not keys.get("client_id") or not keys.get("client_secret"):
        raise Decided(AuthFailed(0, f"POS {credentials.pos_id} has no KRA Agent Client-ID/Client-"
                                  "Secret saved: run the KRA Agent POS setup in Settings."))
    return _Device(str(keys["client_id"]), str(keys["client_secret"]),
                   str(keys.get("branch_id") or "00"))


# -- setup (the wizard) ----------------------------------------------------------------------


async def _setup_call(method: str, url: str, *, ssl: ssl_module.SSLContext | bool,
                      fields: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, object]:
    return await setup_call(method, url, who="the KRA Agent", ssl=ssl, timeout=40,
                            data=None if fields is None else form_data(fields), headers=headers)


async def login(base_url: str, email: str, password: str, *,
                ssl: ssl_module.SSLContext | bool = True) -> dict:
    """Sign the account in (``POST /auth/login``); returns the keyring JSON to keep:
    ``{"password", "access_token", "refresh_token", "access_expires_at"}``."""
    import time

    obtained = time.time()
    status, answer = await _setup_call("POST", base_url.rstrip("/") + "/auth/login", ssl=ssl,
                                       fields={"email": email, "password": password})
    tokens = read_tokens(answer) if 200 <= status < 300 else None
    if tokens is None:
        raise KenyaSetupError(f"The KRA Agent account {email} could not sign in: "
                              f"{answer_message(answer, status)}. Check the email and password.")
    access, refresh = tokens
    return {"password": password, "access_token": access, "refresh_token": refresh,
            "access_expires_at": expires_at(access, obtained)}


async def setup_pos(base_url: str, bearer: str, *, company_name: str, kra_pin: str,
                    integration_token: str, branch_id: str, dvc_srl_no: str,
                    callback_url: str | None = None, cmc_key: str | None = None,
                    ssl: ssl_module.SSLContext | bool = True) -> dict:
    """Register this till with the agent (``POST /pos/setup``); returns ``{"client_id",
    "client_secret"}`` and, when the agent says it, ``"agent_pos_id"``."""
    fields = {"company_name": company_name, "kra_pin": kra_pin,
              "integration_token": integration_token}
    if callback_url:
        fields["callback_url"] = callback_url
    fields.update({"type": INTEGRATION_TYPE, "branch_id": branch_id, "dvc_srl_no": dvc_srl_no})
    if cmc_key:
        fields["cmcKey"] = cmc_key
    status, answer = await _setup_call("POST", base_url.rstrip("/") + "/pos/setup", ssl=ssl,
                                       fields=fields, headers={"Authorization": f"Bearer {bearer}"})
    data = answer.get("data") if isinstance(answer, dict) else None
    data = data if isinstance(data, dict) else {}
    pos = data.get("pos") if isinstance(data.get("pos"), dict) else data
    client_id = pos.get("clientId") or pos.get("client_id")
    client_secret = pos.get("clientSecret") or pos.get("client_secret")
    if not (200 <= status < 300) or answer.get("status") is False or not client_id \
            or not client_secret:
        raise KenyaSetupError(f"The KRA Agent did not set up POS {company_name} (PIN {kra_pin}): "
                              f"{answer_message(answer, status)}.")
    result = {"client_id": str(client_id), "client_secret": str(client_secret)}
    agent_pos_id = pos.get("id") or pos.get("pos_id")
    if agent_pos_id not in (None, ""):
        result["agent_pos_id"] = str(agent_pos_id)
    return result


_DEVICE_FIELDS = ("dvcId", "mrcNo", "statusFromKRA", "lastUpdatedToKRA", "kra_pin", "branch_id",
                  "dvc_srl_no", "company_name")


async def init_device(base_url: str, bearer: str, client_id: str, client_secret: str, *,
                      ssl: ssl_module.SSLContext | bool = True) -> dict:
    """Initialize the device with KRA (``POST /selectInitOsdcInfo``). Returns what may be shown
    and logged: dvcId, sdcId (the document spells it ``sdicId``), mrcNo, statusFromKRA, message,
    and KRA's taxpayer/branch names; never the cmcKey, API key or integration token."""
    status, answer = await _setup_call(
        "POST", base_url.rstrip("/") + "/selectInitOsdcInfo", ssl=ssl,
        headers={"Client-ID": client_id, "Client-Secret": client_secret,
                 "Authorization": f"Bearer {bearer}"})
    device = answer.get("device") if isinstance(answer, dict) else None
    if not (200 <= status < 300) or not isinstance(device, dict) or answer.get("status") is False:
        raise KenyaSetupError(f"KRA did not initialize this device: "
                              f"{answer_message(answer, status)}.")
    result: dict[str, Any] = {key: device.get(key) for key in _DEVICE_FIELDS if key in device}
    result["sdcId"] = device.get("sdcId") or device.get("sdicId")
    result["message"] = answer.get("message")
    raw = parse_json(device["responseFromKRA"]) if isinstance(device.get("responseFromKRA"), str) \
        else device.get("responseFromKRA")
    info = ((raw or {}).get("data") or {}).get("info") if isinstance(raw, dict) else None
    if isinstance(info, dict):
        for ours, theirs in (("taxpayer_name", "taxprNm"), ("branch_name", "bhfNm"),
                             ("tin", "tin"), ("bhfId", "bhfId")):
            if info.get(theirs) is not None:
                result[ours] = info[theirs]
        result["sdcId"] = result["sdcId"] or info.get("sdcId")
        result.setdefault("dvcId", info.get("dvcId"))
        result.setdefault("mrcNo", info.get("mrcNo"))
    return result
