"""Crash harness: a real `rims-utility serve` process, 12 tills posting at once, `kill -9` at
random moments, restart, again. DESIGN.md's first promise under test: a 201 means the invoice is
on disk and will reach KPRA, through crashes; and nothing reaches KPRA twice unless the utility
could not know whether the first send got there.

What a cycle does:
1. start `serve` (same data folder, same port, the same in-process sandbox over real HTTPS; the
   sandbox lives in the test process, so it outlives every kill);
2. wait for a randomly chosen moment: k more 201s; or j more requests reaching KPRA (then sends
   are in flight: KPRA's answers are slow on purpose so the kill lands inside them); or right
   after start-up (while it recovers from the last crash); or while it boots (writer process
   started, port not served yet);
3. kill it: usually the whole process group at once (service and writer process: a power cut),
   sometimes only the service (its writer process must notice and exit by itself), sometimes
   only the writer process (the service must start a new one and carry on; no restart then);
4. read the database file directly, read-only: every invoice that got a 201 is there; the file
   passes `PRAGMA quick_check`; nothing synced went back.
KPRA also fails now and then (500s, resets, lost answers: 2 % each), never with a 429.

At the end the tills finish, the utility drains the queue and stops cleanly, and the audit
checks every acknowledged invoice: synced, recorded once by KPRA, sent more than once only after
an ambiguous send (`interrupted` by a crash, or `ambiguous`).

Short mode (default, CI): 5 cycles, one of each kind of kill and moment. Long mode:
`pytest --cycles 50 tests/reliability`, which also writes docs/reliability-last-run.json. The seed
is printed; RIMS_RELIABILITY_SEED=N replays the same choices (timing still varies).

`kill -9` is not a real power cut: the OS page cache survives it, so this proves the ordering
(answer after commit, recovery of `sending` rows), not that the disk honours fsync.
"""

import asyncio
import os
import random
import sys
import time
from pathlib import Path

import pytest

from app.sandbox.kpra import KpraSandbox
from tests.conftest import wait_for
from tests.integration.conftest import configure_pos
from tests.integration.test_cli import free_port
from tests.reliability.harness import (
    DbInvoice,
    ServeProcess,
    Tills,
    audit,
    histogram_table,
    read_database,
    write_fast_config,
    write_figures,
)

TILLS = 12
# A few upstream faults too (no 429: without "not now" answers, every resend must follow an
# ambiguous send), and slow answers so that sends are in flight when a kill comes.
UPSTREAM = {"fail": 0.02, "reset": 0.02, "drop": 0.02, "slow": 0.35}
# When to kill: after k more 201s, after j more requests at KPRA, right after start-up (while
# it recovers from the last crash), or while it boots (writer started, port not yet served).
MOMENTS = ["acks", "upstream", "startup", "boot"]
KILLS = ["power cut", "service only", "writer only"]
FIRST_CYCLES = [("upstream", "power cut"), ("acks", "service only"), ("startup", "power cut"),
                ("boot", "power cut"), ("upstream", "writer only")]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="kills process groups and reads /proc")


async def test_kill_minus_9_at_random_moments_loses_nothing(tmp_path, sandbox: KpraSandbox,
                                                            cycles, long_mode, report):
    seed = int(os.environ.get("RIMS_RELIABILITY_SEED") or random.SystemRandom().randrange(10**9))
    rng = random.Random(seed)
    print(f"crash harness seed {seed} (replay: RIMS_RELIABILITY_SEED={seed})")
    sandbox.faults.apply({"chaos": UPSTREAM, "chaos_slow_max": 0.05, "chaos_seed": seed})
    data_dir = tmp_path / "data"
    write_fast_config(data_dir)
    configure_pos(data_dir)
    serve = ServeProcess(data_dir, free_port(), sandbox, tmp_path / "serve.log")
    tills = Tills(serve.base_url, TILLS, "CR", seed=seed)
    started = time.monotonic()
    rows: list[dict] = []
    synced_before: set[str] = set()
    try:
        tills.start()
        for cycle in range(1, cycles + 1):
            if cycle <= len(FIRST_CYCLES):  # every kind of kill, even in the short mode
                moment, how = FIRST_CYCLES[cycle - 1]
            else:
                moment = rng.choices(MOMENTS, weights=[10, 8, 1, 1])[0]
                how = rng.choices(KILLS, weights=[14, 3, 3])[0]
                if how == "writer only" and moment == "boot":
                    how = "power cut"  # (a writer killed while serve boots: serve exits 1)
            if not serve.running:  # (it is after a "writer only" kill)
                await serve.start(booting=moment == "boot")
            acks, requests = len(tills.acknowledged), sandbox.total_requests
            target = 0
            if moment == "acks":
                target = rng.randint(1, 300)
                await wait_for(lambda t=target, a=acks: len(tills.acknowledged) >= a + t,
                               timeout=60, interval=0.002,
                               what=f"cycle {cycle}: {target} more 201s (tills: {tills.total})")
            elif moment == "upstream":
                target = rng.randint(1, 150)
                await wait_for(lambda t=target, r=requests: sandbox.total_requests >= r + t,
                               timeout=60, interval=0.002,
                               what=f"cycle {cycle}: {target} more requests at the sandbox "
                                    f"({serve.log_tail(5)})")
            in_flight = sandbox.in_flight
            if how == "power cut":
                await serve.power_cut()
            elif how == "service only":
                await serve.kill_service_only()
            else:
                await serve.kill_writer_only()  # the service carries on with a new writer
            acknowledged = dict(tills.acknowledged)  # every 201 so far (each after its commit)
            database = await _read(data_dir)
            lost = sorted(set(acknowledged) - set(database))
            assert not lost, (f"cycle {cycle} (seed {seed}): {len(lost)} acknowledged "
                              f"invoice(s) missing after kill -9, e.g. {lost[:10]}")
            synced = {n for n, row in database.items() if row.state == "synced"}
            went_back = sorted(synced_before - synced)
            assert not went_back, f"cycle {cycle}: synced invoices went back: {went_back[:10]}"
            synced_before = synced
            rows.append({
                "cycle": cycle, "moment": f"{moment} {target}".strip(), "kill": how,
                "acknowledged": len(acknowledged), "stored": len(database),
                "synced": len(synced), "sends_in_flight_at_kill": in_flight,
                "sending_at_kill": sum(r.state == "sending" for r in database.values()),
            })

        # The last start: the tills finish their invoices, the queue drains, a clean stop.
        if not serve.running:
            await serve.start()
        tills.stop()
        await tills.finished(timeout=60, what="after the last restart")
        expected = set(tills.acknowledged)
        await wait_for(lambda: _all_synced(data_dir, expected), timeout=120, interval=0.25,
                       what=f"all {len(expected)} acknowledged invoices synced after the last "
                            f"restart ({serve.log_tail(5)})")
        exit_code = await serve.terminate()
        assert exit_code == 0, f"serve exited with {exit_code} on SIGTERM:\n{serve.log_tail()}"
        await wait_for(lambda: sandbox.in_flight == 0, timeout=10,
                       what="the sandbox to finish its last requests")
    finally:
        await tills.close()
        serve.close()

    elapsed = time.monotonic() - started
    database = await _read(data_dir)
    result = audit(tills.acknowledged, database, sandbox)
    stats = tills.total
    assert not stats.unexpected, f"tills got answers other than 201/503: {stats.unexpected[:5]}"
    assert not result.problems, (f"seed {seed}: {len(result.problems)} problem(s):\n"
                                 + "\n".join(result.problems[:30]))
    interrupted = result.outcomes["interrupted"]
    summary = [
        f"Crash harness (seed {seed}): {cycles} kill -9 cycles, {TILLS} tills, "
        f"{elapsed:.0f} s",
        f"- invoices acknowledged (201): {result.acknowledged}; lost: 0; "
        f"all synced: {result.acknowledged}",
        f"- till posts {stats.posts} (503 {stats.refused_503}, connection errors "
        f"{stats.connection_errors}, timeouts {stats.timeouts}, replayed 201s {stats.replayed})",
        f"- attempts: {dict(sorted(result.outcomes.items()))}; sends interrupted by a kill: "
        f"{interrupted}; invoices sent more than once: {result.resent_after_ambiguous} "
        "(each after an ambiguous send)",
        f"- synced without a transaction id (KPRA's duplicate answer names none): "
        f"{result.without_transaction_id}",
        "",
        *histogram_table(result.sends),
        "",
        "| cycle | kill moment | kill | acknowledged so far | sends in flight | rows `sending` |",
        "|---:|---|---|---:|---:|---:|",
        *(f"| {r['cycle']} | {r['moment']} | {r['kill']} | {r['acknowledged']} | "
          f"{r['sends_in_flight_at_kill']} | {r['sending_at_kill']} |" for r in rows),
    ]
    report(*summary)
    if long_mode:
        figures = {
            "test": "crash harness", "seed": seed, "cycles": cycles, "tills": TILLS,
            "seconds": round(elapsed, 1), "acknowledged": result.acknowledged, "lost": 0,
            "sends_per_invoice": {str(k): v for k, v in sorted(result.sends.items())},
            "attempt_outcomes": dict(sorted(result.outcomes.items())),
            "till_posts": stats.posts, "till_503": stats.refused_503,
            "till_connection_errors": stats.connection_errors, "till_replayed": stats.replayed,
            "synced_without_transaction_id": result.without_transaction_id,
            "cycle_rows": rows,
        }
        write_figures("crash_harness", figures)


async def _read(data_dir: Path) -> dict[str, DbInvoice]:
    return await asyncio.to_thread(read_database, data_dir / "rims.sqlite3")


async def _all_synced(data_dir: Path, expected: set[str]) -> bool:
    database = await _read(data_dir)
    return set(database) >= expected and all(row.state == "synced" for row in database.values())

