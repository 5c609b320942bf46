"""POST /api/invoice against the real server, with the KPRA sandbox over real HTTPS."""

import asyncio
import json

import pytest

from tests.conftest import wait_for
from tests.integration.conftest import KEY, POS_ID, invoice

# Every JSON body printed in the KPRA seed, verbatim.
SEED_EXAMPLES = {
    "minimum fields": {
        "ntn": "K123456", "pos_id": "K123456", "key": "KPRA@123a", "invoice_no": "19",
        "amount": 200, "tax_rate": 5, "tax_amount": 20, "total_amount": 220,
        "date_time": "2026-04-02 12:12:12"},
    "with payment_mode": {
        "ntn": "K123456", "pos_id": "K123456", "key": "KPRA@123a", "invoice_no": "19",
        "amount": 200, "tax_rate": 5, "tax_amount": 20, "total_amount": 220,
        "date_time": "2026-04-02 12:12:12", "payment_mode": 2},
    "JSON payload example": {
        "ntn": "K123456", "pos_id": "K123456", "key": "KPRA@123a", "invoice_no": "INV123",
        "amount": 200, "tax_rate": 5, "tax_amount": 20, "total_amount": 220,
        "date_time": "2025-10-22 12:17:57"},
    "cURL example (live names, no amount)": {
        "ntn": "K123456", "pos_id": "K123456", "key": "KPRA@123a", "invoice_no": "INV123",
        "total_amount": 220, "sales_tax": 20, "tax_rate": 5, "date": "2025-10-22 12:17:57"},
}


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
@pytest.mark.parametrize("example", list(SEED_EXAMPLES))
async def test_seed_examples_reach_the_sandbox_once_with_live_names(utility, sandbox, example,
                                                                    form):
    body = SEED_EXAMPLES[example]
    status, answer, _ = await utility.post(body, form=form)
    assert status == 201, answer
    data = answer["data"]
    assert answer["status"] == 201 and data["state"] == "queued"
    assert data["transaction_id"] is None
    assert data["qr_url"] == f"https://kpra.gov.pk/api/?pos_id=K123456&invoice_no={body['invoice_no']}"
    assert data["date_time"] == body.get("date_time", body.get("date"))

    await wait_for(lambda: utility.state_of(body["invoice_no"]), what="invoice to sync",
                   timeout=10)
    status_data = await wait_for(_synced(utility, body["invoice_no"]), what="synced state")
    record = sandbox.records()[(POS_ID, body["invoice_no"])]
    assert sandbox.received_count(POS_ID, body["invoice_no"]) == 1
    assert status_data["transaction_id"] == str(record.transaction_id)
    sent = record.fields
    assert {"date", "sales_tax", "amount", "total_amount", "tax_rate", "invoice_no", "ntn",
            "pos_id", "payment_mode"} <= set(sent)
    assert "date_time" not in sent and "tax_amount" not in sent, "live field style by default"
    assert str(sent["amount"]) == "200" and str(sent["sales_tax"]) == "20"
    assert sent["payment_mode"] == body.get("payment_mode", 1) or str(sent["payment_mode"]) == str(
        body.get("payment_mode", 1))


def _synced(utility, invoice_no):
    async def check():
        data = await utility.status_of(invoice_no)
        return data if data.get("state") == "synced" else None
    return check


async def test_warnings_are_returned_and_stored(utility):
    status, answer, _ = await utility.post(invoice("W1", tax_amount=20, total_amount=220))
    assert status == 201
    assert [w["code"] for w in answer["data"]["warnings"]] == ["tax_mismatch"]
    stored = await utility.status_of("W1")
    assert [w["code"] for w in stored["warnings"]] == ["tax_mismatch"]


async def test_every_invalid_field_at_once_in_the_one_error_shape(utility):
    status, answer, _ = await utility.post(invoice("", amount=-1, tax_rate=200, date_time="soon"))
    assert status == 400
    assert set(answer) == {"status", "message", "errors"} and answer["status"] == 400
    assert set(answer["errors"]) == {"invoice_no", "amount", "tax_rate", "date_time"}
    assert answer["message"].startswith("Invoice not accepted: ")


async def test_wrong_key_is_401_and_nothing_is_stored(utility):
    status, answer, _ = await utility.post(invoice("A1", key=KEY + "x"))
    assert status == 401 and "setup" in answer["message"] and answer["errors"] == {}
    status, _, _ = await utility.post(invoice("A1", ntn="K999999"))
    assert status == 401
    status, _, _ = await utility.post(invoice("A1", pos_id="UNKNOWN"))
    assert status == 401
    assert await utility.state_of("A1") is None


async def test_other_methods_are_405_with_allow_post(utility):
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        async with utility.http.request(method, "/api/invoice") as response:
            assert response.status == 405, method
            assert response.headers["Allow"] == "POST"
            body = await response.json()
            assert body == {"status": 405, "message": "Method Not Allowed. Use POST.", "errors": {}}


async def test_body_over_64_kib_is_413(utility):
    padded = invoice("BIG", note="x" * (64 * 1024))
    status, answer, _ = await utility.post(padded)
    assert status == 413 and answer["status"] == 413

    async def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(70):
            yield b"x" * 1000

    async with utility.http.post("/api/invoice", data=chunks(),
                                 headers={"Content-Type": "application/json"}) as response:
        assert response.status == 413
        assert (await response.json())["status"] == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
async def test_other_content_types_are_415(utility, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    async with utility.http.post("/api/invoice", data=b'{"a":1}', headers=headers) as response:
        assert response.status == 415
        body = await response.json()
        assert "application/json" in body["message"] and "content_type" in body["errors"]


@pytest.mark.parametrize("raw", [b"{", b"", b"[1,2", b'{"amount": NaN}', b"\xff\xfe",
                                 b"[" * 100000 + b"]" * 100000, b"null", b'"text"'])
async def test_malformed_json_is_400_never_500(utility, raw):
    async with utility.http.post("/api/invoice", data=raw,
                                 headers={"Content-Type": "application/json"}) as response:
        assert response.status in (400, 413), await response.text()
        body = await response.json()
        assert set(body) == {"status", "message", "errors"}


async def test_text_that_is_not_unicode_is_400_and_spoils_no_other_post(utility):
    """A lone UTF-16 surrogate escape is valid to some JSON parsers but cannot be stored as
    text; it must be refused alone, not fail the group commit it would have shared."""
    bad = json.dumps(invoice("SURR-1")).replace('"SURR-1"', '"SURR-\\ud800"').encode()

    async def post_bad():
        async with utility.http.post("/api/invoice", data=bad,
                                     headers={"Content-Type": "application/json"}) as response:
            return response.status, await response.json()

    results = await asyncio.gather(post_bad(), *(utility.post(invoice(f"SURR-OK-{i}"))
                                                 for i in range(10)))
    status, body = results[0]
    assert status == 400 and "body" in body["errors"] and "surrogate" in body["message"]
    assert [result[0] for result in results[1:]] == [201] * 10


async def test_multipart_form_is_accepted_and_repeated_fields_refused(utility):
    import aiohttp

    form = aiohttp.FormData()
    for name, value in invoice("MP1").items():
        form.add_field(name, str(value))
    async with utility.http.post("/api/invoice", data=form) as response:
        assert response.status == 201
    async with utility.http.post("/api/invoice", data="invoice_no=1&invoice_no=2",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}
                                 ) as response:
        body = await response.json()
        assert response.status == 400 and "given 2 times" in body["errors"]["invoice_no"]


async def test_identical_repost_is_replayed_never_stored_or_sent_twice(utility, sandbox):
    first_status, first, first_headers = await utility.post(invoice("R1"))
    await wait_for(_synced(utility, "R1"), what="R1 synced")
    status, again, headers = await utility.post(invoice("R1", amount="200.00"))
    assert (first_status, status) == (201, 201)
    assert "Idempotent-Replayed" not in first_headers
    assert headers["Idempotent-Replayed"] == "true"
    assert again["message"] == first["message"]
    assert again["data"]["state"] == "synced", "a replay reports where the invoice is now"
    assert again["data"]["transaction_id"] is not None
    assert sandbox.received_count(POS_ID, "R1") == 1
    assert await _rows(utility, "R1") == 1


async def test_identical_concurrent_posts_make_one_row_and_one_send(utility, sandbox):
    results = await asyncio.gather(*(utility.post(invoice("C1")) for _ in range(20)))
    assert [status for status, _, _ in results] == [201] * 20
    replayed = [h.get("Idempotent-Replayed") for _, _, h in results]
    assert replayed.count("true") == 19, replayed
    await wait_for(_synced(utility, "C1"), what="C1 synced")
    assert sandbox.received_count(POS_ID, "C1") == 1
    assert await _rows(utility, "C1") == 1


async def test_changed_repost_is_409_and_the_first_is_kept(utility):
    await utility.post(invoice("X1"))
    status, answer, _ = await utility.post(invoice("X1", amount=300, tax_amount=15,
                                                   total_amount=315))
    assert status == 409 and "invoice_no" in answer["errors"]
    assert (await utility.status_of("X1"))["amount"] == "200"


async def _rows(utility, invoice_no: str) -> int:
    import sqlite3
    with sqlite3.connect(utility.data_dir / "rims.sqlite3") as connection:
        return connection.execute("SELECT COUNT(*) FROM invoice WHERE invoice_no = ?",
                                  (invoice_no,)).fetchone()[0]


async def test_status_health_home_and_qr(utility):
    await utility.post(invoice("Q 1/2"))
    async with utility.http.get("/") as response:
        text = await response.text()
        assert response.status == 200 and "running" in text and text.count("\n") == 1
    health = await utility.health()
    assert health["counts"]["queued"] + health["counts"]["sending"] + health["counts"]["synced"] == 1
    assert {"version", "oldest_pending_age_s", "last_successful_sync", "upstream"} <= set(health)
    await wait_for(_synced(utility, "Q 1/2"), what="synced")
    health = await utility.health()
    assert health["upstream"]["reachable"] is True and health["last_successful_sync"]
    async with utility.http.get("/api/qr", params={"pos_id": POS_ID, "invoice_no": "Q 1/2"}) as r:
        png = await r.read()
        assert r.status == 200 and r.content_type == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    async with utility.http.get("/api/qr", params={"pos_id": POS_ID, "invoice_no": "Q 1/2",
                                                   "format": "svg"}) as r:
        assert r.content_type == "image/svg+xml" and b"<svg" in await r.read()
    async with utility.http.get("/api/qr", params={"pos_id": POS_ID, "invoice_no": "nope"}) as r:
        assert r.status == 404
    async with utility.http.get("/api/qr", params={"pos_id": POS_ID}) as r:
        assert r.status == 400 and "invoice_no" in (await r.json())["errors"]
    async with utility.http.get("/api/invoices/K123456/none") as r:
        assert r.status == 404 and (await r.json())["status"] == 404
