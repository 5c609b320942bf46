"""Upstream chaos: KPRA misbehaving at random (a seeded schedule from the sandbox's chaos mode) while
16 tills post 2,000 invoices. In the end every invoice is `synced`, none lost, none `rejected`,
and none reached KPRA again after KPRA recorded it unless a send of it was ambiguous.

The schedule, per request: 500 (8 %), connection reset before KPRA handles it (4 %), answer lost
after KPRA handled it (4 %), held longer than the utility waits, then handled (3 %: a timeout),
429 with `Retry-After: 1` (1 %); independently a slow answer of up to 0.2 s (20 %).

The utility runs in-process (the `Utility` of the integration tests) with the tests' fast retry
settings and a 0.5 s read timeout. The full 2,000 invoices run in CI (15-20 s on two cores);
the long mode (`--cycles N`) sends 10,000. The seed is printed, and RIMS_RELIABILITY_SEED=N
replays a schedule (which invoice meets which fault still depends on timing)."""

import os
import random
import time

from app.sandbox.kpra import KpraSandbox
from tests.conftest import wait_for
from tests.integration.conftest import Utility, configure_pos
from tests.reliability.harness import (
    INCONCLUSIVE,
    Tills,
    audit,
    histogram_table,
    read_database,
    write_figures,
)

INVOICES = 2000
LONG_INVOICES = 10_000
TILLS = 16
CHAOS = {"fail": 0.08, "reset": 0.04, "drop": 0.04, "timeout": 0.03, "rate_limit": 0.01,
         "slow": 0.20}
READ_TIMEOUT = 0.5


async def test_random_upstream_faults_end_with_every_invoice_synced_once(
        tmp_path, sandbox: KpraSandbox, long_mode, report):
    seed = int(os.environ.get("RIMS_RELIABILITY_SEED") or random.SystemRandom().randrange(10**9))
    print(f"upstream chaos seed {seed} (replay: RIMS_RELIABILITY_SEED={seed})")
    invoices = LONG_INVOICES if long_mode else INVOICES
    sandbox.faults.apply({"chaos": CHAOS, "chaos_seed": seed, "chaos_slow_max": 0.2,
                          "chaos_timeout": 2 * READ_TIMEOUT, "retry_after": 1.0})
    data_dir = tmp_path / "data"
    configure_pos(data_dir)
    utility = await Utility(data_dir, sandbox, connect_timeout=1.0,
                            read_timeout=READ_TIMEOUT).start()
    assert utility.core is not None
    tills = Tills(utility.core.base_url, TILLS, "CH", limit=invoices, seed=seed)
    started = time.monotonic()
    try:
        tills.start()
        await tills.finished(timeout=60 + invoices / 50, what="posting to a healthy utility")
        posted = time.monotonic() - started
        assert len(tills.acknowledged) == invoices, tills.total
        await wait_for(lambda: _synced_count(utility, invoices, seed), timeout=60 + invoices / 20,
                       interval=0.25,
                       what=f"all {invoices} invoices synced (seed {seed})")
        drained = time.monotonic() - started
    finally:
        await tills.close()
        await utility.stop()
    await wait_for(lambda: sandbox.in_flight == 0, timeout=10,
                   what="requests the sandbox was holding to be handled")
    database = read_database(data_dir / "rims.sqlite3")
    result = audit(tills.acknowledged, database, sandbox, resend_after=INCONCLUSIVE)
    stats = tills.total
    dealt = sandbox.faults.dealt()
    assert not stats.unexpected, f"tills got answers other than 201: {stats.unexpected[:5]}"
    assert not result.problems, (f"seed {seed}: {len(result.problems)} problem(s):\n"
                                 + "\n".join(result.problems[:30]))
    assert dealt["fail"] and dealt["reset"] and dealt["drop"] and dealt["timeout"], dealt
    assert result.outcomes["already_recorded"] > 0, "no lost answer was ever resent"
    summary = [
        f"Upstream chaos (seed {seed}): {invoices} invoices from {TILLS} tills, all synced "
        f"{drained:.0f} s after the first post (posting took {posted:.1f} s)",
        f"- requests at the sandbox: {sandbox.total_requests}; chaos dealt: {dealt}",
        f"- attempts: {dict(sorted(result.outcomes.items()))}",
        f"- sent more than once: {result.resent_after_ambiguous} after an ambiguous send, "
        f"{result.resent_after_retry_later} only after 429s; lost 0, rejected 0",
        f"- synced without a transaction id (KPRA's duplicate answer names none): "
        f"{result.without_transaction_id}",
        "",
        *histogram_table(result.sends),
    ]
    report(*summary)
    if long_mode:
        write_figures("upstream_chaos", {
            "seed": seed, "invoices": invoices, "tills": TILLS, "chaos": CHAOS,
            "seconds": round(drained, 1), "sandbox_requests": sandbox.total_requests,
            "chaos_dealt": dealt, "attempt_outcomes": dict(sorted(result.outcomes.items())),
            "sends_per_invoice": {str(k): v for k, v in sorted(result.sends.items())},
            "lost": 0, "rejected": 0,
            "synced_without_transaction_id": result.without_transaction_id,
        })


async def _synced_count(utility: Utility, expected: int, seed: int) -> bool:
    counts = (await utility.health())["counts"]
    assert counts["rejected"] == 0 and counts["held"] == 0, f"seed {seed}: {counts}"
    return counts["synced"] == expected
