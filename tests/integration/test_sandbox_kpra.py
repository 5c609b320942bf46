"""The KPRA sandbox over real sockets: HTTPS with verification ON, and the plain-HTTP port.

Each test runs its own event loop (`asyncio.run`), its own sandbox on ephemeral ports and
its own tmp_path data dir.
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

from app.sandbox.cli import run_kpra_sandbox
from app.sandbox.faults import Fault, FaultPlan
from app.sandbox.kpra import KpraSandbox
from app.sandbox.tls import ensure_certificates
from tests.integration.sandbox_helpers import (
    cancel_command,
    client_ssl,
    down_and_back,
    run_sandbox,
    start_command,
)

KEY = "KPRA@123a"
# The seed's JSON example, in the live API's field names (sales_tax, date).
LIVE = {
    "ntn": "K123456",
    "pos_id": "K123456",
    "key": KEY,
    "invoice_no": "INV123",
    "amount": 200,
    "tax_rate": 5,
    "sales_tax": 20,
    "total_amount": 220,
    "date": "2025-10-22 12:17:57",
}
# The same invoice in the Windows utility's names (tax_amount, date_time).
UTILITY = {
    "ntn": "K123456",
    "pos_id": "K123456",
    "key": KEY,
    "invoice_no": "19",
    "amount": 200,
    "tax_rate": 5,
    "tax_amount": 20,
    "total_amount": 220,
    "date_time": "2026-04-02 12:12:12",
    "payment_mode": 2,
}

Reply = tuple[int, dict[str, Any], Any]
Body = Callable[[KpraSandbox, aiohttp.ClientSession], Awaitable[None]]


def run(data_dir: Path, body: Body, **kwargs: Any) -> None:
    """Start a sandbox and an HTTPS-verifying client session, run `body`, clean up."""
    run_sandbox(KpraSandbox, data_dir, body, **kwargs)


async def post(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> Reply:
    async with session.post(url, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def send(sandbox: KpraSandbox, session: aiohttp.ClientSession, body: dict) -> Reply:
    return await post(session, sandbox.endpoint_url, json=body)


async def control(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def created(reply: Reply) -> dict[str, Any]:
    status, payload, _ = reply
    assert status == 201, payload
    assert payload["status"] == 201
    assert payload["message"] == "Invoice created successfully."
    return payload["data"]


# -- happy paths ---------------------------------------------------------------------


def test_live_shaped_seed_example_is_created(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        assert sandbox.endpoint_url.startswith("https://127.0.0.1:")
        assert sandbox.endpoint_url.endswith("/api/rims-integration")
        data = created(await send(sandbox, session, LIVE))
        assert data == {
            "transaction_id": 8843481,
            "invoice_no": "INV123",
            "pos_id": "K123456",
            "date_time": "2025-10-22 12:17:57",
        }
        # The seed's second URL shape answers too; ids keep increasing.
        other = sandbox.endpoint_url.replace("/api/rims-integration", "/rims-integration")
        data2 = created(await post(session, other, json={**LIVE, "invoice_no": "INV124"}))
        assert data2["transaction_id"] == 8843482
        record = sandbox.records()[("K123456", "INV123")]
        assert record.transaction_id == 8843481
        assert record.received_count == 1
        assert "key" not in record.fields
        assert record.fields["sales_tax"] == 20 and record.fields["date"] == LIVE["date"]
        assert sandbox.total_requests == 2

    run(tmp_path, body)


def test_utility_shaped_fields_are_created(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        data = created(await send(sandbox, session, UTILITY))
        assert data["invoice_no"] == "19" and data["date_time"] == "2026-04-02 12:12:12"
        assert sandbox.records()[("K123456", "19")].fields["tax_amount"] == 20

    run(tmp_path, body)


def test_form_encoded_is_created_and_decimals_stay_exact(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        form = {k: str(v) for k, v in {**LIVE, "amount": "200.10"}.items()}
        data = created(await post(session, sandbox.endpoint_url, data=form))
        assert data["invoice_no"] == "INV123"
        assert sandbox.records()[("K123456", "INV123")].fields["amount"] == "200.10"
        # A JSON number with a fraction is kept exact (Decimal), never a float.
        raw = json.dumps({**LIVE, "invoice_no": "J1"}).replace('"amount": 200', '"amount": 0.1')
        headers = {"Content-Type": "application/json"}
        created(await post(session, sandbox.endpoint_url, data=raw, headers=headers))
        assert str(sandbox.records()[("K123456", "J1")].fields["amount"]) == "0.1"

    run(tmp_path, body)


# -- refusals ------------------------------------------------------------------------


def test_wrong_key_or_unknown_pos_is_401_and_not_recorded(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        for bad in ({"key": "KPRA@123b"}, {"pos_id": "K999999"}, {"ntn": "K000000"}):
            status, payload, _ = await send(sandbox, session, {**LIVE, **bad})
            assert (status, payload) == (401, {"status": 401, "message": "Unauthorized"})
        assert sandbox.records() == {}
        assert sandbox.total_requests == 3

    run(tmp_path, body)


def test_other_methods_get_405_with_allow(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        for method in ("GET", "PUT", "DELETE"):
            async with session.request(method, sandbox.endpoint_url) as response:
                assert response.status == 405
                assert response.headers["Allow"] == "POST"
                expected = {"status": 405, "message": "Method Not Allowed. Use POST."}
                assert await response.json() == expected
        assert sandbox.total_requests == 0

    run(tmp_path, body)


def test_plain_http_is_403_https_required(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        plain = f"http://127.0.0.1:{sandbox.http_port}"
        for path in ("/api/rims-integration", "/rims-integration", "/"):
            status, payload, _ = await post(session, plain + path, json=LIVE)
            assert (status, payload) == (403, {"status": 403, "message": "HTTPS required"})
        assert sandbox.records() == {} and sandbox.total_requests == 0

    run(tmp_path, body)


BAD_FIELDS = [
    ({"invoice_no": "X" * 51}, "invoice_no"),
    ({"invoice_no": ""}, "invoice_no"),
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"amount": "two hundred"}, "amount"),
    ({"amount": True}, "amount"),
    ({"total_amount": 0}, "total_amount"),
    ({"total_amount": "NaN"}, "total_amount"),
    ({"tax_rate": 100.5}, "tax_rate"),
    ({"tax_rate": -1}, "tax_rate"),
    ({"sales_tax": "x"}, "sales_tax"),
    ({"date": "2025-10-22T12:17:57"}, "date"),
    ({"date": "2025-02-30 12:00:00"}, "date"),
    ({"date": "22-10-2025 12:17:57"}, "date"),
    ({"payment_mode": 3}, "payment_mode"),
    ({"ntn": ""}, "ntn"),
    ({"pos_id": ["K123456"]}, "pos_id"),
]
MISSING = ["ntn", "pos_id", "key", "invoice_no", "amount", "tax_rate", "total_amount"]


@pytest.mark.parametrize(("change", "field"), BAD_FIELDS)
def test_each_validation_rule_is_400_naming_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        status, payload, _ = await send(sandbox, session, {**LIVE, **change})
        assert status == 400, payload
        assert payload["status"] == 400 and payload["message"] == "Bad Request"
        assert list(payload["errors"]) == [field]
        assert sandbox.records() == {}

    run(tmp_path, body)


def test_missing_fields_and_bad_bodies_are_400(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        for name in MISSING:
            shaped = {k: v for k, v in LIVE.items() if k != name}
            status, payload, _ = await send(sandbox, session, shaped)
            assert status == 400 and name in payload["errors"], (name, payload)
        for names, field in ((("date", "date_time"), "date"), (("sales_tax",), "sales_tax")):
            shaped = {k: v for k, v in LIVE.items() if k not in names}
            status, payload, _ = await send(sandbox, session, shaped)
            assert status == 400 and list(payload["errors"]) == [field], payload
        bad_date_time = {**UTILITY, "date_time": "2026-04-02"}
        status, payload, _ = await send(sandbox, session, bad_date_time)
        assert status == 400 and list(payload["errors"]) == ["date_time"]
        url = sandbox.endpoint_url
        for raw, kind, field in (
            ('{"ntn": "K123456",', "application/json", "body"),
            ("[1, 2]", "application/json", "body"),
            (json.dumps(LIVE).replace("200", "NaN"), "application/json", "body"),
            (json.dumps(LIVE), "text/plain", "content_type"),
        ):
            status, payload, _ = await post(session, url, data=raw, headers={"Content-Type": kind})
            assert status == 400 and payload["message"] == "Bad Request", (raw, payload)
            assert list(payload["errors"]) == [field], payload
        assert sandbox.records() == {}

    run(tmp_path, body)


def test_boundary_values_are_accepted(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        cases = [
            {"invoice_no": "X" * 50},
            {"invoice_no": "R0", "tax_rate": 0},
            {"invoice_no": "R100", "tax_rate": "100"},
            {"invoice_no": "S1", "amount": "0.01", "total_amount": " 1.5 "},
            {"invoice_no": "P1", "payment_mode": "card"},  # non-numeric means cash
            {"invoice_no": 77},  # a JSON integer invoice number
        ]
        for change in cases:
            created(await send(sandbox, session, {**LIVE, **change}))
        assert ("K123456", "77") in sandbox.records()

    run(tmp_path, body)


# -- duplicates ----------------------------------------------------------------------


def test_duplicate_rejected_by_default(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        first = created(await send(sandbox, session, LIVE))
        status, payload, _ = await send(sandbox, session, {**LIVE, "amount": 300})
        assert status == 400
        assert payload == {
            "status": 400,
            "message": "Duplicate invoice: invoice_no INV123 is already recorded "
            "for pos_id K123456.",
            "errors": {"invoice_no": "duplicate"},
        }
        record = sandbox.records()[("K123456", "INV123")]
        assert record.transaction_id == first["transaction_id"]
        assert record.fields["amount"] == 200
        assert record.received_count == 2 == sandbox.received_count("K123456", "INV123")

    run(tmp_path, body)


def test_duplicate_ignored_returns_the_original(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        first = created(await send(sandbox, session, LIVE))
        sandbox.duplicates = "ignore"
        again = created(await send(sandbox, session, {**LIVE, "date": "2025-10-23 09:00:00"}))
        assert again == first
        # Switch back over the control port.
        url = f"{sandbox.control_url}/duplicates"
        assert await control(session, "POST", url, json={"mode": "reject"}) == {"mode": "reject"}
        assert (await send(sandbox, session, LIVE))[0] == 400
        assert sandbox.received_count("K123456", "INV123") == 3
        with pytest.raises(ValueError):
            sandbox.duplicates = "merge"

    run(tmp_path, body)


# -- faults --------------------------------------------------------------------------


def test_fail_next_is_500_without_recording(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        faults_url = f"{sandbox.control_url}/faults"
        plan = await control(session, "POST", faults_url, json={"fail_next": 1})
        assert plan["fail_next"] == 1
        status, payload, _ = await send(sandbox, session, LIVE)
        assert status == 500
        assert payload == {"status": 500, "message": "Server error. Please try again later."}
        assert sandbox.records() == {}
        assert created(await send(sandbox, session, LIVE))["transaction_id"] == 8843481
        assert sandbox.received_count("K123456", "INV123") == 2
        assert sandbox.total_requests == 2

    run(tmp_path, body)


def test_fail_next_is_consumed_once_under_concurrency(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.fail_next = 1
        replies = await asyncio.gather(
            *(send(sandbox, session, {**LIVE, "invoice_no": f"C{i}"}) for i in range(8))
        )
        assert sorted(status for status, _, _ in replies) == [201] * 7 + [500]

    run(tmp_path, body)


def test_drop_next_records_but_never_answers(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.drop_next = 1
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await send(sandbox, session, LIVE)
        record = sandbox.records()[("K123456", "INV123")]
        assert record.transaction_id == 8843481
        assert record.received_count == 1
        # The client cannot know it succeeded: a blind retry is a duplicate.
        status, payload, _ = await send(sandbox, session, LIVE)
        assert status == 400 and payload["errors"] == {"invoice_no": "duplicate"}
        assert sandbox.received_count("K123456", "INV123") == 2

    run(tmp_path, body)


def test_rate_limit_next_is_429_with_retry_after(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        changes = {"rate_limit_next": 1, "retry_after": 1.2}
        await control(session, "POST", f"{sandbox.control_url}/faults", json=changes)
        status, payload, headers = await send(sandbox, session, LIVE)
        assert (status, payload) == (429, {"status": 429, "message": "Too Many Requests"})
        assert headers["Retry-After"] == "2"
        assert sandbox.records() == {}
        created(await send(sandbox, session, LIVE))

    run(tmp_path, body)


def test_unauthorized_next_is_401_for_good_credentials(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.unauthorized_next = 1
        assert (await send(sandbox, session, LIVE))[0] == 401
        assert sandbox.records() == {}
        created(await send(sandbox, session, LIVE))

    run(tmp_path, body)


def test_delay_slows_only_the_next_n_answers(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.apply({"delay": 0.4, "delay_next": 1})
        started = time.monotonic()
        created(await send(sandbox, session, LIVE))
        assert time.monotonic() - started >= 0.4
        assert (sandbox.faults.delay, sandbox.faults.delay_next) == (0.0, 0)
        started = time.monotonic()
        created(await send(sandbox, session, {**LIVE, "invoice_no": "FAST"}))
        assert time.monotonic() - started < 0.4

    run(tmp_path, body)


def test_delay_longer_than_client_timeout_still_records(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        sandbox.faults.delay = 0.5  # delay_next 0: every request
        with pytest.raises(asyncio.TimeoutError):
            timeout = aiohttp.ClientTimeout(total=0.15)
            await post(session, sandbox.endpoint_url, json=LIVE, timeout=timeout)
        assert sandbox.records()[("K123456", "INV123")].received_count == 1
        sandbox.faults.reset()

    run(tmp_path, body)


def test_down_refuses_connections_then_comes_back_on_the_same_port(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        first, again = await down_and_back(sandbox, session, lambda: send(sandbox, session, LIVE))
        created(first)
        assert again[0] == 400  # duplicate: it is back
        assert sandbox.total_requests == 2

    run(tmp_path, body)


def test_fault_plan_validates_and_consumes_in_order() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError):
        plan.fail_next = -1
    with pytest.raises(ValueError):
        plan.apply({"delay": "slow"})
    with pytest.raises(ValueError):
        plan.apply({"explode_next": 1})
    plan.apply({"unauthorized_next": 1, "rate_limit_next": 1, "fail_next": 1, "drop_next": 1})
    order = [plan.take().fault for _ in range(5)]
    assert order == [Fault.FAIL, Fault.DROP, Fault.RATE_LIMIT, Fault.UNAUTHORIZED, Fault.NONE]
    plan.apply({"fail_next": 3, "delay": 2})
    plan.apply({"reset": True})
    assert plan.snapshot() == FaultPlan().snapshot()


# -- control, certificates, persistence ----------------------------------------------


def test_control_routes_list_invoices_and_add_credentials(tmp_path: Path) -> None:
    async def body(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        new = {"ntn": "N777", "pos_id": "P777", "key": "s3cret"}
        assert (await send(sandbox, session, {**LIVE, **new}))[0] == 401
        await control(session, "POST", f"{sandbox.control_url}/credentials", json=new)
        created(await send(sandbox, session, {**LIVE, **new}))
        listing = await control(session, "GET", f"{sandbox.control_url}/invoices")
        assert listing["total_requests"] == 2
        [invoice] = listing["invoices"]
        assert invoice["pos_id"] == "P777" and invoice["invoice_no"] == "INV123"
        assert invoice["transaction_id"] == 8843481 and invoice["received_count"] == 2
        assert "key" not in invoice["fields"] and invoice["fields"]["amount"] == 200
        faults = await control(session, "GET", f"{sandbox.control_url}/faults")
        assert faults["fail_next"] == 0 and faults["down"] is False
        async with session.post(f"{sandbox.control_url}/faults", json={"fail_next": -2}) as r:
            assert r.status == 400
        status = await control(session, "GET", sandbox.control_url)
        assert status["endpoint_url"] == sandbox.endpoint_url
        assert status["ca_file"] == str(sandbox.ca_file) and status["duplicates"] == "reject"

    run(tmp_path, body)


def test_certificates_are_reused_across_sandboxes(tmp_path: Path) -> None:
    async def main() -> None:
        async with KpraSandbox(tmp_path) as first:
            ca_bytes = first.ca_file.read_bytes()
            context = client_ssl(first.ca_file)  # the client trusts the first CA only
        async with KpraSandbox(tmp_path) as second:
            assert second.ca_file.read_bytes() == ca_bytes
            connector = aiohttp.TCPConnector(ssl=context)
            async with aiohttp.ClientSession(connector=connector) as session:
                created(await post(session, second.endpoint_url, json=LIVE))

    asyncio.run(main())
    files = ensure_certificates(tmp_path / "tls")
    assert files.ca_pem.read_bytes() == (tmp_path / "tls" / "ca.pem").read_bytes()
    assert files.key_pem.stat().st_mode & 0o077 == 0


def test_records_persist_without_the_key(tmp_path: Path) -> None:
    async def first(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        created(await send(sandbox, session, LIVE))
        created(await post(session, sandbox.endpoint_url, data={**LIVE, "invoice_no": "F2"}))

    async def second(sandbox: KpraSandbox, session: aiohttp.ClientSession) -> None:
        assert set(sandbox.records()) == {("K123456", "INV123"), ("K123456", "F2")}
        assert sandbox.total_requests == 2
        status, payload, _ = await send(sandbox, session, LIVE)
        assert status == 400 and payload["errors"] == {"invoice_no": "duplicate"}
        assert sandbox.received_count("K123456", "INV123") == 2
        data = created(await send(sandbox, session, {**LIVE, "invoice_no": "NEW"}))
        assert data["transaction_id"] == 8843483

    run(tmp_path, first)
    text = (tmp_path / "records.jsonl").read_text(encoding="utf-8")
    assert KEY not in text and '"key"' not in text
    assert len(text.splitlines()) == 4
    run(tmp_path, second)
    assert KEY not in (tmp_path / "records.jsonl").read_text(encoding="utf-8")


def test_cli_prints_urls_and_stops_when_cancelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> None:
        task, (endpoint, control_url, ca_file) = await start_command(
            run_kpra_sandbox(0, None, tmp_path), 3, capsys)
        assert endpoint.startswith("https://127.0.0.1:")
        assert control_url.startswith("http://127.0.0.1:") and control_url.endswith("/_sandbox")
        connector = aiohttp.TCPConnector(ssl=client_ssl(Path(ca_file)))
        async with aiohttp.ClientSession(connector=connector) as session:
            created(await post(session, endpoint, json=LIVE))
            listing = await control(session, "GET", control_url + "/invoices")
            assert listing["total_requests"] == 1
        await cancel_command(task)
        with pytest.raises(aiohttp.ClientConnectorError):  # stopped: nothing listens now
            async with aiohttp.ClientSession() as session:
                await control(session, "GET", control_url + "/invoices")

    asyncio.run(main())
