"""One contract, three authorities: the utility against each sandbox over real HTTPS (KPRA RIMS,
the KRA Agent API, ProTax) through outages, server errors, lost answers, 401s, 429s and a
restart in the middle of a send. Whatever the authority, every sale ends recorded exactly once.

The KRA Agent and ProTax sales carry a line item the utility has not seen, so each first sale
also registers the item first (the KRA Agent's productSave / ProTax's POST /items)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.contract.harness import Running
from tests.contract.upstreams import ALL, Upstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=list(ALL))
def upstream(request: pytest.FixtureRequest) -> Upstream:
    return ALL[request.param]


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
