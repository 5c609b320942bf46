"""The sandbox's chaos faults over real HTTPS: what a client sees, what the sandbox records."""

import ssl

import aiohttp
import pytest

from app.sandbox.kpra import KpraSandbox
from tests.conftest import wait_for
from tests.integration.conftest import KEY, NTN, POS_ID

BODY = {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "amount": 200, "sales_tax": 10,
        "tax_rate": 5, "total_amount": 210, "date": "2026-11-21 10:00:00"}


def _session(sandbox: KpraSandbox) -> aiohttp.ClientSession:
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, force_close=True))


async def _post(http: aiohttp.ClientSession, sandbox: KpraSandbox, number: str,
                timeout: float = 10.0) -> int:
    async with http.post(sandbox.endpoint_url, json={**BODY, "invoice_no": number},
                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        await response.read()
        return response.status


async def test_reset_breaks_the_connection_before_anything_is_recorded(sandbox):
    sandbox.faults.chaos = {"reset": 1.0}
    async with _session(sandbox) as http:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _post(http, sandbox, "R-1")
        assert sandbox.records() == {}
        assert sandbox.received_count(POS_ID, "R-1") == 1, "it arrived, and counts as a send"
        sandbox.faults.chaos = {}
        assert await _post(http, sandbox, "R-1") == 201
    assert sandbox.faults.dealt()["reset"] == 1


async def test_timeout_holds_the_request_then_records_it_anyway(sandbox):
    sandbox.faults.apply({"chaos": {"timeout": 1.0}, "chaos_timeout": 0.6})
    async with _session(sandbox) as http:
        with pytest.raises(TimeoutError):
            await _post(http, sandbox, "T-1", timeout=0.2)
        assert sandbox.in_flight == 1 and sandbox.records() == {}
        await wait_for(lambda: (POS_ID, "T-1") in sandbox.records(), timeout=5,
                       what="the held request to be recorded after the client gave up")
        await wait_for(lambda: sandbox.in_flight == 0, timeout=5, what="the handler to end")


async def test_drop_fail_and_rate_limit_from_the_table(sandbox):
    async with _session(sandbox) as http:
        sandbox.faults.chaos = {"drop": 1.0}
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await _post(http, sandbox, "D-1")
        assert (POS_ID, "D-1") in sandbox.records(), "handled, the answer lost"
        sandbox.faults.chaos = {"fail": 1.0}
        assert await _post(http, sandbox, "F-1") == 500
        sandbox.faults.apply({"chaos": {"rate_limit": 1.0}, "retry_after": 2})
        assert await _post(http, sandbox, "L-1") == 429
        assert set(sandbox.records()) == {(POS_ID, "D-1")}


async def test_chaos_is_armed_and_reported_through_the_control_port(sandbox):
    async with aiohttp.ClientSession() as http:
        url = f"{sandbox.control_url}/faults"
        async with http.post(url, json={"chaos": {"fail": 0.5, "slow": 0.1},
                                        "chaos_seed": 3}) as response:
            plan = await response.json()
        assert response.status == 200
        assert plan["chaos"] == {"fail": 0.5, "slow": 0.1} and plan["chaos_seed"] == 3
        async with http.post(url, json={"chaos": {"fail": 2}}) as response:
            assert response.status == 400
            assert "probability" in (await response.json())["error"]
        async with http.get(sandbox.control_url) as response:
            status = await response.json()
        assert status["faults"]["chaos"] == {"fail": 0.5, "slow": 0.1}
        assert status["chaos_dealt"] == {"fail": 0, "reset": 0, "drop": 0, "rate_limit": 0,
                                         "timeout": 0, "slow": 0}
        async with http.post(url, json={"reset": True}) as response:
            assert (await response.json())["chaos"] == {}
