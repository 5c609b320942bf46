"""The KRA Agent sandbox over real sockets: HTTPS with verification ON, and the plain-HTTP port.

Every request example of the seed (002) is sent as printed (placeholders such as client_id
replaced by real values) and each answer is compared with the seed's response example, kept
verbatim in tests/fixtures/kra_agent/responses/<endpoint>.json: the same keys recursively and
the same types (a null in the seed matches anything), amounts equal where deterministic. Two
examples are not valid JSON as printed and were saved with one edit each: pos_index.json
(`"branch_id": BRANCH_ID` → "BRANCH_ID") and selectInitOsdcInfo.json (`"branch_id": 00` → "00").
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.sandbox.cli import run_kra_agent_sandbox
from app.sandbox.kra_agent import DEFAULT_EMAIL, DEFAULT_PASSWORD, KraAgentSandbox
from tests.integration.sandbox_helpers import (
    cancel_command,
    client_ssl,
    down_and_back,
    run_sandbox,
    start_command,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kra_agent" / "responses"
Reply = tuple[int, Any, Any]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


# -- the seed's request examples -------------------------------------------------------


def product(code: str) -> dict[str, Any]:
    return {
        "lastReqDt": "20250716114931", "itemCd": code, "itemClsCd": "9901300101",
        "itemTyCd": "1", "itemNm": "Sinda Engine Oil 20W50", "itemStdNm": None,
        "orgnNatCd": "KE", "pkgUnitCd": "NT", "qtyUnitCd": "U", "taxTyCd": "B", "btchNo": None,
        "bcd": None, "dftPrc": 2900, "grpPrcL1": 2900, "grpPrcL2": 2900, "grpPrcL3": 2900,
        "grpPrcL4": 2900, "grpPrcL5": None, "addInfo": None, "sftyQty": None,
        "isrcAplcbYn": "N", "useYn": "Y", "regrId": "Test", "regrNm": "Test", "modrId": "Test",
        "modrNm": "Test",
    }


PRODUCTS = {"products": [product("KE1NTXU0000013"), product("KE1NTXU0000014"),
                         product("KE1NTXU0000015")]}
BANDS0 = {f"{p}{b}": 0 for p in ("taxblAmt", "taxRt", "taxAmt") for b in "ACDE"}
TAIL = {"regrId": "Test", "regrNm": "Test", "modrId": "Test", "modrNm": "Test"}


def line(seq: int, code: str, name: str, qty: int, tax: int, cls: str = "5059690800",
         **extra: Any) -> dict[str, Any]:
    amount = 3500 * qty
    return {
        "itemSeq": seq, "itemCd": code, "itemClsCd": cls, "itemNm": name, "bcd": None,
        "pkgUnitCd": "NT", "pkg": qty, "qtyUnitCd": "U", "qty": qty, "prc": 3500,
        "splyAmt": amount, "dcRt": 0, "dcAmt": 0, "isrccCd": None, "isrccNm": None,
        "isrcRt": None, "isrcAmt": None, "taxTyCd": "B", "taxblAmt": amount, "taxAmt": tax,
        "totAmt": amount, **extra,
    }


SALE = {
    "trdInvcNo": 1414, "invcNo": 101, "orgInvcNo": 0, "custTin": "A123456789A",
    "custNm": "Taxpayer1112", "salesTyCd": "N", "rcptTyCd": "S", "pmtTyCd": "01",
    "salesSttsCd": "02", "cfmDt": "20250716114931", "salesDt": "20250716",
    "stockRlsDt": "20250716114931", "cnclReqDt": None, "cnclDt": None, "rfdDt": None,
    "rfdRsnCd": None, "totItemCnt": 2, **BANDS0, "taxblAmtB": 10500, "taxRtB": 18,
    "taxAmtB": 1602, "totTaxblAmt": 10500, "totTaxAmt": 1602, "totAmt": 10500,
    "prchrAcptcYn": "N", "remark": None, **TAIL,
    "receipt": {"custTin": "A123456789A", "custMblNo": None, "rcptPbctDt": "20250716114931",
                "trdeNm": None, "adrs": None, "topMsg": None, "btmMsg": None,
                "prchrAcptcYn": "N"},
    "itemList": [line(1, "KE1NTXU0000013", "test item 1", 2, 1068),
                 line(2, "KE1NTXU0000013", "test item 2", 1, 534)],
}
CREDIT = {
    **SALE, "trdInvcNo": "50041", "invcNo": 4578, "orgInvcNo": 0, "custTin": "A123456789Z",
    "rcptTyCd": "R", "salesSttsCd": "05", "cfmDt": "20200127210300", "salesDt": "20200127",
    "stockRlsDt": "20200127210300", "cnclReqDt": "20250711101207", "cnclDt": "20250711101207",
    "rfdDt": "20250711101207", "rfdRsnCd": "06",
    "receipt": {**SALE["receipt"], "custTin": "A123456789Z", "rcptPbctDt": "20201118120300"},
    "itemList": [line(1, "KE1NTXU0000013", "test item 1", 2, 1068),
                 line(2, "KE1NTXU0000014", "test item 2", 1, 534)],
}
_PURCHASE_LINE = {"bcd": "", "spplrItemClsCd": None, "spplrItemCd": None, "spplrItemNm": None,
                  "itemExprDt": None}
PURCHASE = {
    "invcNo": 1, "orgInvcNo": 0, "spplrTin": "A123456789Z", "spplrBhfId": None,
    "spplrNm": None, "spplrInvcNo": None, "regTyCd": "M", "pchsTyCd": "N", "rcptTyCd": "P",
    "pmtTyCd": "01", "pchsSttsCd": "02", "cfmDt": "20200127210300", "pchsDt": "20200127",
    "wrhsDt": "", "cnclReqDt": "", "cnclDt": "", "rfdDt": "", "totItemCnt": 2, **BANDS0,
    "taxblAmtB": 10500, "taxRtB": 18, "taxAmtB": 1890, "totTaxblAmt": 10500,
    "totTaxAmt": 1890, "totAmt": 10500, "remark": None, **TAIL,
    "itemList": [
        {k: v for k, v in line(1, "KE1NTXU0000001", "test item1", 2, 1260,
                               **_PURCHASE_LINE).items() if not k.startswith("isrc")},
        {k: v for k, v in line(2, "KE1NTXU0000002", "test item2", 1, 630, "5022110801",
                               **_PURCHASE_LINE).items() if not k.startswith("isrc")},
    ],
}


def stock_line(seq: int, code: str, name: str, pkg_unit: str) -> dict[str, Any]:
    return {"itemSeq": seq, "itemCd": code, "itemClsCd": "5059690800", "itemNm": name,
            "bcd": None, "pkgUnitCd": pkg_unit, "pkg": 10, "qtyUnitCd": "U", "qty": 10,
            "itemExprDt": None, "prc": 3500, "splyAmt": 35000, "totDcAmt": 0,
            "taxblAmt": 35000, "taxTyCd": "B", "taxAmt": "5338.98", "totAmt": 35000}


STOCK_IO_TEXT = json.dumps({
    "tin": "A123456789Z", "cmcKey": "32523535225", "bhfId": "00", "sarNo": 2, "orgSarNo": 2,
    "regTyCd": "M", "custTin": "A123456789Z", "custNm": None, "custBhfId": None,
    "sarTyCd": "11", "ocrnDt": "20200126", "totItemCnt": 2, "totTaxblAmt": 70000,
    "totTaxAmt": "10677.96", "totAmt": 70000, "remark": None, **TAIL,
    "itemList": [stock_line(1, "KE1NTXU0000001", "test item1", "NT"),
                 stock_line(2, "KE1NTXU0000002", "test item2", "BL")],
}).replace('"5338.98"', "5338.98").replace('"10677.96"', "10677.96")  # numbers, as printed
STOCK_MASTER = {"itemCd": "KE1NTXU0000002", "rsdQty": 10, **TAIL}
POS_SETUP = {
    "company_name": "Pump 1", "kra_pin": "43653474575688", "integration_token": "5654645654",
    "callback_url": "https//example.com/callback", "type": "QuickBooks", "branch_id": "00",
    "dvc_srl_no": "1", "cmcKey": "optional_if_device_has_not_been_initialized",
}


# -- harness ---------------------------------------------------------------------------


def form(multipart: bool = True, **fields: Any) -> aiohttp.FormData:
    """`curl --form` fields: documents as JSON strings inside a field."""
    data = aiohttp.FormData(default_to_multipart=multipart)
    for name, value in fields.items():
        data.add_field(name, value if isinstance(value, str) else json.dumps(value))
    return data


class Kra:
    """A client of one sandbox: the test user's token and one POS's client credentials."""

    def __init__(self, sandbox: KraAgentSandbox, session: aiohttp.ClientSession) -> None:
        self.sandbox, self.session = sandbox, session
        self.token = self.refresh_token = ""
        self.client: dict[str, str] = {}

    async def call(self, method: str, path: str, *, auth: str | None = "bearer",
                   client: bool = True, headers: dict[str, str] | None = None,
                   **kwargs: Any) -> Reply:
        sent = {"Accept": "application/json", **(headers or {})}
        if client and self.client:
            sent.update(self.client)
        if auth == "bearer":
            sent["Authorization"] = f"Bearer {self.token}"
        elif auth == "bare":
            sent["Authorization"] = self.token
        async with self.session.request(method, self.sandbox.base_url + path, headers=sent,
                                        **kwargs) as response:
            body = await response.json() if "json" in response.content_type else await response.text()
            return response.status, body, response.headers

    async def login(self, email: str = DEFAULT_EMAIL, password: str = DEFAULT_PASSWORD) -> Any:
        status, body, _ = await self.call("POST", "/auth/login", auth=None, client=False,
                                          data=form(email=email, password=password))
        assert status == 200, body
        self.token, self.refresh_token = body["data"]["access_token"], body["data"]["refresh_token"]
        return body

    async def setup_pos(self, **changes: str) -> Any:
        status, body, _ = await self.call("POST", "/pos/setup", client=False,
                                          data=form(**{**POS_SETUP, **changes}))
        assert status == 200, body
        self.client = {"Client-ID": body["data"]["clientId"],
                       "Client-Secret": body["data"]["clientSecret"]}
        return body

    async def ready(self, products: bool = True) -> Kra:
        await self.login()
        await self.setup_pos()
        if products:
            status, body, _ = await self.call("POST", "/productSave", auth=None,
                                              data=form(products=PRODUCTS, requestID="p-1"))
            assert status == 200, body
        return self

    async def sale(self, doc: dict[str, Any], request_id: str, **kwargs: Any) -> Reply:
        return await self.call("POST", "/sale", auth=None,
                               data=form(sales=doc, requestID=request_id, **kwargs))

    async def credit(self, doc: dict[str, Any], request_id: str) -> Reply:
        return await self.call("POST", "/saveTrnsSalesOsdc",
                               data=form(otp_code="OTP_TOKEN", requestID=request_id, sales=doc))

    async def control(self, method: str, route: str, **kwargs: Any) -> Any:
        async with self.session.request(method, f"{self.sandbox.control_url}{route}",
                                        **kwargs) as response:
            assert response.status == 200, await response.text()
            return await response.json()


def run(data_dir: Path, body: Callable[[Kra], Awaitable[None]]) -> None:
    async def with_client(sandbox: KraAgentSandbox, session: aiohttp.ClientSession) -> None:
        await body(Kra(sandbox, session))

    run_sandbox(KraAgentSandbox, data_dir, with_client)


def same_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """Same keys recursively and same JSON types; null in the seed matches anything; list
    items are compared with the seed's last item (the fullest in its examples)."""
    if expected is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        assert list(actual) == list(expected) or set(actual) == set(expected), (
            f"{path}: keys {sorted(set(actual) ^ set(expected))} differ")
        for key, value in expected.items():
            same_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
        for index, item in enumerate(actual):
            if expected:
                same_shape(item, expected[-1], f"{path}[{index}]")
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} is not like {expected!r}"


def ok(reply: Reply) -> Any:
    status, body, _ = reply
    assert status == 200, body
    assert body["status"] is True
    return body


def refused(reply: Reply, status: int) -> Any:
    got, body, _ = reply
    assert got == status, body
    assert body["status"] is False and isinstance(body["message"], str)
    return body


# -- the seed's examples, one by one ---------------------------------------------------


def test_auth_examples_answer_like_the_seed(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        answer = ok(await kra.call("POST", "/auth/register", auth=None, client=False, data=form(
            organization_name="Test Organization", email="new@example.com",
            password="Test@123_*25")))
        same_shape(answer, fixture("auth_register"))
        assert answer["data"]["user_id"] == 8 and answer["data"]["user"]["name"] == "Test Organization"
        login = await kra.login()
        same_shape(login, fixture("auth_login"))
        assert login["data"]["user"] == {"id": 7, "name": "Test Organization", "email": DEFAULT_EMAIL}
        again = ok(await kra.call("POST", "/auth/refresh-token", auth=None, client=False,
                                  data=form(refresh_token=kra.refresh_token)))
        same_shape(again, fixture("auth_login"))  # the seed shows none: we answer like login
        forgot = ok(await kra.call("POST", "/auth/forgot-password", auth=None, client=False,
                                   data=form(email="new@example.com")))
        assert forgot == fixture("auth_forgot-password")
        otp = kra.sandbox.reset_token("new@example.com")
        assert otp is not None and len(otp) == 6
        reset = ok(await kra.call("POST", "/auth/reset-password", auth=None, client=False,
                                  data=form(email="new@example.com", token=otp,
                                            password="password", password_confirmation="password")))
        assert reset == fixture("auth_reset-password")
        await kra.login("new@example.com", "password")
        # A used OTP, a wrong one, a mismatch: 422 naming the field.
        for token, confirmation, field in ((otp, "password", "token"), ("1", "x", "password")):
            body_ = refused(await kra.call("POST", "/auth/reset-password", auth=None, client=False,
                                           data=form(email="new@example.com", token=token,
                                                     password="password",
                                                     password_confirmation=confirmation)), 422)
            assert field in body_["errors"]
        refused(await kra.call("POST", "/auth/register", auth=None, client=False, data=form(
            organization_name="X", email="NEW@example.com", password="p")), 422)
        bad = refused(await kra.call("POST", "/auth/login", auth=None, client=False,
                                     data=form(email=DEFAULT_EMAIL, password="wrong")), 401)
        assert bad == {"status": False, "message": "Invalid credentials."}
        missing = refused(await kra.call("POST", "/auth/login", auth=None, client=False,
                                         data=form(email=DEFAULT_EMAIL)), 422)
        assert missing["errors"] == {"password": ["The password field is required."]}

    run(tmp_path, body)


def test_pos_and_device_examples_answer_like_the_seed(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.login()
        setup = await kra.setup_pos()
        same_shape(setup, fixture("pos_setup"))
        second = ok(await kra.call("POST", "/pos/setup", client=False, data=form(
            **{**POS_SETUP, "company_name": "Test Organization Two", "dvc_srl_no": "6786688"})))
        assert second["data"]["clientId"] != setup["data"]["clientId"]
        # The same PIN, branch and serial again is the same POS (set up again after a 401).
        again = ok(await kra.call("POST", "/pos/setup", client=False, data=form(**POS_SETUP)))
        assert again == setup
        index = ok(await kra.call("GET", "/pos/index", client=False))
        same_shape(index, fixture("pos_index"))
        assert [p["id"] for p in index["data"]["pos"]] == [4, 5]
        assert index["data"]["pos"][0]["cmcKey"] == "" and index["data"]["pos"][0]["branch_id"] == "00"
        # Update: the seed's curl posts to /pos/setup with pos_id; /pos/setup/update works too.
        update = {**POS_SETUP, "pos_id": "4", "kra_pin": "P051543892Q"}
        for path in ("/pos/setup", "/pos/setup/update"):
            answer = ok(await kra.call("POST", path, client=False, data=form(**update)))
            same_shape(answer, fixture("pos_setup_update"))
            assert answer["data"]["pos"]["kra_pin"] == "P051543892Q"
            assert answer["data"]["pos"]["client_id"] == setup["data"]["clientId"]
        refused(await kra.call("POST", "/pos/setup/update", client=False,
                               data=form(**{**update, "pos_id": "99"})), 404)
        # The device: Client-ID, Client-Secret and the bare token, as the seed shows.
        device = ok(await kra.call("POST", "/selectInitOsdcInfo", auth="bare"))
        expected = fixture("selectInitOsdcInfo")
        same_shape(device, expected)
        same_shape(json.loads(device["device"]["responseFromKRA"]),
                   json.loads(expected["device"]["responseFromKRA"]))
        assert device["message"] == "Device verified successfully"
        assert len(device["device"]["dvcId"]) == 16 and device["device"]["cmcKey"]
        again = ok(await kra.call("POST", "/selectInitOsdcInfo", auth="bearer"))
        assert again["device"]["cmcKey"] == device["device"]["cmcKey"]
        # /pos/* need the token; the device needs client credentials and the token.
        refused(await kra.call("GET", "/pos/index", auth=None, client=False), 401)
        refused(await kra.call("POST", "/selectInitOsdcInfo", auth=None), 401)
        kra.client["Client-Secret"] = "wrong"
        assert refused(await kra.call("POST", "/selectInitOsdcInfo"), 401)["message"] == (
            "Invalid client credentials.")

    run(tmp_path, body)


def test_product_examples_answer_like_the_seed(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready(products=False)
        saved = ok(await kra.call("POST", "/productSave", auth=None, data=form(
            products=PRODUCTS, requestID="UNIQUE_REQUEST_ID")))
        assert saved == fixture("productSave")
        listing = ok(await kra.call("GET", "/productGet"))
        same_shape(listing, fixture("productGet"))
        first = listing["data"]["products"][0]
        assert first["product_id"] == 13 and first["tin"] == POS_SETUP["kra_pin"]
        assert first["dftPrc"] == 2900 and first["itemCd"] == "KE1NTXU0000013"
        shown = ok(await kra.call("GET", "/productShow?product_id=13&itemCode=null", auth="bare"))
        same_shape(shown, fixture("productShow"))
        assert shown["data"]["product"] == first
        by_code = ok(await kra.call("GET", "/productShow?itemCode=KE1NTXU0000015", auth="bare"))
        assert by_code["data"]["product"]["product_id"] == 15
        refused(await kra.call("GET", "/productShow?product_id=99"), 404)
        classes = ok(await kra.call("GET", "/selectItemClsList", auth="bare"))
        same_shape(classes, fixture("selectItemClsList"))
        # Saving again updates (same product_id), nothing new.
        changed = {"products": [{**product("KE1NTXU0000013"), "dftPrc": 3100}]}
        ok(await kra.call("POST", "/productSave", auth=None,
                          data=form(products=changed, requestID="r2")))
        products = kra.sandbox.records()["products"]
        assert [p["product_id"] for p in products] == [13, 14, 15]
        assert products[0]["fields"]["dftPrc"] == 3100 and products[0]["request_id"] == "r2"
        # Items belong to the PIN + branch: another till of the shop finds them registered.
        await kra.setup_pos(dvc_srl_no="2")
        assert len(ok(await kra.call("GET", "/productGet"))["data"]["products"]) == 3
        ok(await kra.sale(SALE, "other-till"))
        bad = refused(await kra.call("POST", "/productSave", auth=None, data=form(
            products={"products": [{**product("X1"), "taxTyCd": "Z", "itemNm": ""}]})), 422)
        assert set(bad["errors"]) == {"products.0.taxTyCd", "products.0.itemNm"}

    run(tmp_path, body)


def test_sale_and_credit_note_examples_answer_like_the_seed(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        sale = ok(await kra.sale(SALE, "346656867967"))
        same_shape(sale, fixture("sale"))
        assert sale["sale_id"] == 1056138 and sale["kra_res"]["invoiceNo"] == 101
        assert sale["kra_res"]["statusFromKRA"] == "completed"
        url = sale["kra_res"]["invoice_checker_url"]
        assert url.startswith(kra.sandbox.origin + "/kra-agent/sale/invoice-checker/")
        shown = ok(await kra.call("GET", f"/saleShow?sale_id={sale['sale_id']}"))
        expected = fixture("saleShow")
        same_shape(shown, expected)
        view, seed_view = shown["data"]["sale"][0], expected["data"]["sale"][0]
        for key in (*(k for k in seed_view if k.startswith(("taxblAmt", "taxRt", "taxAmt", "tot"))),
                    "trdInvcNo", "invcNo", "orgInvcNo", "salesDt", "cfmDt", "receipt"):
            assert view[key] == seed_view[key], key
        assert view["tin"] == POS_SETUP["kra_pin"] and view["sale_id"] == 1056138
        assert [i["totAmt"] for i in view["salesItems"]] == ["7000.00", "3500.00"]
        assert view["kra_response"]["invoice_checker_url"] == url
        assert json.loads(view["kra_response"]["kraRawData"])["data"]["data"]["curRcptNo"] == 1
        # The credit-note example as printed: orgInvcNo 0 is no sale of this POS.
        printed = refused(await kra.credit(CREDIT, "request_id_string"), 422)
        assert "sales.orgInvcNo" in printed["errors"]
        # ... and item KE1NTXU0000014 was not on sale 101.
        no_item = refused(await kra.credit({**CREDIT, "orgInvcNo": 101}, "request_id_string"), 422)
        assert set(no_item["errors"]) == {"sales.itemList.1.itemCd"}
        credit = {**CREDIT, "orgInvcNo": 101,
                  "itemList": [CREDIT["itemList"][0],
                               {**CREDIT["itemList"][1], "itemCd": "KE1NTXU0000013"}]}
        note = ok(await kra.credit(credit, "request_id_string"))
        same_shape(note, fixture("saveTrnsSalesOsdc"))
        assert note["sale_id"] == 1056139 and note["kra_res"]["invoiceNo"] == 4578
        listing = ok(await kra.call("GET", "/saleGet?from=2020-01-01&to=2025-12-31"))
        seed_list = fixture("saleGet")
        same_shape(listing, {"status": True, "data": {"sales": []}})
        by_id = {s["sale_id"]: s for s in listing["data"]["sales"]}
        seed_credit = seed_list["data"]["sales"][0]
        same_shape(by_id[1056139], seed_credit)  # the seed's listed sale is a credit note
        same_shape(by_id[1056138], seed_view)
        for key in (*(k for k in seed_credit if k.startswith(("taxblAmt", "taxRt", "taxAmt", "tot"))),
                    "trdInvcNo", "invcNo", "rcptTyCd", "rfdRsnCd", "cnclDt"):
            assert by_id[1056139][key] == seed_credit[key], key
        assert by_id[1056139]["orgInvcNo"] == 101
        only_2020 = ok(await kra.call("GET", "/saleGet?from=2020-01-01&to=2020-12-31", auth="bare"))
        assert [s["sale_id"] for s in only_2020["data"]["sales"]] == [1056139]
        refused(await kra.call("GET", "/saleGet?from=01-05-2025"), 422)
        summary = ok(await kra.call("GET", "/sale/summaryGet"))
        same_shape(summary, fixture("sale_summaryGet"))
        assert summary["data"] == {"submitted_invoices": 1, "total_invoices": "0.00",
                                   "pending_invoices": 0, "cancelled_invoices": 1,
                                   "total_invoices_str": "Kshs 0.00"}
        async with kra.session.get(url) as page:
            assert page.status == 200 and page.content_type == "text/html"
            assert "Tax invoice 101" in await page.text()
        async with kra.session.get(kra.sandbox.origin + "/kra-agent/sale/invoice-checker/x") as page:
            assert page.status == 404
        refused(await kra.call("GET", "/saleShow?sale_id=5"), 404)

    run(tmp_path, body)


def test_purchase_and_stock_examples_answer_like_the_seed(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        # As printed: `--form` data under `Content-Type: application/json` (no boundary).
        boundary = "------------------------d74496d66958873e"
        raw = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"lastReqDt\"\r\n\r\n"
               f"20240101000000\r\n--{boundary}--\r\n")
        synced = ok(await kra.call("POST", "/selectTrnsPurchaseSalesList", auth="bare",
                                   data=raw.encode(),
                                   headers={"Content-Type": "application/json"}))
        assert synced == fixture("selectTrnsPurchaseSalesList")
        later = ok(await kra.call("POST", "/selectTrnsPurchaseSalesList", auth="bare",
                                  data=form(lastReqDt="20250101000000")))
        assert later["data"] == []
        refused(await kra.call("POST", "/selectTrnsPurchaseSalesList", data=form(lastReqDt="Ymdhis")),
                422)
        bought = ok(await kra.call("POST", "/insertTrnsPurchase", auth=None,
                                   data=form(requestID="request_id_string", data=PURCHASE)))
        assert bought == fixture("insertTrnsPurchase")
        stock = ok(await kra.call("POST", "/insertStockIO", auth=None,
                                  data=form(requestID="request_id_string", data=STOCK_IO_TEXT)))
        assert stock == fixture("insertStockIO")
        master = ok(await kra.call("POST", "/saveStockMaster", auth=None,
                                   data=form(data=STOCK_MASTER, requestID="request_id_string")))
        assert master == fixture("saveStockMaster")
        listing = ok(await kra.call("GET", "/stockGet", auth="bare"))
        expected = fixture("stockGet")
        same_shape(listing, expected)
        got, seed = listing["data"]["list"][0], expected["data"]["list"][1]
        assert {k: v for k, v in got.items() if not k.startswith(("id", "lastUpdated"))} == {
            k: v for k, v in seed.items() if not k.startswith(("id", "lastUpdated"))
            and k != "itemList"} | {"itemList": got["itemList"]}
        assert [{k: v for k, v in i.items() if k != "id"} for i in got["itemList"]] == [
            {k: v for k, v in i.items() if k != "id"} for i in seed["itemList"]]
        records = kra.sandbox.records()
        assert records["purchases"][0]["purchase_id"] == 20006
        assert records["stock_io"][0]["request_id"] == "request_id_string"
        assert records["stock_master"][0]["data"]["rsdQty"] == 10
        # The stock lines must add up to the totals.
        wrong = json.loads(STOCK_IO_TEXT)
        wrong["totTaxAmt"] = 10000
        bad = refused(await kra.call("POST", "/insertStockIO", auth=None,
                                     data=form(data=wrong, requestID="s2")), 422)
        assert set(bad["errors"]) == {"data.totTaxAmt"}

    run(tmp_path, body)


# -- rules the utility depends on -------------------------------------------------------


def test_tokens_are_jwt_shaped_expire_and_refresh_once(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        header, payload, signature = kra.token.split(".")
        decoded = [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
                   for part in (header, payload)]
        assert decoded[0] == {"typ": "JWT", "alg": "HS256"}
        claims = decoded[1]
        assert claims["sub"] == "7" and claims["exp"] > time.time() + 3000 and signature
        assert await kra.control("POST", "/token_lifetime", json={"seconds": 1}) == {"seconds": 1.0}
        await kra.login()
        ok(await kra.call("GET", "/saleGet"))
        await asyncio.sleep(1.1)
        expired = refused(await kra.call("GET", "/saleGet"), 401)
        assert expired == {"status": False, "message": "Token expired"}
        old_refresh = kra.refresh_token
        fresh = ok(await kra.call("POST", "/auth/refresh-token", auth=None, client=False,
                                  data=form(refresh_token=old_refresh)))
        kra.token = fresh["data"]["access_token"]
        ok(await kra.call("GET", "/saleGet", auth="bare"))
        for token in (old_refresh, "never-issued"):
            used = refused(await kra.call("POST", "/auth/refresh-token", auth=None, client=False,
                                          data=form(refresh_token=token)), 401)
            assert used["message"] == "Invalid refresh token."
        kra.token = kra.token[:-2] + ("AA" if not kra.token.endswith("AA") else "BB")
        assert refused(await kra.call("GET", "/saleGet"), 401)["message"] == "Invalid token"
        # Another user's token does not open this POS.
        kra.sandbox.add_user("Other", "other@example.com", "pw")
        await kra.login("other@example.com", "pw")
        refused(await kra.call("GET", "/saleGet"), 401)
        # /sale needs only the client credentials.
        ok(await kra.sale(SALE, "no-token"))

    run(tmp_path, body)


def test_request_id_replays_the_first_answer_and_duplicates_are_409(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        kra.sandbox.faults.drop_next = 1
        with pytest.raises(aiohttp.ServerDisconnectedError):  # handled, answer lost
            await kra.sale(SALE, "pos1-7-sale")
        first = ok(await kra.sale(SALE, "pos1-7-sale"))
        assert first["sale_id"] == 1056138
        assert ok(await kra.sale(SALE, "pos1-7-sale")) == first
        assert len(kra.sandbox.records()["sales"]) == 1
        assert kra.sandbox.records()["sales"][0]["request_id"] == "pos1-7-sale"
        assert kra.sandbox.received_count("sale", 1414) == 3
        assert kra.sandbox.recorded_count("sale", "1414") == 1
        assert kra.sandbox.recorded_count("credit_note", "1414") == 0
        duplicate = refused(await kra.sale(SALE, "another-id"), 409)
        assert duplicate["message"].startswith("Duplicate trdInvcNo 1414")
        same_invoice_no = refused(await kra.sale({**SALE, "trdInvcNo": 1415}, "third-id"), 409)
        assert same_invoice_no["message"].startswith("Duplicate invcNo 101")
        # A refused request is not remembered: fixed, the same requestID goes through.
        broken = {**SALE, "trdInvcNo": 1416, "invcNo": 102, "taxAmtB": 1000}
        refused(await kra.sale(broken, "pos1-8-sale"), 422)
        fixed = ok(await kra.sale({**broken, "taxAmtB": 1602}, "pos1-8-sale"))
        assert fixed["sale_id"] == 1056139
        # Product and stock requests replay too.
        again = ok(await kra.call("POST", "/productSave", auth=None,
                                  data=form(products=PRODUCTS, requestID="p-1")))
        assert again["data"][0]["item_cd"] == "KE1NTXU0000013"
        assert kra.sandbox.received_count("product", "KE1NTXU0000013") == 2
        for _ in range(2):
            stock = ok(await kra.call("POST", "/insertStockIO", auth=None,
                                      data=form(requestID="st-1", data=STOCK_IO_TEXT)))
            assert stock["stock_id"] == 5
        assert len(kra.sandbox.records()["stock_io"]) == 1

    run(tmp_path, body)


def test_sale_arithmetic_and_registration_are_checked(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready(products=False)
        unknown = refused(await kra.sale(SALE, "r1"), 422)
        assert set(unknown["errors"]) == {"sales.itemList.0.itemCd", "sales.itemList.1.itemCd"}
        assert "KE1NTXU0000013 is not registered" in unknown["message"]
        ok(await kra.call("POST", "/productSave", auth=None, data=form(products=PRODUCTS)))
        cases = {
            "sales.taxAmtB": {"taxAmtB": 1000, "totTaxAmt": 1000},
            "sales.totTaxblAmt": {"totTaxblAmt": 10000},
            "sales.totTaxAmt": {"totTaxAmt": 1600},
            "sales.taxblAmtB": {"taxblAmtB": 10000, "totTaxblAmt": 10000, "totAmt": 10000,
                                "taxAmtB": 1525, "totTaxAmt": 1525},
            "sales.totItemCnt": {"totItemCnt": 3},
            "sales.totAmt": {"totAmt": 9000},
            "sales.salesDt": {"salesDt": "2025-07-16"},
        }
        for field, change in cases.items():
            bad = refused(await kra.sale({**SALE, **change}, f"bad-{field}"), 422)
            assert field in bad["errors"], (field, bad)
        wrong_line = {**SALE, "itemList": [{**SALE["itemList"][0], "taxAmt": 2000},
                                           SALE["itemList"][1]]}
        bad = refused(await kra.sale(wrong_line, "bad-line"), 422)
        assert set(bad["errors"]) == {"sales.itemList.0.taxAmt"}
        not_json = refused(await kra.call("POST", "/sale", auth=None,
                                          data=form(sales="{not json", requestID="x")), 422)
        assert not_json["errors"] == {"sales": ["The sales field must be a valid JSON string."]}
        # Within a shilling of the exact tax: accepted; tax-exclusive figures too (urlencoded).
        ok(await kra.sale({**SALE, "taxAmtB": 1601, "totTaxAmt": 1601}, "near"))
        exclusive = {**SALE, "trdInvcNo": 2, "invcNo": 2, "taxAmtB": 1890, "totTaxAmt": 1890,
                     "totAmt": 12390,
                     "itemList": [{**SALE["itemList"][0], "taxAmt": 1260, "totAmt": 8260},
                                  {**SALE["itemList"][1], "taxAmt": 630, "totAmt": 4130}]}
        ok(await kra.call("POST", "/sale", auth=None,
                          data=form(multipart=False, sales=exclusive, requestID="excl")))
        assert [s["invcNo"] for s in kra.sandbox.records()["sales"]] == [101, 2]

    run(tmp_path, body)


def test_credit_notes_may_not_exceed_the_original(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        two_items = {**SALE, "itemList": [SALE["itemList"][0],
                                          {**SALE["itemList"][1], "itemCd": "KE1NTXU0000014"}]}
        ok(await kra.sale(two_items, "s1"))

        def credit(number: int, qty: int, code: str = "KE1NTXU0000013") -> dict[str, Any]:
            amount, tax = 3500 * qty, round(3500 * qty * 18 / 118)
            return {**CREDIT, "trdInvcNo": f"CN{number}", "invcNo": 5000 + number,
                    "orgInvcNo": 101, "totItemCnt": 1, "taxblAmtB": amount, "taxAmtB": tax,
                    "totTaxblAmt": amount, "totTaxAmt": tax, "totAmt": amount,
                    "itemList": [line(1, code, "test item", qty, tax)]}

        ok(await kra.credit(credit(1, 1), "c1"))
        too_many = refused(await kra.credit(credit(2, 2), "c2"), 422)
        assert set(too_many["errors"]) == {"sales.itemList.0.qty"}
        ok(await kra.credit(credit(3, 1), "c3"))
        refused(await kra.credit(credit(4, 1), "c4"), 422)  # item 13: all credited now
        ok(await kra.credit(credit(5, 1, "KE1NTXU0000014"), "c5"))
        other = refused(await kra.credit(credit(6, 1, "KE1NTXU0000015"), "c6"), 422)
        assert set(other["errors"]) == {"sales.itemList.0.itemCd"}
        nowhere = refused(await kra.credit({**credit(7, 1), "orgInvcNo": 999}, "c7"), 422)
        assert set(nowhere["errors"]) == {"sales.orgInvcNo"}
        as_sale = refused(await kra.credit({**credit(8, 1), "rcptTyCd": "S"}, "c8"), 422)
        assert "sales.rcptTyCd" in as_sale["errors"]
        # Credit notes number on their own: a credit note may reuse a sale's trdInvcNo.
        ok(await kra.sale({**SALE, "trdInvcNo": 1500, "invcNo": 102}, "s2"))
        ok(await kra.credit({**credit(10, 1), "trdInvcNo": 1414, "orgInvcNo": 102}, "c10"))
        refused(await kra.credit({**credit(11, 1), "trdInvcNo": 1414, "orgInvcNo": 102}, "c11"),
                409)
        assert kra.sandbox.recorded_count("credit_note", 1414) == 1
        notes = kra.sandbox.records()["credit_notes"][:3]
        assert [(n["trdInvcNo"], n["original_sale_id"]) for n in notes] == [
            ("CN1", 1056138), ("CN3", 1056138), ("CN5", 1056138)]
        # The credit-note endpoint needs the token, /sale does not.
        refused(await kra.call("POST", "/saveTrnsSalesOsdc", auth=None,
                               data=form(sales=credit(9, 1), requestID="c9")), 401)

    run(tmp_path, body)


def test_pending_sales_complete_on_the_nth_show_or_after_seconds(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        kra.sandbox.set_pending_sales(1, after_shows=2)
        sale = ok(await kra.sale(SALE, "s1"))
        assert sale["kra_res"]["statusFromKRA"] == "not_completed"
        statuses = []
        for _ in range(2):
            shown = ok(await kra.call("GET", f"/saleShow?sale_id={sale['sale_id']}"))
            statuses.append(shown["data"]["sale"][0]["kra_response"]["statusFromKRA"])
        assert statuses == ["not_completed", "completed"]
        plan = await kra.control("POST", "/pending_sales", json={"count": 1, "after_seconds": 0.3})
        assert plan == {"count": 1, "after_seconds": 0.3, "after_shows": None}
        second = ok(await kra.sale({**SALE, "trdInvcNo": 2, "invcNo": 2}, "s2"))
        assert second["kra_res"]["statusFromKRA"] == "not_completed"
        summary = ok(await kra.call("GET", "/sale/summaryGet"))
        assert summary["data"]["pending_invoices"] == 1
        await asyncio.sleep(0.35)
        listing = ok(await kra.call("GET", "/saleGet"))
        assert [s["kra_response"]["statusFromKRA"] for s in listing["data"]["sales"]] == [
            "completed", "completed"]
        third = ok(await kra.sale({**SALE, "trdInvcNo": 3, "invcNo": 3}, "s3"))
        assert third["kra_res"]["statusFromKRA"] == "completed"  # the plan was for one

    run(tmp_path, body)


# -- faults --------------------------------------------------------------------------


def test_each_fault_kind(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        faults = await kra.control("POST", "/faults", json={"fail_next": 1})
        assert faults["fail_next"] == 1
        assert refused(await kra.sale(SALE, "s1"), 500) == {"status": False, "message": "Server Error"}
        await kra.control("POST", "/faults", json={"rate_limit_next": 1, "retry_after": 1.2})
        status, _, headers = await kra.sale(SALE, "s1")
        assert status == 429 and headers["Retry-After"] == "2"
        kra.sandbox.faults.unauthorized_next = 1
        assert refused(await kra.sale(SALE, "s1"), 401)["message"] == "Unauthenticated."
        kra.sandbox.faults.reject_next = 1
        refused(await kra.sale(SALE, "s1"), 422)
        kra.sandbox.faults.chaos = {"reset": 1.0}
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await kra.sale(SALE, "s1")
        kra.sandbox.faults.chaos = {}
        assert kra.sandbox.records()["sales"] == []
        assert kra.sandbox.received_count("sale", "1414") == 5
        # Faults touch the API only: the control port and the receipt page are spared.
        kra.sandbox.faults.fail_next = 1
        status_page = await kra.control("GET", "")
        assert status_page["faults"]["fail_next"] == 1
        kra.sandbox.faults.fail_next = 0
        kra.sandbox.faults.apply({"delay": 0.3, "delay_next": 1})
        started = time.monotonic()
        sale = ok(await kra.sale(SALE, "s1"))
        assert time.monotonic() - started >= 0.3
        kra.sandbox.faults.fail_next = 1
        async with kra.session.get(sale["kra_res"]["invoice_checker_url"]) as page:
            assert page.status == 200
        assert kra.sandbox.faults.fail_next == 1
        kra.sandbox.faults.reset()
        # Down: connections refused, then back on the same port.
        for reply in await down_and_back(kra.sandbox, kra.session,
                                         lambda: kra.call("GET", "/saleGet")):
            ok(reply)
        async with kra.session.post(f"{kra.sandbox.control_url}/faults",
                                    json={"fail_next": -1}) as bad:
            assert bad.status == 400
        # Plain HTTP is refused for the API.
        async with kra.session.post(f"http://127.0.0.1:{kra.sandbox.http_port}/kra-agent/api/v1/sale") as r:
            assert r.status == 403

    run(tmp_path, body)


def test_control_status_and_records(tmp_path: Path) -> None:
    async def body(kra: Kra) -> None:
        await kra.ready()
        ok(await kra.sale(SALE, "req-1"))
        status = await kra.control("GET", "")
        assert status["base_url"] == kra.sandbox.base_url
        assert status["base_url"].endswith("/kra-agent/api/v1")
        assert status["connections_seen"] >= 3  # force_close: one connection per request
        assert status["requests"] == {"/auth/login": 1, "/pos/setup": 1, "/productSave": 1,
                                      "/sale": 1}
        assert status["token_lifetime"] == 3600.0
        records = await kra.control("GET", "/records")
        assert records["sales"][0]["request_id"] == "req-1"
        assert records["sales"][0]["sales"]["taxAmtB"] == 1602
        assert [p["request_id"] for p in records["products"]] == ["p-1"] * 3
        pos = await kra.control("POST", "/pos", json={"kra_pin": "P000000001A"})
        assert pos["kra_pin"] == "P000000001A" and pos["client_id"] and pos["client_secret"]
        kra.client = {"Client-ID": pos["client_id"], "Client-Secret": pos["client_secret"]}
        assert ok(await kra.call("GET", "/productGet"))["data"]["products"] == []
        for route, change in (("/token_lifetime", {"seconds": 0}),
                              ("/pending_sales", {"count": -1}), ("/down", {"down": "yes"})):
            async with kra.session.post(f"{kra.sandbox.control_url}{route}", json=change) as r:
                assert r.status == 400 and "error" in await r.json()
        ok(await kra.call("POST", "/auth/forgot-password", auth=None, client=False,
                          data=form(email=DEFAULT_EMAIL)))
        otp = await kra.control("GET", f"/reset_token?email={DEFAULT_EMAIL}")
        assert otp["token"] == kra.sandbox.reset_token(DEFAULT_EMAIL)
        unknown = refused(await kra.call("GET", "/nowhere"), 404)
        assert "could not be found" in unknown["message"]
        refused(await kra.call("GET", "/sale"), 405)

    run(tmp_path, body)


def test_restart_keeps_records_accounts_and_answers(tmp_path: Path) -> None:
    async def first(kra: Kra) -> None:
        await kra.ready()
        ok(await kra.sale(SALE, "req-1"))
        (tmp_path / "client.json").write_text(json.dumps([kra.client, kra.token]))

    async def second(kra: Kra) -> None:
        kra.client, kra.token = json.loads((tmp_path / "client.json").read_text())
        assert ok(await kra.sale(SALE, "req-1"))["sale_id"] == 1056138  # replayed
        ok(await kra.call("GET", "/saleShow?sale_id=1056138"))  # the token is still good
        nxt = ok(await kra.sale({**SALE, "trdInvcNo": 2, "invcNo": 2}, "req-2"))
        assert nxt["sale_id"] == 1056139
        refused(await kra.sale(SALE, "req-3"), 409)
        records = kra.sandbox.records()
        assert [s["request_id"] for s in records["sales"]] == ["req-1", "req-2"]
        assert len(records["products"]) == 3
        assert kra.sandbox.received_count("sale", 1414) == 3
        await kra.login()

    run(tmp_path, first)
    run(tmp_path, second)


def test_cli_prints_urls_and_stops_when_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> None:
        task, (base, control_url, ca_file, account) = await start_command(
            run_kra_agent_sandbox(0, None, tmp_path), 4, capsys)
        assert base.startswith("https://127.0.0.1:") and base.endswith("/kra-agent/api/v1")
        assert account == f"{DEFAULT_EMAIL} / {DEFAULT_PASSWORD}"
        connector = aiohttp.TCPConnector(ssl=client_ssl(Path(ca_file)))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(base + "/auth/login", data=form(
                    email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD)) as response:
                assert response.status == 200
            async with session.get(control_url) as response:
                assert (await response.json())["requests"] == {"/auth/login": 1}
        await cancel_command(task)

    asyncio.run(main())
