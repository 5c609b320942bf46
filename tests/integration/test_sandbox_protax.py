"""The ProTax API v2 sandbox over real sockets: HTTPS with verification ON, and the control port.

Every request example of seed 004 is sent as its curl shows (the document's placeholder keys
are added as accepted keys; its invoice id inv_xyz789 is reserved for the first invoice), and
the answers are compared with the documented response examples kept verbatim in
tests/fixtures/protax/responses/ (same keys, recursively, and same JSON types).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.sandbox.cli import run_protax_sandbox
from app.sandbox.protax import DEFAULT_KEY, ProTaxSandbox
from tests.integration.sandbox_helpers import (
    cancel_command,
    client_ssl,
    down_and_back,
    run_sandbox,
    start_command,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protax" / "responses"
DOC_KEY = "ptx_test_your_key"  # the document's placeholder keys, sent as written
HEALTH_KEY = "ptx_test_your_key_here"
# The document's request bodies, verbatim.
DOC_INVOICE = (
    '{ "invoice_number": "INV-2026-001", "invoice_date": "2026-04-12", "customer_name": '
    '"Acme Ltd", "customer_pin": "P051234567A", "payment_type_code": "01", "sales_type_code": '
    '"N", "currency_code": "KES", "items": [ { "item_id": "itm_abc123", "quantity": 5, '
    '"unit_price": 10000, "tax_type_code": "A" } ] }'
)
DOC_CREDIT_NOTE = (
    '{ "original_invoice_id": "inv_xyz789", "reason": "Goods returned by customer" }'
)
DOC_ITEM = (
    '{ "item_name": "IT Consulting Services", "item_class_code": "99111002", '
    '"packaging_unit_code": "NX", "quantity_unit_code": "HUR", "tax_type_code": "A", '
    '"unit_price": 10000 }'
)
DOC_ITEM_UPDATE = '{ "unit_price": 12000 }'
DOC_ADJUSTMENT = (
    '{ "item_id": "itm_abc123", "adjustment_type": "IN", "quantity": 100, '
    '"adjustment_date": "2026-04-12", "unit_cost": 4500 }'
)
DOC_WEBHOOK = (
    '{ "url": "https://yourapp.co.ke/webhooks/protax", "events": ["invoice.signed", '
    '"invoice.rejected"], "secret": "your_webhook_secret" }'
)
INVOICE = json.loads(DOC_INVOICE)

Reply = tuple[int, Any, Any]
Body = Callable[[ProTaxSandbox, aiohttp.ClientSession], Awaitable[None]]


def run(data_dir: Path, body: Body, **kwargs: Any) -> None:
    run_sandbox(ProTaxSandbox, data_dir, body, **kwargs)


async def call(session: aiohttp.ClientSession, sandbox: ProTaxSandbox, method: str, path: str,
               body: Any = None, *, key: str | None = DEFAULT_KEY, raw: str | None = None,
               **kwargs: Any) -> Reply:
    """One API request; `raw` is sent as written (the document's -d text)."""
    headers = {} if key is None else {"X-API-Key": key}
    if raw is not None or body is not None:
        headers["Content-Type"] = "application/json"
        raw = raw if raw is not None else json.dumps(body)
    async with session.request(method, sandbox.base_url + path, data=raw, headers=headers,
                               **kwargs) as response:
        return response.status, await response.json(), response.headers


async def control(session: aiohttp.ClientSession, sandbox: ProTaxSandbox, method: str,
                  route: str = "", body: Any = None) -> Any:
    async with session.request(method, sandbox.control_url + route, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def same_shape(actual: Any, expected: Any, where: str = "$") -> None:
    """Same keys recursively and the same JSON types (an int stays an int)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(expected), (where, sorted(actual), sorted(expected))
        for name, value in expected.items():
            same_shape(actual[name], value, f"{where}.{name}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and actual, where
        for index, value in enumerate(actual):
            same_shape(value, expected[0], f"{where}[{index}]")
    else:
        assert type(actual) is type(expected), (where, actual, expected)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def error_of(reply: Reply, status: int, code: str) -> dict[str, Any]:
    got, payload, _ = reply
    assert got == status, payload
    assert set(payload["error"]) <= {"code", "message", "fields"}, payload
    assert payload["error"]["code"] == code and payload["error"]["message"], payload
    return payload


def invoice(number: str, *lines: tuple[str, Any, Any], **changes: Any) -> dict[str, Any]:
    items = [{"item_id": i, "quantity": q, "unit_price": p} for i, q, p in lines]
    return {**INVOICE, "invoice_number": number, "items": items or INVOICE["items"], **changes}


async def new_item(session: aiohttp.ClientSession, sandbox: ProTaxSandbox, name: str,
                   band: str = "A", price: Any = 100) -> str:
    body = {**json.loads(DOC_ITEM), "item_name": name, "tax_type_code": band, "unit_price": price}
    status, payload, _ = await call(session, sandbox, "POST", "/items", body)
    assert status == 201, payload
    return payload["id"]


# -- every request example of the document ----------------------------------------------


def test_every_documented_example_as_the_curl_shows(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        assert sandbox.base_url.startswith("https://127.0.0.1:")
        assert sandbox.base_url.endswith("/api/v2")
        sandbox.add_key(DOC_KEY)
        sandbox.add_key(HEALTH_KEY)
        sandbox.reserve_ids("inv_xyz789")

        status, health, _ = await call(session, sandbox, "GET", "/health", key=HEALTH_KEY)
        assert status == 200
        same_shape(health, fixture("health"))
        assert health["status"] == "ok" and health["version"] == "2.0.1"
        assert health["environment"] == "sandbox"
        assert health["kra_etims_status"] == "operational"

        status, signed, _ = await call(session, sandbox, "POST", "/invoices", key=DOC_KEY,
                                       raw=DOC_INVOICE)
        assert status == 201, signed
        same_shape(signed, fixture("create_invoice"))
        assert signed["totals"] == fixture("create_invoice")["totals"]
        assert signed["totals"] == {"subtotal": 50000, "tax_amount": 8000, "total": 58000}
        assert signed["id"] == "inv_xyz789" and signed["status"] == "SIGNED"
        assert signed["invoice_number"] == "INV-2026-001"
        assert signed["cuin"].startswith("KRA") and len(signed["cuin"]) == 17
        assert signed["signed_at"].endswith("Z")
        assert signed["qr_code_url"] == f"https://127.0.0.1:{sandbox.https_port}/qr/inv_xyz789"
        async with session.get(signed["qr_code_url"]) as page:
            assert page.status == 200 and page.content_type == "text/html"
            text = await page.text()
            assert signed["cuin"] in text and "58000" in text

        status, listing, _ = await call(session, sandbox, "GET", "/invoices", key=DOC_KEY)
        assert status == 200
        same_shape(listing, fixture("list_invoices"))
        assert listing["data"][0] == {
            "id": "inv_xyz789", "invoice_number": "INV-2026-001", "status": "SIGNED",
            "cuin": signed["cuin"], "total": 58000, "invoice_date": "2026-04-12"}
        assert listing["meta"] == {"total": 1, "page": 1, "per_page": 20, "total_pages": 1}

        status, one, _ = await call(session, sandbox, "GET", "/invoices/inv_xyz789", key=DOC_KEY)
        assert status == 200
        for name in ("id", "invoice_number", "status", "cuin", "signed_at", "totals"):
            assert one[name] == signed[name], name
        assert one["customer_pin"] == "P051234567A" and one["currency_code"] == "KES"
        assert one["items"] == [{
            "item_id": "itm_abc123", "item_name": "IT Consulting Services", "quantity": 5,
            "unit_price": 10000, "tax_type_code": "A", "tax_rate": 16, "subtotal": 50000,
            "tax_amount": 8000, "total": 58000}]
        assert one["kra_response"]["result_code"] == "000"

        status, note, _ = await call(session, sandbox, "POST", "/invoices/credit-note",
                                     key=DOC_KEY, raw=DOC_CREDIT_NOTE)
        assert status == 201, note
        assert note["id"].startswith("cn_") and note["status"] == "SIGNED"
        assert note["original_invoice_id"] == "inv_xyz789" and note["cuin"] != signed["cuin"]
        assert note["totals"] == {"subtotal": 50000, "tax_amount": 8000, "total": 58000}
        assert note["qr_code_url"].endswith(f"/qr/{note['id']}")
        status, again, _ = await call(session, sandbox, "GET", "/invoices/inv_xyz789")
        assert again["credit_notes"] == [note["id"]]

        status, items, _ = await call(session, sandbox, "GET", "/items", key=DOC_KEY)
        assert status == 200 and [i["id"] for i in items["data"]] == ["itm_abc123"]

        status, item, _ = await call(session, sandbox, "POST", "/items", key=DOC_KEY,
                                     raw=DOC_ITEM)
        assert status == 201, item
        assert item["id"].startswith("itm_") and item["id"] != "itm_abc123"
        assert {k: item[k] for k in json.loads(DOC_ITEM)} == json.loads(DOC_ITEM)

        status, updated, _ = await call(session, sandbox, "PUT", "/items/itm_abc123",
                                        key=DOC_KEY, raw=DOC_ITEM_UPDATE)
        assert status == 200, updated
        assert updated["unit_price"] == 12000 and updated["item_name"] == "IT Consulting Services"
        assert updated["tax_type_code"] == "A" and updated["quantity_unit_code"] == "HUR"

        # The invoice took 5 OUT, the credit note brought 5 back.
        status, stock, _ = await call(session, sandbox, "GET", "/stock?item_id=itm_abc123",
                                      key=DOC_KEY)
        assert status == 200
        assert stock["data"] == [{"item_id": "itm_abc123", "item_name": "IT Consulting Services",
                                  "quantity_unit_code": "HUR", "balance": 0}]

        status, moved, _ = await call(session, sandbox, "POST", "/stock/adjustment",
                                      key=DOC_KEY, raw=DOC_ADJUSTMENT)
        assert status == 201, moved
        assert moved["balance"] == 100 and moved["quantity"] == 100
        assert moved["unit_cost"] == 4500 and moved["adjustment_type"] == "IN"

        status, customer, _ = await call(session, sandbox, "GET", "/customers?pin=P051234567A",
                                         key=DOC_KEY)
        assert (status, customer["pin"], customer["name"]) == (200, "P051234567A", "Acme Ltd")

        status, hook, _ = await call(session, sandbox, "POST", "/webhooks", key=DOC_KEY,
                                     raw=DOC_WEBHOOK)
        assert status == 201, hook
        assert hook["id"].startswith("wh_") and hook["url"] == json.loads(DOC_WEBHOOK)["url"]
        assert hook["events"] == ["invoice.signed", "invoice.rejected"]
        assert "secret" not in hook

        assert sandbox.received_count("invoice", "INV-2026-001") == 1
        assert sandbox.received_count("credit_note", "inv_xyz789") == 1
        assert sandbox.requests["POST /invoices"] == 1 and sandbox.requests["GET /health"] == 1

    run(tmp_path, body)


def test_fixtures_are_the_documents_examples() -> None:
    assert fixture("create_invoice")["totals"] == {
        "subtotal": 50000, "tax_amount": 8000, "total": 58000}
    assert fixture("list_invoices")["meta"]["per_page"] == 20
    assert fixture("health")["kra_etims_status"] == "operational"


# -- authentication ------------------------------------------------------------------


def test_bad_or_missing_key_is_401(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        for key in (None, "", "ptx_test_unknown", "sk_live_123"):
            reply = await call(session, sandbox, "POST", "/invoices", INVOICE, key=key)
            error_of(reply, 401, "unauthorized")
        error_of(await call(session, sandbox, "GET", "/health", key=None), 401, "unauthorized")
        assert sandbox.records()["invoice"] == []
        with pytest.raises(ValueError):
            sandbox.add_key("sk_test_1")
        await control(session, sandbox, "POST", "/keys", {"key": "ptx_live_shop_0002"})
        status, health, _ = await call(session, sandbox, "GET", "/health",
                                       key="ptx_live_shop_0002")
        assert (status, health["environment"]) == (200, "production")
        async with session.post(sandbox.control_url + "/keys", json={"key": "nope"}) as r:
            assert r.status == 400

    run(tmp_path, body)


# -- invoices: refusals --------------------------------------------------------------


def test_missing_or_invalid_fields_are_400_naming_them(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        for name in ("invoice_number", "invoice_date", "customer_name", "payment_type_code",
                     "sales_type_code", "currency_code", "items"):
            shaped = {k: v for k, v in INVOICE.items() if k != name}
            payload = error_of(await call(session, sandbox, "POST", "/invoices", shaped), 400,
                               "validation_error")
            assert list(payload["error"]["fields"]) == [name], payload
        for change, field in (
            ({"invoice_date": "12/04/2026"}, "invoice_date"),
            ({"payment_type_code": "05"}, "payment_type_code"),
            ({"sales_type_code": "X"}, "sales_type_code"),
            ({"currency_code": "USD"}, "exchange_rate"),
            ({"currency_code": "USD", "exchange_rate": 0}, "exchange_rate"),
            ({"offline_mode": "yes"}, "offline_mode"),
            ({"items": [{"item_id": "itm_abc123", "quantity": 0, "unit_price": 1}]},
             "items[0].quantity"),
            ({"items": [{"item_id": "itm_abc123", "quantity": 1}]}, "items[0].unit_price"),
        ):
            payload = error_of(await call(session, sandbox, "POST", "/invoices",
                                          {**INVOICE, **change}), 400, "validation_error")
            assert list(payload["error"]["fields"]) == [field], payload
        for raw, kind in (("{", "application/json"), ("[]", "application/json"),
                          (json.dumps(INVOICE), "text/plain")):
            async with session.post(sandbox.base_url + "/invoices", data=raw, headers={
                    "X-API-Key": DEFAULT_KEY, "Content-Type": kind}) as response:
                assert response.status == 400
                assert (await response.json())["error"]["code"] == "invalid_body"
        # Foreign currency with its rate is fine.
        status, _, _ = await call(session, sandbox, "POST", "/invoices", {
            **INVOICE, "invoice_number": "USD-1", "currency_code": "USD", "exchange_rate": 129.5})
        assert status == 201
        assert [i["invoice_number"] for i in sandbox.records()["invoice"]] == ["USD-1"]

    run(tmp_path, body)


def test_duplicate_invoice_number_is_409_with_the_existing_id(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        status, first, _ = await call(session, sandbox, "POST", "/invoices", INVOICE)
        assert status == 201
        payload = error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 409,
                           "duplicate_invoice_number")
        assert payload["id"] == first["id"] and payload["status"] == "SIGNED"
        assert sandbox.received_count("invoice", "INV-2026-001") == 2
        assert sandbox.recorded_count("invoice", "INV-2026-001") == 1
        assert len(sandbox.records()["invoice"]) == 1

    run(tmp_path, body)


def test_kra_rejections_are_422_with_rejection_reason(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        unknown = invoice("R-1", ("itm_missing", 1, 100))
        payload = error_of(await call(session, sandbox, "POST", "/invoices", unknown), 422,
                           "kra_rejected")
        assert "itm_missing" in payload["rejection_reason"] and payload["status"] == "REJECTED"
        status, one, _ = await call(session, sandbox, "GET", f"/invoices/{payload['id']}")
        assert (status, one["status"], one["cuin"]) == (200, "REJECTED", None)
        assert one["rejection_reason"] == payload["rejection_reason"]
        status, listing, _ = await call(session, sandbox, "GET", "/invoices?status=REJECTED")
        assert [row["id"] for row in listing["data"]] == [payload["id"]]
        # A rejected invoice's number may be sent again once fixed.
        status, fixed, _ = await call(session, sandbox, "POST", "/invoices", invoice("R-1"))
        assert status == 201 and fixed["id"] != payload["id"]
        for change in ({"items": [{**INVOICE["items"][0], "tax_type_code": "B"}]},
                       {"customer_pin": "12345"}):
            payload = error_of(await call(session, sandbox, "POST", "/invoices",
                                          invoice("R-2", **change)), 422, "kra_rejected")
            assert payload["rejection_reason"]
        # A well-formed PIN outside the registry passes (only GET /customers says 404).
        status, _, _ = await call(session, sandbox, "POST", "/invoices",
                                  invoice("R-3", customer_pin="P999999999Z"))
        assert status == 201
        await control(session, sandbox, "POST", "/settings", {"strict_pins": True})
        payload = error_of(await call(session, sandbox, "POST", "/invoices", invoice(
            "R-4", customer_pin="P999999999Z")), 422, "kra_rejected")
        assert "registry" in payload["rejection_reason"]
        assert (await call(session, sandbox, "POST", "/invoices", invoice("R-5")))[0] == 201

    run(tmp_path, body)


# -- tax arithmetic ------------------------------------------------------------------


def test_bands_and_cents_are_exact(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        b = await new_item(session, sandbox, "Bread", "B", 999.99)
        c = await new_item(session, sandbox, "Export", "C", 10)
        d = await new_item(session, sandbox, "Maize flour", "D", 10)
        raw = json.dumps(invoice("T-1", (b, 3, 999.99), (c, 2, 10), (d, 1, 10)))
        status, signed, _ = await call(session, sandbox, "POST", "/invoices", raw=raw)
        assert status == 201, signed
        # B: 2999.97 x 8 % = 239.9976 -> 240.00; C and D: no tax.
        assert signed["totals"] == {"subtotal": 3029.97, "tax_amount": 240, "total": 3269.97}
        status, one, _ = await call(session, sandbox, "GET", f"/invoices/{signed['id']}")
        assert [line["tax_amount"] for line in one["items"]] == [240, 0, 0]
        assert [line["tax_rate"] for line in one["items"]] == [8, 0, 0]

    run(tmp_path, body)


# -- listing -------------------------------------------------------------------------


def test_list_filters_and_pagination(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        for number, date, pin in (("L-1", "2026-04-10", "P051234567A"),
                                  ("L-2", "2026-04-11", "P051098765B"),
                                  ("L-3", "2026-04-12", "P051234567A")):
            status, _, _ = await call(session, sandbox, "POST", "/invoices", invoice(
                number, invoice_date=date, customer_pin=pin))
            assert status == 201

        async def numbers(query: str) -> tuple[list[str], dict[str, int]]:
            status, payload, _ = await call(session, sandbox, "GET", "/invoices" + query)
            assert status == 200, payload
            return [row["invoice_number"] for row in payload["data"]], payload["meta"]

        assert (await numbers(""))[0] == ["L-3", "L-2", "L-1"]
        assert await numbers("?per_page=2&page=2") == (
            ["L-1"], {"total": 3, "page": 2, "per_page": 2, "total_pages": 2})
        assert (await numbers("?from_date=2026-04-11"))[0] == ["L-3", "L-2"]
        assert (await numbers("?to_date=2026-04-11"))[0] == ["L-2", "L-1"]
        assert (await numbers("?customer_pin=P051234567A"))[0] == ["L-3", "L-1"]
        assert (await numbers("?status=SIGNED&per_page=100"))[0] == ["L-3", "L-2", "L-1"]
        assert (await numbers("?status=QUEUED"))[0] == []
        for query, field in (("?per_page=101", "per_page"), ("?page=0", "page"),
                             ("?status=DONE", "status"), ("?from_date=2026-13-01", "from_date")):
            payload = error_of(await call(session, sandbox, "GET", "/invoices" + query), 400,
                               "validation_error")
            assert list(payload["error"]["fields"]) == [field]
        error_of(await call(session, sandbox, "GET", "/invoices/inv_nothing"), 404, "not_found")
        error_of(await call(session, sandbox, "GET", "/nowhere"), 404, "not_found")
        status, payload, headers = await call(session, sandbox, "DELETE", "/invoices")
        assert status == 405 and headers["Allow"] == "POST, GET"

    run(tmp_path, body)


# -- credit notes ----------------------------------------------------------------------


def test_partial_credit_notes_cannot_exceed_the_original(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        other = await new_item(session, sandbox, "Cable", "B", 50)
        status, signed, _ = await call(session, sandbox, "POST", "/invoices", invoice(
            "C-1", ("itm_abc123", 5, 10000), (other, 2, 50)))
        assert status == 201
        url = "/invoices/credit-note"

        async def credit(items: Any = None) -> Reply:
            note = {"original_invoice_id": signed["id"], "reason": "Goods returned"}
            return await call(session, sandbox, "POST", url,
                              note if items is None else {**note, "items": items})

        status, part, _ = await credit([{"item_id": "itm_abc123", "quantity": 2}])
        assert status == 201, part
        assert part["totals"] == {"subtotal": 20000, "tax_amount": 3200, "total": 23200}
        payload = error_of(await credit([{"item_id": "itm_abc123", "quantity": 4}]), 422,
                           "kra_rejected")
        assert "only 3 remain" in payload["rejection_reason"]
        error_of(await credit([{"item_id": "itm_other", "quantity": 1}]), 422, "kra_rejected")
        error_of(await credit([{"item_id": "itm_abc123", "quantity": 0}]), 400,
                 "validation_error")
        status, rest, _ = await credit()  # the full reversal takes what remains
        assert status == 201
        assert rest["totals"] == {"subtotal": 30100, "tax_amount": 4808, "total": 34908}
        payload = error_of(await credit(), 422, "kra_rejected")
        assert "fully credited" in payload["rejection_reason"]
        error_of(await call(session, sandbox, "POST", url, {
            "original_invoice_id": "inv_nothing", "reason": "x"}), 404, "not_found")
        payload = error_of(await call(session, sandbox, "POST", url, {}), 400, "validation_error")
        assert set(payload["error"]["fields"]) == {"original_invoice_id", "reason"}
        assert len(sandbox.records()["credit_note"]) == 2

    run(tmp_path, body)


# -- items, stock, customers, webhooks -----------------------------------------------------


def test_item_stock_customer_and_webhook_validation(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        item = json.loads(DOC_ITEM)
        for change, field in (({"item_class_code": "9911100"}, "item_class_code"),
                              ({"item_class_code": "99111002345"}, "item_class_code"),
                              ({"tax_type_code": "E"}, "tax_type_code"),
                              ({"unit_price": -1}, "unit_price"),
                              ({"unit_price": "10000"}, "unit_price"),
                              ({"packaging_unit_code": ""}, "packaging_unit_code")):
            payload = error_of(await call(session, sandbox, "POST", "/items", {**item, **change}),
                               400, "validation_error")
            assert list(payload["error"]["fields"]) == [field]
        status, made, _ = await call(session, sandbox, "POST", "/items", {
            **item, "item_class_code": "9911100212"})
        assert status == 201 and made["item_code"].startswith("KE")
        error_of(await call(session, sandbox, "PUT", "/items/itm_nothing", {"unit_price": 1}),
                 404, "not_found")
        error_of(await call(session, sandbox, "PUT", f"/items/{made['id']}", {"id": "x"}), 400,
                 "validation_error")
        error_of(await call(session, sandbox, "PUT", f"/items/{made['id']}", {
            "tax_type_code": "Z"}), 400, "validation_error")
        adjustment = json.loads(DOC_ADJUSTMENT)
        for change in ({"quantity": 0}, {"quantity": -3}, {"adjustment_type": "LOST"},
                       {"adjustment_date": "yesterday"}):
            error_of(await call(session, sandbox, "POST", "/stock/adjustment",
                                {**adjustment, **change}), 400, "validation_error")
        error_of(await call(session, sandbox, "POST", "/stock/adjustment", {
            **adjustment, "item_id": "itm_nothing"}), 422, "kra_rejected")
        for kind, quantity, balance in (("IN", 10, 10), ("DAMAGE", 1.5, 8.5), ("OUT", 2, 6.5),
                                        ("RETURN", 1, 7.5)):
            status, moved, _ = await call(session, sandbox, "POST", "/stock/adjustment", {
                **adjustment, "item_id": made["id"], "adjustment_type": kind,
                "quantity": quantity, "reference": f"GRN-{kind}"})
            assert (status, moved["balance"]) == (201, balance), moved
        assert sandbox.received_count("stock", "GRN-IN") == 1
        error_of(await call(session, sandbox, "GET", "/stock?item_id=itm_nothing"), 404,
                 "not_found")
        status, stock, _ = await call(session, sandbox, "GET", "/stock")
        assert {row["item_id"]: row["balance"] for row in stock["data"]} == {
            "itm_abc123": 0, made["id"]: 7.5}
        error_of(await call(session, sandbox, "GET", "/customers?pin=P123123123Q"), 404,
                 "not_found")
        error_of(await call(session, sandbox, "GET", "/customers?pin=bad"), 400,
                 "validation_error")
        error_of(await call(session, sandbox, "GET", "/customers"), 400, "validation_error")
        await control(session, sandbox, "POST", "/pins", {"pin": "P123123123Q", "name": "New"})
        status, customer, _ = await call(session, sandbox, "GET", "/customers?pin=P123123123Q")
        assert (status, customer["name"]) == (200, "New")
        hook = json.loads(DOC_WEBHOOK)
        for change in ({"url": "http://yourapp.co.ke/hook"}, {"events": []},
                       {"events": ["invoice.deleted"]}):
            error_of(await call(session, sandbox, "POST", "/webhooks", {**hook, **change}), 400,
                     "validation_error")

    run(tmp_path, body)


# -- simulated KRA eTIMS: offline queue, processing --------------------------------------


def test_offline_mode_queues_while_etims_is_down_then_signs(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        await control(session, sandbox, "POST", "/settings", {"etims_down": True})
        status, health, _ = await call(session, sandbox, "GET", "/health")
        assert (status, health["kra_etims_status"]) == (200, "offline")
        error_of(await call(session, sandbox, "POST", "/invoices", invoice("Q-0")), 503,
                 "etims_unavailable")
        status, queued, _ = await call(session, sandbox, "POST", "/invoices",
                                       invoice("Q-1", offline_mode=True))
        assert status == 201, queued
        assert (queued["status"], queued["cuin"], queued["signed_at"]) == ("QUEUED", None, None)
        assert queued["totals"]["total"] == 58000
        status, listing, _ = await call(session, sandbox, "GET", "/invoices?status=QUEUED")
        assert [row["id"] for row in listing["data"]] == [queued["id"]]
        error_of(await call(session, sandbox, "POST", "/invoices/credit-note", {
            "original_invoice_id": queued["id"], "reason": "x"}), 422, "kra_rejected")
        sandbox.etims_down = False
        status, one, _ = await call(session, sandbox, "GET", f"/invoices/{queued['id']}")
        assert one["status"] == "SIGNED" and one["cuin"].startswith("KRA") and one["signed_at"]
        assert [i["invoice_number"] for i in sandbox.records()["invoice"]] == ["Q-1"]

    run(tmp_path, body)


def test_processing_invoices_finish_after_polls_or_seconds(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        await control(session, sandbox, "POST", "/settings",
                      {"processing_next": 1, "processing_polls": 2})
        status, posted, _ = await call(session, sandbox, "POST", "/invoices", invoice("P-1"))
        assert (status, posted["status"], posted["cuin"]) == (201, "PROCESSING", None)
        path = f"/invoices/{posted['id']}"
        assert (await call(session, sandbox, "GET", path))[1]["status"] == "PROCESSING"
        signed = (await call(session, sandbox, "GET", path))[1]
        assert signed["status"] == "SIGNED" and signed["cuin"]
        # Only the next one: the following invoice is signed at once.
        assert (await call(session, sandbox, "POST", "/invoices", invoice("P-2")))[1][
            "status"] == "SIGNED"
        sandbox.apply_settings({"processing_next": 1, "processing_polls": 0,
                                "processing_seconds": 0.3})
        status, posted, _ = await call(session, sandbox, "POST", "/invoices", invoice("P-3"))
        assert posted["status"] == "PROCESSING"
        await asyncio.sleep(0.35)
        status, listing, _ = await call(session, sandbox, "GET", "/invoices?status=PROCESSING")
        assert listing["data"] == []
        sandbox.apply_settings({"processing_next": 1, "processing_polls": 1,
                                "processing_outcome": "REJECTED"})
        status, posted, _ = await call(session, sandbox, "POST", "/invoices", invoice("P-4"))
        rejected = (await call(session, sandbox, "GET", f"/invoices/{posted['id']}"))[1]
        assert rejected["status"] == "REJECTED" and rejected["rejection_reason"]
        with pytest.raises(ValueError):
            sandbox.apply_settings({"processing_outcome": "MAYBE"})

    run(tmp_path, body)


def test_requests_per_second_budget_answers_429(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.apply_settings({"rate_limit_rps": 2})
        replies = [await call(session, sandbox, "GET", "/health") for _ in range(3)]
        assert [status for status, _, _ in replies] == [200, 200, 429]
        error_of(replies[2], 429, "rate_limited")
        assert replies[2][2]["Retry-After"] == "1"
        sandbox.add_key("ptx_test_other")  # the budget is per key
        assert (await call(session, sandbox, "GET", "/health", key="ptx_test_other"))[0] == 200
        await asyncio.sleep(1.05)
        assert (await call(session, sandbox, "GET", "/health"))[0] == 200

    run(tmp_path, body)


# -- faults (the same plan as KPRA's) ----------------------------------------------------


def test_fail_is_500_and_nothing_recorded(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        plan = await control(session, sandbox, "POST", "/faults", {"fail_next": 1})
        assert plan["fail_next"] == 1
        error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 500,
                 "internal_error")
        assert sandbox.records()["invoice"] == []
        assert (await call(session, sandbox, "POST", "/invoices", INVOICE))[0] == 201
        assert sandbox.received_count("invoice", "INV-2026-001") == 2

    run(tmp_path, body)


def test_drop_handles_and_records_but_the_answer_is_lost(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.drop_next = 1
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(session, sandbox, "POST", "/invoices", INVOICE)
        [kept] = sandbox.records()["invoice"]
        assert kept["status"] == "SIGNED"
        # What the connector does after a lost answer: look it up, or see the 409.
        _, listing, _ = await call(
            session, sandbox, "GET", "/invoices?from_date=2026-04-12&to_date=2026-04-12")
        assert [row["id"] for row in listing["data"]] == [kept["id"]]
        payload = error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 409,
                           "duplicate_invoice_number")
        assert payload["id"] == kept["id"]

    run(tmp_path, body)


def test_reset_breaks_the_connection_before_handling(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.apply({"chaos": {"reset": 1.0}, "chaos_seed": 3})
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(session, sandbox, "POST", "/invoices", INVOICE)
        assert sandbox.records()["invoice"] == []
        assert sandbox.received_count("invoice", "INV-2026-001") == 1
        assert sandbox.faults.dealt()["reset"] == 1
        sandbox.faults.apply({"chaos": {"fail": 1.0}})
        error_of(await call(session, sandbox, "GET", "/health"), 500, "internal_error")
        sandbox.faults.reset()
        assert (await call(session, sandbox, "POST", "/invoices", INVOICE))[0] == 201

    run(tmp_path, body)


def test_rate_limit_unauthorized_and_reject_faults(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        await control(session, sandbox, "POST", "/faults",
                      {"rate_limit_next": 1, "retry_after": 1.2})
        reply = await call(session, sandbox, "POST", "/invoices", INVOICE)
        error_of(reply, 429, "rate_limited")
        assert reply[2]["Retry-After"] == "2"
        sandbox.faults.unauthorized_next = 1
        error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 401, "unauthorized")
        assert sandbox.records()["invoice"] == []
        sandbox.faults.reject_next = 1
        payload = error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 422,
                           "kra_rejected")
        assert payload["status"] == "REJECTED" and "reject_next" in payload["rejection_reason"]
        sandbox.faults.reject_next = 1
        error_of(await call(session, sandbox, "POST", "/items", json.loads(DOC_ITEM)), 422,
                 "kra_rejected")
        status, signed, _ = await call(session, sandbox, "POST", "/invoices", INVOICE)
        assert (status, signed["status"]) == (201, "SIGNED")

    run(tmp_path, body)


def test_slow_answers_still_record(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.apply({"delay": 0.4, "delay_next": 1})
        started = time.monotonic()
        assert (await call(session, sandbox, "GET", "/health"))[0] == 200
        assert time.monotonic() - started >= 0.4
        sandbox.faults.delay = 0.5
        with pytest.raises(asyncio.TimeoutError):
            await call(session, sandbox, "POST", "/invoices", INVOICE,
                       timeout=aiohttp.ClientTimeout(total=0.15))
        await asyncio.sleep(0.5)
        assert len(sandbox.records()["invoice"]) == 1
        sandbox.faults.reset()

    run(tmp_path, body)


def test_down_refuses_connections_then_comes_back(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        replies = await down_and_back(sandbox, session,
                                      lambda: call(session, sandbox, "GET", "/health"))
        assert [reply[0] for reply in replies] == [200, 200]

    run(tmp_path, body)


# -- control port, persistence, command ------------------------------------------------


def test_control_status_records_and_plain_http(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        await call(session, sandbox, "POST", "/invoices", INVOICE)
        await call(session, sandbox, "GET", "/invoices")
        await call(session, sandbox, "POST", "/webhooks", raw=DOC_WEBHOOK)
        status = await control(session, sandbox, "GET")
        assert status["base_url"] == sandbox.base_url
        assert status["ca_file"] == str(sandbox.ca_file)
        assert status["default_key"] == DEFAULT_KEY == "ptx_test_sandbox_key_0001"
        assert status["connections_seen"] == 3  # force_close: one connection per request
        assert status["requests"] == {"POST /invoices": 1, "GET /invoices": 1,
                                      "POST /webhooks": 1}
        assert status["settings"]["etims_down"] is False and status["faults"]["fail_next"] == 0
        records = await control(session, sandbox, "GET", "/records")
        assert [i["invoice_number"] for i in records["invoice"]] == ["INV-2026-001"]
        assert "secret" not in records["webhook"][0]
        async with session.post(sandbox.control_url + "/settings", json={"bogus": 1}) as r:
            assert r.status == 400
        plain = f"http://127.0.0.1:{sandbox.http_port}/api/v2/health"
        async with session.get(plain, headers={"X-API-Key": DEFAULT_KEY}) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "https_required"

    run(tmp_path, body)


def test_restart_keeps_records(tmp_path: Path) -> None:
    ids: dict[str, str] = {}

    async def first(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        ids["item"] = await new_item(session, sandbox, "Kept", "B", 12.5)
        ids["invoice"] = (await call(session, sandbox, "POST", "/invoices", INVOICE))[1]["id"]

    async def second(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        status, one, _ = await call(session, sandbox, "GET", f"/invoices/{ids['invoice']}")
        assert (status, one["status"], one["totals"]["total"]) == (200, "SIGNED", 58000)
        payload = error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 409,
                           "duplicate_invoice_number")
        assert payload["id"] == ids["invoice"]
        assert sandbox.received_count("invoice", "INV-2026-001") == 2
        status, items, _ = await call(session, sandbox, "GET", "/items")
        kept = {i["id"]: i for i in items["data"]}
        assert set(kept) == {"itm_abc123", ids["item"]} and kept[ids["item"]]["unit_price"] == 12.5
        stock = (await call(session, sandbox, "GET", "/stock?item_id=itm_abc123"))[1]
        assert stock["data"][0]["balance"] == -5
        assert sandbox.total_requests == 6

    run(tmp_path, first)
    assert DEFAULT_KEY not in (tmp_path / "protax.json").read_text(encoding="utf-8")
    run(tmp_path, second)


def test_fresh_account_without_examples(tmp_path: Path) -> None:
    async def body(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        assert (await call(session, sandbox, "GET", "/items"))[1]["data"] == []
        error_of(await call(session, sandbox, "POST", "/invoices", INVOICE), 422, "kra_rejected")

    run(tmp_path, body, examples=False)


def test_command_prints_urls_and_key_and_stops_when_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> None:
        task, (base, control_url, ca_file, key) = await start_command(
            run_protax_sandbox(0, None, tmp_path), 4, capsys)
        assert base.startswith("https://127.0.0.1:") and base.endswith("/api/v2")
        assert control_url.endswith("/_sandbox") and key == DEFAULT_KEY
        connector = aiohttp.TCPConnector(ssl=client_ssl(Path(ca_file)))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(base + "/health", headers={"X-API-Key": key}) as response,
        ):
            assert response.status == 200
        await cancel_command(task)

    asyncio.run(main())


def test_queued_invoices_are_signed_at_the_next_start(tmp_path: Path) -> None:
    ids: list[str] = []

    async def first(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        reserved = await control(session, sandbox, "POST", "/next-ids", {"ids": ["inv_kept01"]})
        assert reserved == {"reserved": ["inv_kept01"]}
        sandbox.etims_down = True
        status, queued, _ = await call(session, sandbox, "POST", "/invoices",
                                       invoice("OFF-1", offline_mode=True))
        assert (status, queued["id"], queued["status"]) == (201, "inv_kept01", "QUEUED")
        ids.append(queued["id"])

    async def second(sandbox: ProTaxSandbox, session: aiohttp.ClientSession) -> None:
        status, one, _ = await call(session, sandbox, "GET", f"/invoices/{ids[0]}")
        assert (status, one["status"]) == (200, "SIGNED") and one["cuin"]
        sandbox.reserve_ids("inv_kept01")  # an id in use is never handed out twice
        status, other, _ = await call(session, sandbox, "POST", "/invoices", invoice("OFF-2"))
        assert status == 201 and other["id"] != "inv_kept01"

    run(tmp_path, first)
    run(tmp_path, second)
