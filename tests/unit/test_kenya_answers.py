"""Kenya connectors: every answer's outcome (pure classify functions), the KRA Agent token keeper
and both connectors end to end against a tiny aiohttp server on 127.0.0.1 (real HTTP)."""

import asyncio
import base64
import json
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest
from aiohttp import web

from app.connectors import kra_agent, protax
from app.connectors.kenya_tokens import AgentTokens, SignInFailed, jwt_exp
from app.connectors.kra_agent import KraAgentConnector, classify_product, classify_sale
from app.connectors.kra_agent import classify_status as kra_status
from app.connectors.outcomes import (
    Accepted,
    AlreadyRecorded,
    Ambiguous,
    AuthFailed,
    Credentials,
    Rejected,
    RetryLater,
    Submitted,
)
from app.connectors.protax import ProTaxConnector, classify_created, classify_invoice
from tests.unit import test_kra_agent_wire as kra_wire_tests
from tests.unit import test_protax_wire as protax_wire_tests
from tests.unit.test_kra_agent_wire import fixture, record

URL = "BASE_URL/kra-agent/sale/invoice-checker/abc"
SALE_OK = json.dumps({"status": True, "sale_id": 1056138, "kra_res": {
    "statusFromKRA": "completed", "invoiceNo": 101, "invoice_checker_url": URL}})
SALE_PENDING = json.dumps({"status": True, "sale_id": 1056138, "kra_res": {
    "statusFromKRA": "not_completed"}})


# -- KRA Agent answers -------------------------------------------------------------------------


def test_kra_completed_sale_is_accepted_with_its_ids_and_receipt_link():
    assert classify_sale(200, SALE_OK) == Accepted(
        "101", 200, "KRA eTIMS recorded this sale (KRA invoice 101).", upstream_ref="1056138",
        receipt_url=URL)


def test_kra_not_completed_sale_is_submitted_and_polled():
    outcome = classify_sale(200, SALE_PENDING, poll_after=30)
    assert isinstance(outcome, Submitted) and outcome.upstream_ref == "1056138"
    assert outcome.after == 30


def test_kra_sale_refused_by_kra_or_by_the_agent():
    failed = json.dumps({"status": True, "sale_id": 5, "kra_res": {
        "statusFromKRA": "failed", "resultMsg": "Invalid item code"}})
    outcome = classify_sale(200, failed)
    assert isinstance(outcome, Rejected) and "Invalid item code" in outcome.message
    outcome = classify_sale(200, '{"status": false, "message": "Device not initialized"}')
    assert isinstance(outcome, Rejected) and "Device not initialized" in outcome.message


@pytest.mark.parametrize("status", [400, 422])
def test_kra_validation_errors_name_the_field(status):
    outcome = classify_sale(status, json.dumps({"status": False, "message": "Validation failed",
                                                "errors": {"sales.custTin": ["invalid PIN"]}}))
    assert isinstance(outcome, Rejected)
    assert "sales.custTin: invalid PIN" in outcome.message and "Validation failed" in outcome.message


def test_kra_answers_by_status():
    assert isinstance(classify_sale(409, '{"message":"Duplicate trdInvcNo"}'), AlreadyRecorded)
    assert isinstance(classify_sale(401, "{}"), AuthFailed)
    assert isinstance(classify_sale(403, "{}"), AuthFailed)
    assert isinstance(classify_sale(404, "<html>"), AuthFailed)  # no such route: the URL
    missing = classify_sale(404, '{"message": "Original sale 5 not found"}')  # the API's answer
    assert isinstance(missing, Rejected) and "Original sale 5 not found" in missing.message
    limited = classify_sale(429, "", "12")
    assert isinstance(limited, RetryLater) and limited.after == 12
    for status in (500, 502, 503, 504, 418):
        assert isinstance(classify_sale(status, "oops"), Ambiguous)
    assert isinstance(classify_sale(200, '{"status": true}'), Ambiguous)  # no sale_id


def test_kra_product_answers():
    ok = json.dumps({"status": True, "data": [{"status": True, "item_cd": "KE1NTXU0000013",
                                               "kraRes": {"statusFromKRA": "completed"}}]})
    assert classify_product(200, ok) == Accepted(
        "KE1NTXU0000013", 200, "The KRA Agent registered item KE1NTXU0000013.",
        upstream_ref="KE1NTXU0000013")
    refused = json.dumps({"status": True, "data": [{"status": False, "item_cd": "X",
                                                    "kraRes": {"resultMsg": "Bad class code"}}]})
    outcome = classify_product(200, refused)
    assert isinstance(outcome, Rejected) and "Bad class code" in outcome.message
    assert isinstance(classify_product(422, '{"message":"products required"}'), Rejected)
    assert isinstance(classify_product(500, ""), Ambiguous)


def test_kra_stock_answers():
    outcome = kra_status(200, '{"status": true, "stock_id": 5, "kra_res": {"statusFromKRA": '
                              '"not_completed"}}', what="stock movement")
    assert isinstance(outcome, Accepted) and outcome.upstream_ref == "5"
    assert isinstance(kra_status(200, '{"status": false, "message": "no"}'), Rejected)
    assert isinstance(kra_status(429, "", "3"), RetryLater)


def test_kra_messages_never_show_a_secret():
    key = json.dumps({"integration_token": "TOKEN-SECRET", "client_id": "cid",
                      "client_secret": "CLIENT-SECRET"})
    assert "CLIENT-SECRET" not in repr(Credentials("P1", "POS1", key))


# -- ProTax answers ------------------------------------------------------------------------------

SIGNED = {"id": "inv_xyz789", "invoice_number": "INV-2026-001", "status": "SIGNED",
          "cuin": "KRA20260412001234", "qr_code_url": "https://api.protax.co.ke/qr/inv_xyz789",
          "signed_at": "2026-04-12T08:01:23Z", "totals": {"subtotal": 50000, "tax_amount": 8000,
                                                          "total": 58000}}


def test_protax_signed_invoice_is_accepted_with_cuin_and_qr():
    assert classify_invoice(201, json.dumps(SIGNED)) == Accepted(
        "KRA20260412001234", 201, "KRA eTIMS signed this invoice (CUIN KRA20260412001234).",
        upstream_ref="inv_xyz789", receipt_url="https://api.protax.co.ke/qr/inv_xyz789")


@pytest.mark.parametrize("state", ["QUEUED", "PROCESSING"])
def test_protax_queued_invoice_is_submitted(state):
    outcome = classify_invoice(201, json.dumps({**SIGNED, "status": state}), poll_after=30)
    assert outcome == Submitted("inv_xyz789", outcome.message, 201, 30)


def test_protax_rejections_carry_the_reason():
    outcome = classify_invoice(422, '{"error":"KRA rejected","rejection_reason":"Invalid PIN"}')
    assert isinstance(outcome, Rejected) and "Invalid PIN" in outcome.message
    outcome = classify_invoice(200, json.dumps({**SIGNED, "status": "REJECTED",
                                                "rejection_reason": "Duplicate CUIN"}))
    assert isinstance(outcome, Rejected) and "Duplicate CUIN" in outcome.message
    outcome = classify_invoice(400, '{"message":"Invalid payload","errors":{"customer_name":'
                                    '["required"]}}')
    assert isinstance(outcome, Rejected) and "customer_name: required" in outcome.message


def test_protax_answers_by_status():
    assert isinstance(classify_invoice(409, "{}"), AlreadyRecorded)
    auth = classify_invoice(401, '{"message":"Invalid API key"}')
    assert isinstance(auth, AuthFailed) and "ptx_test_" in auth.message
    assert "ptx_live_" in auth.message
    assert isinstance(classify_invoice(403, "{}"), AuthFailed)
    assert isinstance(classify_invoice(404, "{}"), AuthFailed)
    missing = classify_invoice(404, '{"error": "not_found", "message": "Invoice inv_1 not found."}')
    assert isinstance(missing, Rejected) and "inv_1 not found" in missing.message
    limited = classify_invoice(429, "", "7")
    assert isinstance(limited, RetryLater) and limited.after == 7
    assert isinstance(classify_invoice(500, '{"message":"contact support"}'), Ambiguous)
    assert isinstance(classify_invoice(201, "{}"), Ambiguous)  # no id


def test_protax_created_answers():
    assert classify_created(201, '{"id":"itm_abc123","item_name":"x"}') == Accepted(
        "itm_abc123", 201, "ProTax recorded the item (itm_abc123).", upstream_ref="itm_abc123")
    assert isinstance(classify_created(201, '{}'), Ambiguous)
    assert isinstance(classify_created(201, '{}', what="stock movement"), Accepted)
    assert isinstance(classify_created(422, '{"message":"bad"}'), Rejected)


# -- a tiny upstream on 127.0.0.1 ------------------------------------------------------------


def jwt(exp: float, sub: str = "7") -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': sub, 'exp': int(exp)})}.sig"


class Fake:
    """Routes ``(method, path)`` to a handler ``(seen) -> (status, body, headers)``; records every
    request as seen: method, path, query, headers, form fields or JSON body."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable] = {}
        self.seen: list[dict] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        seen = {"method": request.method, "path": request.path, "query": dict(request.query),
                "headers": dict(request.headers), "form": {}, "json": None}
        if request.content_type.startswith("multipart/"):
            seen["form"] = {k: str(v) for k, v in (await request.post()).items()}
        elif request.can_read_body:
            seen["json"] = json.loads(await request.text())
        self.seen.append(seen)
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return web.json_response({"message": "no route"}, status=404)
        result = handler(seen)
        if asyncio.iscoroutine(result):
            result = await result
        status, body, headers = (*result, {})[:3]
        return web.Response(status=status, text=json.dumps(body), headers=headers,
                            content_type="application/json")

    def calls(self, path: str) -> list[dict]:
        return [s for s in self.seen if s["path"].endswith(path)]


@pytest.fixture
async def fake():
    server = Fake()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}/kra-agent/api/v1"
    yield server
    await runner.cleanup()


class Keyring:
    def __init__(self, account: dict | None):
        self.account = account
        self.saved: list[dict] = []

    def load(self) -> dict | None:
        return None if self.account is None else dict(self.account)

    def save(self, account: dict) -> None:
        self.saved.append(account)
        self.account = dict(account)


def tokens_for(fake: Fake, keyring: Keyring) -> AgentTokens:
    return AgentTokens(fake.url, "shop@example.com", True, keyring.load, keyring.save)


def login_route(fake: Fake, lifetime: float = 3600, accept: bool = True) -> None:
    def login(seen):
        if not accept or seen["form"].get("password") != "pw":
            return 401, {"status": False, "message": "Invalid credentials"}
        return 200, {"status": True, "data": {"user_id": 7, "access_token": jwt(time.time()
                     + lifetime, "login"), "refresh_token": "refresh-2"}}
    fake.routes[("POST", "/kra-agent/api/v1/auth/login")] = login


def refresh_route(fake: Fake, accept: bool = True, delay: float = 0) -> None:
    async def refresh(seen):
        await asyncio.sleep(delay)
        if not accept:
            return 401, {"status": False, "message": "Refresh token expired"}
        return 200, {"status": True, "data": {"access_token": jwt(time.time() + 3600, "refresh"),
                                              "refresh_token": "refresh-3"}}
    fake.routes[("POST", "/kra-agent/api/v1/auth/refresh-token")] = refresh


def account(exp_in: float) -> dict:
    token = jwt(time.time() + exp_in)
    return {"password": "pw", "access_token": token, "refresh_token": "refresh-1",
            "access_expires_at": jwt_exp(token)}


async def test_a_valid_token_is_used_without_asking(fake):
    keyring = Keyring(account(3600))
    tokens = tokens_for(fake, keyring)
    assert await tokens.bearer() == keyring.account["access_token"]
    assert fake.seen == [] and keyring.saved == []
    await tokens.close()


async def test_token_is_refreshed_before_it_expires_and_written_back(fake):
    refresh_route(fake)
    keyring = Keyring(account(200))  # within five minutes of expiring
    tokens = tokens_for(fake, keyring)
    token = await tokens.bearer()
    assert jwt_exp(token) > time.time() + 3000
    [call] = fake.calls("/auth/refresh-token")
    assert call["form"] == {"refresh_token": "refresh-1"}
    assert keyring.account["access_token"] == token and keyring.account["password"] == "pw"
    assert keyring.account["refresh_token"] == "refresh-3"
    assert keyring.account["access_expires_at"] == jwt_exp(token)
    await tokens.close()


async def test_refused_refresh_signs_in_again_with_the_password(fake):
    refresh_route(fake, accept=False)
    login_route(fake)
    keyring = Keyring(account(-10))
    tokens = tokens_for(fake, keyring)
    await tokens.bearer()
    [call] = fake.calls("/auth/login")
    # the document's login form: email and password (fixtures/kra_agent/requests/login.json)
    assert set(call["form"]) == set(fixture("login")) == {"email", "password"}
    assert call["form"]["email"] == "shop@example.com"
    assert (tokens.refreshes, tokens.logins) == (0, 1)
    assert keyring.account["refresh_token"] == "refresh-2"
    await tokens.close()


async def test_concurrent_callers_share_one_refresh(fake):
    refresh_route(fake, delay=0.05)
    keyring = Keyring(account(-10))
    tokens = tokens_for(fake, keyring)
    results = await asyncio.gather(*(tokens.bearer() for _ in range(20)))
    assert len(set(results)) == 1 and len(fake.calls("/auth/refresh-token")) == 1
    await tokens.close()


async def test_invalidate_forces_a_refresh(fake):
    refresh_route(fake)
    keyring = Keyring(account(3600))
    tokens = tokens_for(fake, keyring)
    first = await tokens.bearer()
    await tokens.invalidate()
    assert await tokens.bearer() != first and len(fake.calls("/auth/refresh-token")) == 1
    await tokens.close()


async def test_a_token_that_is_not_a_jwt_lasts_55_minutes(fake):
    fake.routes[("POST", "/kra-agent/api/v1/auth/login")] = lambda seen: (
        200, {"status": True, "data": {"access_token": "opaque", "refresh_token": "r"}})
    keyring = Keyring({"password": "pw"})
    tokens = tokens_for(fake, keyring)
    assert await tokens.bearer() == "opaque"
    assert keyring.account["access_expires_at"] == pytest.approx(time.time() + 55 * 60, abs=5)
    await tokens.close()


async def test_a_refused_password_says_what_to_do_and_never_shows_it(fake):
    refresh_route(fake, accept=False)
    login_route(fake, accept=False)
    keyring = Keyring({**account(-10), "password": "pw-secret"})
    tokens = tokens_for(fake, keyring)
    with pytest.raises(SignInFailed) as failed:
        await tokens.bearer()
    message = str(failed.value)
    assert message.startswith("The KRA Agent account shop@example.com could not sign in: ")
    assert "enter its password again in Settings" in message and "pw-secret" not in message
    await tokens.close()


# -- the KRA Agent connector end to end --------------------------------------------------------

KRA_KEY = json.dumps({"integration_token": "it", "client_id": "cid", "client_secret": "csecret"})
KRA_CREDS = Credentials("P051234567A", "POS1", KRA_KEY)


@pytest.fixture
async def kra(fake):
    refresh_route(fake)
    login_route(fake)
    keyring = Keyring(account(3600))
    connector = KraAgentConnector(fake.url, tokens=tokens_for(fake, keyring), poll_after=30)
    yield connector
    await connector.close()


def sale_row(**changes):
    row = record("invoice", kra_wire_tests.SALE_DETAIL, id_=101, invoice_no="1414")
    return replace(row, **changes)


async def test_kra_sale_is_posted_as_the_documented_form(fake, kra):
    fake.routes[("POST", "/kra-agent/api/v1/sale")] = lambda seen: (200, json.loads(SALE_OK))
    outcome = await kra.submit(sale_row(), KRA_CREDS)
    assert outcome == Accepted("101", 200, outcome.message, upstream_ref="1056138",
                               receipt_url=URL)
    [call] = fake.calls("/sale")
    assert call["headers"]["Client-ID"] == "cid" and call["headers"]["Client-Secret"] == "csecret"
    assert "Authorization" not in call["headers"]  # the document shows none for /sale
    assert call["headers"]["Content-Type"].startswith("multipart/form-data")
    assert set(call["form"]) == {"sales", "requestID"} and call["form"]["requestID"] == "POS1-101-sale"
    assert json.loads(call["form"]["sales"])["invcNo"] == 101


async def test_kra_not_completed_then_polled_with_the_bearer(fake, kra):
    fake.routes[("POST", "/kra-agent/api/v1/sale")] = lambda seen: (200, json.loads(SALE_PENDING))
    outcome = await kra.submit(sale_row(), KRA_CREDS)
    assert isinstance(outcome, Submitted) and outcome.upstream_ref == "1056138"
    fake.routes[("GET", "/kra-agent/api/v1/saleShow")] = lambda seen: (200, {"status": True, "data": {
        "sale": [{"sale_id": 1056138, "invcNo": 101, "kra_response": {
            "statusFromKRA": "completed", "invoice_checker_url": URL}}]}})
    outcome = await kra.submit(sale_row(upstream_ref="1056138"), KRA_CREDS)
    assert outcome == Accepted("101", 200, outcome.message, upstream_ref="1056138", receipt_url=URL)
    [poll] = fake.calls("/saleShow")
    assert poll["query"] == {"sale_id": "1056138"}
    assert poll["headers"]["Authorization"].startswith("Bearer ey")
    assert len(fake.calls("/sale")) == 1  # asked, not posted again


async def test_kra_duplicate_is_looked_up(fake, kra):
    fake.routes[("POST", "/kra-agent/api/v1/sale")] = lambda seen: (
        409, {"status": False, "message": "Duplicate trdInvcNo"})
    fake.routes[("GET", "/kra-agent/api/v1/saleGet")] = lambda seen: (200, {"status": True, "data": {
        "sales": [{"sale_id": 9, "trdInvcNo": 77, "rcptTyCd": "S", "invcNo": 1},
                  {"sale_id": 1056138, "trdInvcNo": 1414, "rcptTyCd": "S", "invcNo": 101,
                   "kra_response": {"statusFromKRA": "completed", "invoice_checker_url": URL}}]}})
    ours = await kra.submit(sale_row(ambiguous=True), KRA_CREDS)
    assert ours == Accepted("101", 200, ours.message, upstream_ref="1056138", receipt_url=URL)
    assert fake.calls("/saleGet")[0]["query"] == {"from": "2025-07-16", "to": "2025-07-16"}
    theirs = await kra.submit(sale_row(), KRA_CREDS)
    assert isinstance(theirs, AlreadyRecorded) and theirs.transaction_id == "101"


async def test_kra_credit_note_renews_a_refused_token_once(fake, kra):
    answers = iter([(401, {"message": "Unauthenticated"}),
                    (200, {"status": True, "sale_id": 1056141, "kra_res": {
                        "statusFromKRA": "completed", "invoiceNo": 4578,
                        "invoice_checker_url": URL}})])
    fake.routes[("POST", "/kra-agent/api/v1/saveTrnsSalesOsdc")] = lambda seen: next(answers)
    row = record("credit_note", kra_wire_tests.CREDIT_DETAIL, id_=4578, invoice_no="cn:50041",
                 refs={"1414": ("1056138", "101")})
    outcome = await kra.submit(row, KRA_CREDS)
    assert isinstance(outcome, Accepted) and outcome.transaction_id == "4578"
    first, second = fake.calls("/saveTrnsSalesOsdc")
    assert first["headers"]["Authorization"] != second["headers"]["Authorization"]
    assert first["form"]["requestID"] == second["form"]["requestID"] == "POS1-4578-credit"
    assert json.loads(second["form"]["sales"])["orgInvcNo"] == 101
    assert len(fake.calls("/auth/refresh-token")) == 1


async def test_kra_item_and_stock(fake, kra):
    fake.routes[("POST", "/kra-agent/api/v1/productSave")] = lambda seen: (200, {
        "status": True, "data": [{"status": True, "item_cd": "KE1NTXU0000013",
                                  "kraRes": {"statusFromKRA": "completed"}}]})
    item = record("item", kra_wire_tests.ITEM_DETAIL, id_=3, invoice_no="item:KE1NTXU0000013")
    outcome = await kra.submit(item, KRA_CREDS)
    assert isinstance(outcome, Accepted) and outcome.upstream_ref == "KE1NTXU0000013"
    assert json.loads(fake.calls("/productSave")[0]["form"]["products"])["products"][0][
        "dftPrc"] == 2900
    fake.routes[("POST", "/kra-agent/api/v1/insertStockIO")] = lambda seen: (200, {
        "status": True, "stock_id": 5, "kra_res": {"statusFromKRA": "not_completed"}})
    fake.routes[("POST", "/kra-agent/api/v1/saveStockMaster")] = lambda seen: (200, {
        "status": True, "id": 4, "kra_res": {"statusFromKRA": "not_completed"}})
    stock = record("stock", kra_wire_tests.STOCK_DETAIL, id_=2, invoice_no="stock:GRN-7")
    outcome = await kra.submit(stock, KRA_CREDS)
    assert isinstance(outcome, Accepted) and outcome.upstream_ref == "5"
    assert [c["form"]["requestID"] for c in fake.seen[-2:]] == ["POS1-2-stockio",
                                                               "POS1-2-stockmaster"]
    unknown = {**kra_wire_tests.STOCK_DETAIL, "remaining_quantity": None}
    outcome = await kra.submit(record("stock", unknown, id_=8), KRA_CREDS)
    assert isinstance(outcome, Accepted) and fake.seen[-1]["path"].endswith("/insertStockIO")


async def test_kra_without_client_secret_or_reachable_server(fake, kra):
    outcome = await kra.submit(sale_row(), Credentials("P", "POS1", '{"integration_token":"x"}'))
    assert isinstance(outcome, AuthFailed) and "POS setup" in outcome.message
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    dead = KraAgentConnector(f"http://127.0.0.1:{closed}/kra-agent/api/v1",
                             tokens=tokens_for(fake, Keyring(account(3600))))
    assert isinstance(await dead.submit(sale_row(), KRA_CREDS), RetryLater)
    assert await dead.probe() is False
    await dead.close()


async def test_kra_sign_in_failure_holds_the_pos(fake):
    login_route(fake, accept=False)
    refresh_route(fake, accept=False)
    connector = KraAgentConnector(fake.url, tokens=tokens_for(
        fake, Keyring({**account(-5), "password": "wrong"})))
    row = record("credit_note", kra_wire_tests.CREDIT_DETAIL, refs={"1414": ("1", "101")})
    outcome = await connector.submit(row, KRA_CREDS)
    assert isinstance(outcome, AuthFailed)
    assert "shop@example.com could not sign in" in outcome.message and "wrong" not in outcome.message
    assert fake.calls("/saveTrnsSalesOsdc") == []
    await connector.close()


async def test_kra_setup_functions(fake):
    login_route(fake)
    kept = await kra_agent.login(fake.url, "shop@example.com", "pw")
    assert set(kept) == {"password", "access_token", "refresh_token", "access_expires_at"}
    with pytest.raises(kra_agent.KenyaSetupError, match="could not sign in"):
        await kra_agent.login(fake.url, "shop@example.com", "nope")
    fake.routes[("POST", "/kra-agent/api/v1/pos/setup")] = lambda seen: (
        200, {"status": True, "data": {"clientId": "cid", "clientSecret": "cs"}})
    made = await kra_agent.setup_pos(fake.url, "tok", company_name="Pump 1", kra_pin="P1",
                                     integration_token="it", branch_id="00", dvc_srl_no="1",
                                     callback_url="https://x/cb", cmc_key="cmc")
    assert made == {"client_id": "cid", "client_secret": "cs"}
    [call] = fake.calls("/pos/setup")
    assert list(call["form"]) == list(fixture("pos_setup"))  # the document's fields, in order
    assert call["form"]["type"] == "RIMS Utility" and call["headers"]["Authorization"] == "Bearer tok"
    device = {"id": 4, "kra_pin": "P1", "api_key": "SECRET-API", "cmcKey": "SECRET-CMC",
              "integration_token": "it", "dvcId": "9999911300000001", "sdicId": "KRACU013000001",
              "mrcNo": "WIS01000150", "statusFromKRA": "verified", "responseFromKRA": json.dumps(
                  {"resultCd": "000", "data": {"info": {"taxprNm": "Taxpayer1130", "bhfNm": "HQ",
                                                        "cmcKey": "SECRET-CMC"}}})}
    fake.routes[("POST", "/kra-agent/api/v1/selectInitOsdcInfo")] = lambda seen: (
        200, {"status": True, "message": "Device verified successfully", "device": device})
    info = await kra_agent.init_device(fake.url, "tok", "cid", "cs")
    assert info["sdcId"] == "KRACU013000001" and info["dvcId"] == "9999911300000001"
    assert info["taxpayer_name"] == "Taxpayer1130" and info["statusFromKRA"] == "verified"
    assert "SECRET" not in json.dumps(info)
    call = fake.calls("/selectInitOsdcInfo")[0]
    assert call["headers"]["Client-ID"] == "cid" and call["headers"]["Authorization"] == "Bearer tok"


# -- the ProTax connector end to end -------------------------------------------------------------

PTX_CREDS = Credentials("P051234567B", "POS1", json.dumps({"api_key": "ptx_test_k"}))


@pytest.fixture
async def ptx(fake):
    fake.url = fake.url.replace("/kra-agent/api/v1", "/api/v2")
    connector = ProTaxConnector(fake.url, poll_after=30)
    yield connector
    await connector.close()


def invoice_row(**changes):
    row = record("invoice", protax_wire_tests.INVOICE_DETAIL, id_=5, invoice_no="INV-2026-001",
                 refs=protax_wire_tests.REFS)
    return replace(row, **changes)


async def test_protax_invoice_signed(fake, ptx):
    fake.routes[("POST", "/api/v2/invoices")] = lambda seen: (201, SIGNED)
    outcome = await ptx.submit(invoice_row(), PTX_CREDS)
    assert outcome == Accepted("KRA20260412001234", 201, outcome.message,
                               upstream_ref="inv_xyz789", receipt_url=SIGNED["qr_code_url"])
    [call] = fake.seen
    assert call["headers"]["X-API-Key"] == "ptx_test_k" and call["json"]["offline_mode"] is True


async def test_protax_queued_then_polled(fake, ptx):
    fake.routes[("POST", "/api/v2/invoices")] = lambda seen: (201, {**SIGNED, "status": "QUEUED"})
    outcome = await ptx.submit(invoice_row(), PTX_CREDS)
    assert isinstance(outcome, Submitted) and outcome.upstream_ref == "inv_xyz789"
    fake.routes[("GET", "/api/v2/invoices/inv_xyz789")] = lambda seen: (200, SIGNED)
    outcome = await ptx.submit(invoice_row(upstream_ref="inv_xyz789"), PTX_CREDS)
    assert isinstance(outcome, Accepted) and outcome.transaction_id == "KRA20260412001234"
    assert len(fake.calls("/invoices")) == 1


async def test_protax_lost_answer_is_found_before_posting_again(fake, ptx):
    def listing(seen):
        page = int(seen["query"]["page"])
        found = [{"id": "inv_xyz789", "invoice_number": "INV-2026-001", "status": "SIGNED"}]
        other = [{"id": f"inv_{i}", "invoice_number": f"X-{i}"} for i in range(3)]
        return 200, {"data": found if page == 2 else other,
                     "meta": {"total": 4, "page": page, "per_page": 100, "total_pages": 2}}
    fake.routes[("GET", "/api/v2/invoices")] = listing
    fake.routes[("GET", "/api/v2/invoices/inv_xyz789")] = lambda seen: (200, SIGNED)
    outcome = await ptx.submit(invoice_row(ambiguous=True), PTX_CREDS)
    assert isinstance(outcome, Accepted) and outcome.upstream_ref == "inv_xyz789"
    assert [c["method"] for c in fake.seen] == ["GET", "GET", "GET"]
    assert fake.seen[0]["query"]["from_date"] == fake.seen[0]["query"]["to_date"] == "2026-04-12"


async def test_protax_duplicate_from_elsewhere(fake, ptx):
    fake.routes[("POST", "/api/v2/invoices")] = lambda seen: (409, {"message": "exists"})
    fake.routes[("GET", "/api/v2/invoices")] = lambda seen: (200, {"data": [
        {"id": "inv_1", "invoice_number": "INV-2026-001", "status": "SIGNED", "cuin": "C1"}]})
    outcome = await ptx.submit(invoice_row(), PTX_CREDS)
    assert isinstance(outcome, AlreadyRecorded) and outcome.transaction_id == "C1"


async def test_protax_refused_key_and_rate_limit(fake, ptx):
    fake.routes[("POST", "/api/v2/invoices")] = lambda seen: (401, {"message": "Invalid key"})
    outcome = await ptx.submit(invoice_row(), PTX_CREDS)
    assert isinstance(outcome, AuthFailed) and "ptx_live_" in outcome.message
    assert "ptx_test_k" not in outcome.message
    fake.routes[("POST", "/api/v2/invoices")] = lambda seen: (429, {}, {"Retry-After": "9"})
    outcome = await ptx.submit(invoice_row(), PTX_CREDS)
    assert isinstance(outcome, RetryLater) and outcome.after == 9


async def test_protax_lost_credit_note_is_not_posted_blindly(fake, ptx):
    row = record("credit_note", protax_wire_tests.CREDIT_DETAIL, ambiguous=True,
                 refs={"INV-2026-001": ("inv_xyz789", "C")})
    outcome = await ptx.submit(row, PTX_CREDS)
    assert isinstance(outcome, Rejected) and "ProTax dashboard" in outcome.message
    assert fake.seen == []
    fake.routes[("POST", "/api/v2/invoices/credit-note")] = lambda seen: (
        201, {**SIGNED, "id": "cn_1"})
    outcome = await ptx.submit(replace(row, ambiguous=False), PTX_CREDS)
    assert isinstance(outcome, Accepted) and outcome.upstream_ref == "cn_1"
    assert fake.seen[-1]["json"] == {"original_invoice_id": "inv_xyz789",
                                     "reason": "Goods returned by customer"}


async def test_protax_item_reused_by_name_and_stock(fake, ptx):
    fake.routes[("GET", "/api/v2/items")] = lambda seen: (200, {"data": [
        {"id": "itm_abc123", "item_name": "IT Consulting Services"}]})
    item = record("item", protax_wire_tests.ITEM_DETAIL, ambiguous=True)
    outcome = await ptx.submit(item, PTX_CREDS)
    assert isinstance(outcome, Accepted) and outcome.upstream_ref == "itm_abc123"
    fake.routes[("POST", "/api/v2/items")] = lambda seen: (201, {"id": "itm_new"})
    outcome = await ptx.submit(replace(item, ambiguous=False), PTX_CREDS)
    assert outcome.upstream_ref == "itm_new"
    fake.routes[("POST", "/api/v2/stock/adjustment")] = lambda seen: (201, {"id": "adj_1"})
    stock = record("stock", protax_wire_tests.STOCK_DETAIL, refs=protax_wire_tests.REFS)
    outcome = await ptx.submit(stock, PTX_CREDS)
    assert isinstance(outcome, Accepted) and fake.seen[-1]["json"]["quantity"] == 100
    # after a lost answer: the balance already shows it (110) → not posted again
    fake.routes[("GET", "/api/v2/stock")] = lambda seen: (200, {"data": [
        {"item_id": "itm_abc123", "quantity": 110}]})
    posted = len(fake.calls("/stock/adjustment"))
    outcome = await ptx.submit(replace(stock, ambiguous=True), PTX_CREDS)
    assert isinstance(outcome, Accepted) and len(fake.calls("/stock/adjustment")) == posted


async def test_protax_setup_functions(fake):
    base = fake.url.replace("/kra-agent/api/v1", "/api/v2")
    fake.routes[("GET", "/api/v2/health")] = lambda seen: (200, {
        "status": "ok", "version": "2.0.1", "environment": "sandbox"})
    assert (await protax.health(base, "ptx_test_k"))["key_kind"] == "test"
    assert fake.seen[-1]["headers"]["X-API-Key"] == "ptx_test_k"
    fake.routes[("GET", "/api/v2/health")] = lambda seen: (401, {"message": "Invalid key"})
    with pytest.raises(protax.KenyaSetupError, match="ptx_test_"):
        await protax.health(base, "bad")
    fake.routes[("GET", "/api/v2/customers")] = lambda seen: (
        (200, {"pin": "P051234567A", "name": "Acme Ltd"}) if seen["query"]["pin"] == "P051234567A"
        else (404, {"message": "not found"}))
    assert (await protax.lookup_customer(base, "ptx_test_k", "P051234567A"))["name"] == "Acme Ltd"
    assert await protax.lookup_customer(base, "ptx_test_k", "P000000000X") is None


def test_decimal_amounts_survive_the_wire():
    body = protax_wire_tests.wire.invoice(
        {**protax_wire_tests.INVOICE_DETAIL, "lines": [protax_wire_tests._line(
            qty="1.5", price="99.99", net="149.985")]}, protax_wire_tests.REFS)
    assert body["items"][0]["quantity"] == Decimal("1.5")
