"""Kenya's dependencies and follow-ups, over real HTTPS against each Kenya sandbox: an item is
registered before the first sale that uses it, a credit note waits until its original invoice
is accepted and then goes out, a document signed later is asked about again until it is, and
the KRA Agent's access token is refreshed when it expires.

The sandboxes refuse what comes out of order (a sale with an unregistered item, a credit note
for an invoice they do not have), so "all synced, each recorded once" also proves the order."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from app import keystore
from tests.conftest import wait_for
from tests.contract.harness import Running
from tests.contract.upstreams import ALL, Upstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["kra-agent", "protax"])
def upstream(request: pytest.FixtureRequest) -> Upstream:
    return ALL[request.param]


async def _post(utility: Running, route: str, body: dict) -> dict:
    assert utility.http is not None
    async with utility.http.post(route, json=body) as response:
        answer = await response.json()
        assert response.status == 201, answer
        return answer["data"]


def _rows(utility: Running) -> dict[str, tuple[str, float | None, int]]:
    """invoice_no → (state, synced_at, attempts), straight from the database."""
    with sqlite3.connect(utility.data_dir / "rims.sqlite3") as connection:
        return {number: (state, synced_at, attempts) for number, state, synced_at, attempts in
                connection.execute("SELECT invoice_no, state, synced_at, attempts FROM invoice")}


async def test_item_first_and_credit_note_after_its_original(upstream, sandbox, utility):
    await sandbox.set_down(True)
    await utility.sell("S-1")
    credit = await _post(utility, "/api/credit-note", {
        **upstream.till_auth(), "credit_note_no": "CN-1", "original_invoice_no": "S-1",
        "reason": "Goods returned", "date_time": "2026-11-20 11:00:00"})
    assert credit["state"] == "queued"
    await wait_for(lambda: _rows(utility)["item:KE1NTXU0000013"][2] >= 2,
                   what="the item's registration tried (and retried) while the line is down")
    rows = _rows(utility)
    assert rows["S-1"][2] == 0, "the sale is not sent before its item is registered"
    assert rows["cn:CN-1"][2] == 0, "the credit note is not sent before its original"
    waiting = await utility.status_of("cn:CN-1")
    assert waiting["state"] == "queued"

    await sandbox.set_down(False)
    await utility.synced("cn:CN-1")
    rows = _rows(utility)
    item_at, sale_at, credit_at = (rows[n][1] for n in ("item:KE1NTXU0000013", "S-1",
                                                          "cn:CN-1"))
    assert item_at <= sale_at <= credit_at, rows
    assert upstream.recorded(sandbox, "S-1") == 1
    if upstream.name == "kra-agent":
        records = sandbox.records()
        assert [p["itemCd"] for p in records["products"]] == ["KE1NTXU0000013"]
        [note] = records["credit_notes"]
        [sale] = records["sales"]
        assert note["orgInvcNo"] == sale["invcNo"], "the credit note names its original"
    else:
        records = sandbox.records()
        assert len(records["item"]) == 2  # the document's example item, and ours
        [note] = records["credit_note"]
        [sale] = [r for r in records["invoice"] if r.get("invoice_number") == "S-1"]
        assert note["original_invoice_id"] == sale["id"], "the credit note names its original"


async def test_a_document_signed_later_is_asked_about_again(upstream, sandbox, utility):
    if upstream.name == "kra-agent":
        sandbox.set_pending_sales(1, after_shows=2)  # "not_completed" until asked twice
    else:
        sandbox.apply_settings({"processing_next": 1, "processing_polls": 2})  # PROCESSING
    await utility.sell("LATE-1")
    data = await utility.synced("LATE-1")
    outcomes = [a["outcome"] for a in data["attempts"]]
    assert outcomes[0] == "submitted" and outcomes[-1] == "accepted", outcomes
    assert data["receipt_url"], "the receipt link arrives with the signature"
    assert upstream.recorded(sandbox, "LATE-1") == 1
    assert upstream.received(sandbox, "LATE-1") == 1, "asked about, never posted again"


async def test_kra_agent_token_is_refreshed_when_it_expires(tmp_path):
    upstream = ALL["kra-agent"]
    from app.sandbox.kra_agent import DEFAULT_EMAIL, KraAgentSandbox

    sandbox = KraAgentSandbox(tmp_path / "sandbox", token_lifetime=2.0)
    await sandbox.start()
    try:
        data_dir = tmp_path / "data"
        await upstream.configure(data_dir, sandbox)
        first = json.loads(keystore.load_key("kra-agent", "account", DEFAULT_EMAIL))
        utility = await Running(upstream, sandbox, data_dir).start()
        try:
            await utility.sell("TOK-1")
            await utility.synced("TOK-1")
            await asyncio.sleep(2.5)  # the access token from setup has expired by now
            await _post(utility, "/api/credit-note", {
                **upstream.till_auth(), "credit_note_no": "TOK-CN", "reason": "Returned",
                "original_invoice_no": "TOK-1", "date_time": "2026-11-20 11:00:00"})
            data = await utility.synced("cn:TOK-CN")
            assert [a["http_status"] for a in data["attempts"]] == [200], data["attempts"]
        finally:
            await utility.stop()
        now = json.loads(keystore.load_key("kra-agent", "account", DEFAULT_EMAIL))
        assert now["access_token"] != first["access_token"], "a new token was kept"
        assert now["refresh_token"] != first["refresh_token"]
        secrets = [first["access_token"], now["access_token"], now["refresh_token"],
                   first["password"]]
        leaks = [p.name for p in data_dir.rglob("*") if p.is_file()
                 for secret in secrets if secret.encode() in p.read_bytes()]
        assert leaks == [], "a token or password in the data folder (database, logs, config)"
    finally:
        await sandbox.stop()
        upstream.forget()
