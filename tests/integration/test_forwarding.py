"""The forwarder against the sandbox's faults, over real HTTPS: nothing lost, nothing doubled."""

import asyncio
import time

from app.store import repository
from app.store.database import open_database
from tests.conftest import wait_for
from tests.integration.conftest import KEY, NTN, POS_ID, Utility, configure_pos, invoice


async def _all_synced(utility: Utility, numbers: list[str]) -> bool:
    health = await utility.health()
    return health["counts"]["synced"] == len(numbers)


async def _post_all(utility: Utility, numbers: list[str]) -> None:
    results = await asyncio.gather(*(utility.post(invoice(n)) for n in numbers))
    bad = [(n, s, a) for n, (s, a, _) in zip(numbers, results, strict=True) if s != 201]
    assert not bad, bad[:3]


async def test_outage_then_recovery_sends_each_invoice_exactly_once(utility, sandbox):
    await sandbox.set_down(True)
    numbers = [f"OUT-{i}" for i in range(200)]
    await _post_all(utility, numbers)
    await wait_for(lambda: _reachable_is(utility, False), what="upstream seen as unreachable")
    health = await utility.health()
    assert health["counts"]["queued"] + health["counts"]["sending"] == 200
    await sandbox.set_down(False)
    await wait_for(lambda: _all_synced(utility, numbers), timeout=30, what="all 200 synced")
    counts = [sandbox.received_count(POS_ID, n) for n in numbers]
    assert counts == [1] * 200, f"sends per invoice: {sorted(set(counts))}"


async def _reachable_is(utility: Utility, value: bool) -> bool:
    return (await utility.health())["upstream"]["reachable"] is value


async def test_burst_of_500_concurrent_posts_all_sync_once(utility, sandbox):
    numbers = [f"B-{i}" for i in range(500)]
    await _post_all(utility, numbers)
    await wait_for(lambda: _all_synced(utility, numbers), timeout=60, what="500 synced")
    assert all(sandbox.received_count(POS_ID, n) == 1 for n in numbers)
    assert len(sandbox.records()) == 500
    # Connections are kept alive and bounded: no TLS handshake per invoice.
    assert utility.core is not None
    assert 1 <= sandbox.connections_seen <= utility.core.settings.send_concurrency, (
        sandbox.connections_seen)


async def test_burst_of_server_errors_is_retried_until_synced(utility, sandbox):
    sandbox.faults.fail_next = 25
    numbers = [f"E-{i}" for i in range(10)]
    await _post_all(utility, numbers)
    await wait_for(lambda: _all_synced(utility, numbers), timeout=30, what="synced after 500s")
    assert all(sandbox.received_count(POS_ID, n) >= 1 for n in numbers)
    attempts = (await utility.status_of("E-0"))["attempts"]
    assert attempts[-1]["outcome"] == "accepted"


async def test_answer_lost_after_recording_ends_synced_without_a_double(utility, sandbox):
    sandbox.faults.drop_next = 1
    await utility.post(invoice("LOST-1"))
    data = await wait_for(lambda: _state_is(utility, "LOST-1", "synced"), what="LOST-1 synced")
    outcomes = [a["outcome"] for a in data["attempts"]]
    assert outcomes[0] == "ambiguous" and outcomes[-1] == "already_recorded", outcomes
    assert len(sandbox.records()) == 1, "KPRA holds the invoice once"
    assert sandbox.received_count(POS_ID, "LOST-1") == 2, "one resend, after the ambiguous send"


async def test_answer_lost_with_ignoring_duplicates_keeps_the_transaction_id(utility, sandbox):
    sandbox.duplicates = "ignore"
    sandbox.faults.drop_next = 1
    await utility.post(invoice("LOST-2"))
    data = await wait_for(lambda: _state_is(utility, "LOST-2", "synced"), what="LOST-2 synced")
    assert data["transaction_id"] == str(sandbox.records()[(POS_ID, "LOST-2")].transaction_id)


async def _state_is(utility: Utility, number: str, state: str) -> dict | None:
    data = await utility.status_of(number)
    return data if data.get("state") == state else None


async def test_401_holds_the_pos_until_setup_fixes_it(utility, sandbox):
    sandbox.faults.unauthorized_next = 1
    await utility.post(invoice("H-1"))
    data = await wait_for(lambda: _state_is(utility, "H-1", "held"), what="H-1 held")
    assert "key" in data["last_error"] and "setup" in data["last_error"]
    await utility.post(invoice("H-2"))
    health = await utility.health()
    assert [p["pos_id"] for p in health["held_pos"]] == [POS_ID]
    assert (await utility.status_of("H-2"))["state"] == "held", "new invoices wait too"
    assert sandbox.received_count(POS_ID, "H-2") == 0

    configure_pos(utility.data_dir)  # what `rims-utility setup` does after the key is fixed
    await wait_for(lambda: _state_is(utility, "H-2", "synced"), what="H-2 synced after setup")
    await wait_for(lambda: _state_is(utility, "H-1", "synced"), what="H-1 synced after setup")
    assert (await utility.health())["held_pos"] == []


async def test_wrong_key_in_keyring_is_held_with_the_reason(tmp_path, sandbox):
    data_dir = tmp_path / "data"
    configure_pos(data_dir, ntn="N-WRONG", pos_id="P-WRONG", key="not-the-authoritys-key")
    running = await Utility(data_dir, sandbox).start()
    try:
        status, _, _ = await running.post(invoice("W-1", ntn="N-WRONG", pos_id="P-WRONG",
                                                  key="not-the-authoritys-key"))
        assert status == 201, "the utility accepts what it was configured with"
        data = await wait_for(lambda: _held(running, "W-1", "P-WRONG"), what="held")
        assert data["last_status"] == 401
    finally:
        await running.stop()


async def _held(utility: Utility, number: str, pos_id: str) -> dict | None:
    data = await utility.status_of(number, pos_id)
    return data if data.get("state") == "held" else None


async def test_429_waits_for_retry_after(utility, sandbox):
    sandbox.faults.rate_limit_next = 1
    sandbox.faults.retry_after = 1.5  # sent as "Retry-After: 2"
    await utility.post(invoice("RL-1"))
    data = await wait_for(lambda: _state_is(utility, "RL-1", "synced"), what="RL-1 synced")
    assert [a["http_status"] for a in data["attempts"]] == [429, 201]
    assert data["attempts"][0]["outcome"] == "retry_later"
    started = _attempt_times(utility, "RL-1")
    waited = started[1] - started[0]
    assert waited >= 2.0, f"retried after {waited:.2f} s although Retry-After said 2 s"
    assert waited < 5.0, f"waited {waited:.2f} s, far longer than asked"
    assert len(sandbox.records()) == 1


def _attempt_times(utility: Utility, number: str) -> list[float]:
    import sqlite3
    with sqlite3.connect(utility.data_dir / "rims.sqlite3") as connection:
        return [t for (t,) in connection.execute(
            "SELECT a.started_at FROM attempt a JOIN invoice i ON i.id = a.invoice_id "
            "WHERE i.invoice_no = ? ORDER BY a.id", (number,))]


async def test_rows_left_sending_at_startup_are_resent_safely(tmp_path, sandbox):
    """A crash while sending: the next start treats the row as ambiguous and resends;
    KPRA's duplicate answer then means synced."""
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    first = await Utility(data_dir, sandbox, sending_paused=True).start()
    await first.post(invoice("S-1"))
    await first.post(invoice("S-2"))
    await first.stop()
    # Simulate the crash: S-1 reached KPRA (recorded) and S-2 did not; both rows say `sending`.
    database = open_database(data_dir / "rims.sqlite3")
    with database.connection_context(), database.atomic():
        claimed = repository.claim_due(database, time.time() + 1, 10)
    database.close()
    assert {c.invoice_no for c in claimed} == {"S-1", "S-2"}
    await _send_directly(sandbox, "S-1")

    second = await Utility(data_dir, sandbox).start()
    try:
        s1 = await wait_for(lambda: _state_is(second, "S-1", "synced"), what="S-1 synced")
        s2 = await wait_for(lambda: _state_is(second, "S-2", "synced"), what="S-2 synced")
        assert [a["outcome"] for a in s1["attempts"]] == ["interrupted", "already_recorded"]
        assert [a["outcome"] for a in s2["attempts"]] == ["interrupted", "accepted"]
        assert s2["transaction_id"] is not None
        assert len(sandbox.records()) == 2
    finally:
        await second.stop()


async def _send_directly(sandbox, number: str) -> None:
    import ssl

    import aiohttp

    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    body = {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "invoice_no": number, "amount": 200,
            "sales_tax": 10, "tax_rate": 5, "total_amount": 210, "date": "2026-11-21 10:00:00"}
    async with aiohttp.ClientSession() as http, http.post(
            sandbox.endpoint_url, json=body, ssl=context) as response:
        assert response.status == 201


async def test_an_unexpected_error_in_the_sending_loop_does_not_stop_sending(
        utility, monkeypatch, caplog):
    """Intake keeps answering 201 whatever happens to the sending loop, so the loop must never
    end silently: it is logged and started again (fault injected into one of its steps)."""
    from app.service import core as core_module
    from app.sync.forwarder import Forwarder

    monkeypatch.setattr(core_module, "FORWARDER_RESTART_DELAY", 0.05)
    real_step = Forwarder._step
    failures = []

    async def failing_once(self):
        if not failures:
            failures.append(1)
            raise RuntimeError("injected fault in the sending loop")
        await real_step(self)

    monkeypatch.setattr(Forwarder, "_step", failing_once)
    utility.core.forwarder.wake()
    await wait_for(lambda: failures, what="the injected fault to happen")
    status, _, _ = await utility.post(invoice("AFTER-FAULT-1"))
    assert status == 201
    await wait_for(lambda: _has_state(utility, "AFTER-FAULT-1", "synced"),
                   what="AFTER-FAULT-1 synced after the loop restarted")
    assert "sending loop stopped unexpectedly" in caplog.text


async def _has_state(utility, number: str, wanted: str) -> bool:
    return await utility.state_of(number) == wanted
