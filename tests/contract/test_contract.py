"""One contract, three authorities: the utility against each sandbox over real HTTPS (KPRA RIMS,
the KRA Agent API, ProTax) through outages, server errors, lost answers, 401s, 429s and a
restart in the middle of a send. Whatever the authority, every sale ends recorded exactly once.

The KRA Agent and ProTax sales carry a line item the utility has not seen, so each first sale
also registers the item first (the KRA Agent's productSave / ProTax's POST /items)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from app.service.core import Core
from tests.conftest import wait_for
from tests.contract.upstreams import ALL, Upstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=list(ALL))
def upstream(request: pytest.FixtureRequest) -> Upstream:
    return ALL[request.param]


@pytest.fixture
async def sandbox(upstream: Upstream, tmp_path: Path) -> AsyncIterator[Any]:
    box = await upstream.start_sandbox(tmp_path / "sandbox")
    yield box
    await box.stop()


class Running:
    """The utility (a real Core: aiohttp on 127.0.0.1, SQLite, the writer process, the OS
    keyring) and a till's HTTP client."""

    def __init__(self, upstream: Upstream, sandbox: Any, data_dir: Path, **changes: object):
        self.upstream, self.sandbox, self.data_dir, self.changes = (
            upstream, sandbox, data_dir, changes)
        self.core: Core | None = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> Running:
        self.core = Core(self.upstream.settings(self.data_dir, self.sandbox, **self.changes))
        await self.core.start()
        self.http = aiohttp.ClientSession(base_url=self.core.base_url)
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.core is not None:
            await self.core.stop()
        self.http = self.core = None

    async def sell(self, number: str) -> None:
        assert self.http is not None
        async with self.http.post("/api/invoice", json=self.upstream.sale(number)) as response:
            body = await response.json()
            assert response.status == 201, body

    async def status_of(self, number: str) -> dict:
        assert self.http is not None
        path = f"/api/invoices/{quote(self.upstream.pos_id, safe='')}/{quote(number, safe='')}"
        async with self.http.get(path) as response:
            return (await response.json()).get("data") or {}

    async def state_is(self, number: str, *states: str) -> dict | None:
        data = await self.status_of(number)
        return data if data.get("state") in states else None

    async def synced(self, number: str, timeout: float = 30) -> dict:
        return await wait_for(lambda: self.state_is(number, "synced"), timeout=timeout,
                              what=f"{self.upstream.name}: {number} synced")

    async def health(self) -> dict:
        assert self.http is not None
        async with self.http.get("/api/health") as response:
            return (await response.json())["data"]


@pytest.fixture
async def utility(upstream: Upstream, sandbox: Any, tmp_path: Path) -> AsyncIterator[Running]:
    data_dir = tmp_path / "data"
    await upstream.configure(data_dir, sandbox)
    running = await Running(upstream, sandbox, data_dir).start()
    yield running
    await running.stop()
    assert_no_secret_in(data_dir, upstream.secrets())
    upstream.forget()


def assert_no_secret_in(folder: Path, secrets: list[str]) -> None:
    """No key, token or password in the database, the logs, the config or anything else the
    utility wrote (they belong in the OS keyring only)."""
    assert secrets, "the test knows the secrets it looks for"
    leaks = sorted({f"{path.relative_to(folder)}" for path in folder.rglob("*") if path.is_file()
                    for secret in secrets if secret.encode() in path.read_bytes()})
    assert leaks == [], f"a secret is written in {leaks}"


async def _warm_up(utility: Running) -> None:
    """A first sale, synced: the item is registered, tokens and connections are in place, so
    the fault armed next hits the sale itself."""
    await utility.sell("WARM-1")
    await utility.synced("WARM-1")


def _once(upstream: Upstream, sandbox: Any, numbers: list[str]) -> None:
    books = {n: upstream.recorded(sandbox, n) for n in numbers}
    assert set(books.values()) == {1}, f"{upstream.name}: times recorded per sale: {books}"


async def test_outage_then_recovery(upstream, sandbox, utility):
    await sandbox.set_down(True)
    numbers = [f"OUT-{i}" for i in range(20)]
    for number in numbers:
        await utility.sell(number)
    await wait_for(lambda: _reachable_is(utility, False), what="the authority seen as down")
    await sandbox.set_down(False)
    for number in numbers:
        await utility.synced(number)
    _once(upstream, sandbox, numbers)


async def _reachable_is(utility: Running, value: bool) -> bool:
    return (await utility.health())["upstream"]["reachable"] is value


async def test_server_errors_are_retried(upstream, sandbox, utility):
    await _warm_up(utility)
    sandbox.faults.fail_next = 4
    numbers = [f"E-{i}" for i in range(3)]
    for number in numbers:
        await utility.sell(number)
    for number in numbers:
        data = await utility.synced(number)
        assert data["attempts"][-1]["outcome"] == "accepted"
    _once(upstream, sandbox, numbers)
    statuses = [a["http_status"] for n in numbers for a in (await utility.status_of(n))["attempts"]]
    assert statuses.count(500) == 4, f"each 500 was seen and retried: {statuses}"


async def test_lost_answer_is_not_a_double(upstream, sandbox, utility):
    await _warm_up(utility)
    sandbox.faults.drop_next = 1
    await utility.sell("LOST-1")
    data = await utility.synced("LOST-1")
    outcomes = [a["outcome"] for a in data["attempts"]]
    assert outcomes[0] == "ambiguous", outcomes
    # KPRA and the KRA Agent get it again (KPRA answers "duplicate", the agent replays the
    # requestID's first answer); ProTax is asked whether it has it (GET /invoices) instead.
    assert upstream.received(sandbox, "LOST-1") == upstream.posts_after_lost_answer
    _once(upstream, sandbox, ["LOST-1"])
    if upstream.name != "kpra":  # KPRA's "duplicate" answer carries no transaction id
        assert data["transaction_id"], "the resend learnt the authority's id for it"


async def test_401_holds_until_the_pos_is_set_up_again(upstream, sandbox, utility):
    await _warm_up(utility)
    sandbox.faults.unauthorized_next = 1
    await utility.sell("AUTH-1")
    held = await wait_for(lambda: utility.state_is("AUTH-1", "held"), what="AUTH-1 held")
    assert held["last_status"] == 401
    await utility.sell("AUTH-2")
    assert (await utility.state_is("AUTH-2", "held")), "later sales of the POS wait too"
    assert upstream.received(sandbox, "AUTH-2") == 0
    await upstream.configure(utility.data_dir, sandbox)  # the shopkeeper fixes it (setup)
    await utility.synced("AUTH-1")
    await utility.synced("AUTH-2")
    _once(upstream, sandbox, ["AUTH-1", "AUTH-2"])


async def test_429_waits_as_asked(upstream, sandbox, utility):
    await _warm_up(utility)
    sandbox.faults.rate_limit_next = 1
    sandbox.faults.retry_after = 1.5  # "Retry-After: 2"
    await utility.sell("RL-1")
    data = await utility.synced("RL-1")
    attempts = data["attempts"]
    assert attempts[0]["http_status"] == 429 and attempts[0]["outcome"] == "retry_later"
    assert attempts[-1]["outcome"] == "accepted"
    started = _attempt_times(utility, "RL-1")
    waited = started[-1] - started[0]
    assert waited >= 2.0, f"sent again after {waited:.2f} s although Retry-After said 2 s"
    _once(upstream, sandbox, ["RL-1"])


def _attempt_times(utility: Running, number: str) -> list[float]:
    with sqlite3.connect(utility.data_dir / "rims.sqlite3") as connection:
        return [t for (t,) in connection.execute(
            "SELECT a.started_at FROM attempt a JOIN invoice i ON i.id = a.invoice_id "
            "WHERE i.invoice_no = ? ORDER BY a.id", (number,))]


async def test_restart_during_a_send(upstream, sandbox, utility):
    """The utility stops while the authority is still answering (it recorded the sale): the
    next start treats the send as ambiguous and makes sure it ends recorded once."""
    await _warm_up(utility)
    sandbox.faults.delay = 30.0  # the authority records, then answers slowly
    await utility.sell("R-1")
    await wait_for(lambda: utility.state_is("R-1", "sending"), what="R-1 being sent")
    await wait_for(lambda: upstream.received(sandbox, "R-1") == 1, what="R-1 reached it")
    await utility.stop()  # the send in flight is cut off after the grace period
    sandbox.faults.delay = 0.0
    await utility.start()
    data = await utility.synced("R-1")
    outcomes = [a["outcome"] for a in data["attempts"]]
    assert "interrupted" in outcomes, outcomes
    _once(upstream, sandbox, ["R-1"])
