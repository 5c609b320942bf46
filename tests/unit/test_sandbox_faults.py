"""The sandbox's fault plan (app/sandbox/faults.py): the seeded random "chaos" mode."""

import threading
from collections import Counter

import pytest

from app.sandbox.faults import CHAOS_KINDS, Fault, FaultDecision, FaultPlan

TABLE = {"fail": 0.1, "reset": 0.05, "drop": 0.05, "rate_limit": 0.05, "timeout": 0.05,
         "slow": 0.2}


def _decisions(plan: FaultPlan, count: int) -> list[FaultDecision]:
    return [plan.take() for _ in range(count)]


def test_chaos_is_off_by_default_and_after_reset():
    plan = FaultPlan()
    assert plan.chaos == {} and plan.snapshot()["chaos"] == {}
    assert set(_decisions(plan, 200)) == {FaultDecision(Fault.NONE, 0.0, 1.0, 0.0)}
    plan.apply({"chaos": {"fail": 1.0}})
    assert plan.take().fault is Fault.FAIL
    plan.reset()
    assert plan.take().fault is Fault.NONE
    assert plan.dealt() == dict.fromkeys(CHAOS_KINDS, 0)


def test_the_same_seed_deals_the_same_schedule():
    first, second, other = FaultPlan(), FaultPlan(), FaultPlan()
    first.apply({"chaos": TABLE, "chaos_seed": 1234})
    second.apply({"chaos_seed": 1234, "chaos": TABLE})  # order of the fields does not matter
    other.apply({"chaos": TABLE, "chaos_seed": 1235})
    schedule = _decisions(first, 500)
    assert _decisions(second, 500) == schedule
    assert _decisions(other, 500) != schedule
    first.chaos_seed = 1234  # assigning the seed starts the sequence afresh
    assert _decisions(first, 500) == schedule


def test_frequencies_follow_the_table_and_are_counted():
    plan = FaultPlan()
    plan.apply({"chaos": TABLE, "chaos_seed": 99, "chaos_timeout": 3.0, "chaos_slow_max": 0.25,
                "retry_after": 0.0})
    decisions = _decisions(plan, 20_000)
    faults = Counter(d.fault for d in decisions)
    held = [d for d in decisions if d.hold > 0]
    slow = [d for d in decisions if d.delay > 0]
    observed = {
        "fail": faults[Fault.FAIL], "reset": faults[Fault.RESET], "drop": faults[Fault.DROP],
        "rate_limit": faults[Fault.RATE_LIMIT], "timeout": len(held), "slow": len(slow),
    }
    assert plan.dealt() == observed
    for kind, probability in TABLE.items():
        expected = probability * len(decisions)
        assert abs(observed[kind] - expected) < 5 * expected**0.5, (kind, observed)
    assert all(d.hold == 3.0 and d.fault is Fault.NONE for d in held)
    assert all(0 < d.delay <= 0.25 for d in slow)
    assert all(d.retry_after_header == "0" for d in decisions if d.fault is Fault.RATE_LIMIT)


def test_counted_faults_and_down_come_before_chaos():
    plan = FaultPlan()
    plan.apply({"chaos": {"drop": 1.0}, "fail_next": 2})
    assert [plan.take().fault for _ in range(3)] == [Fault.FAIL, Fault.FAIL, Fault.DROP]
    assert plan.dealt()["drop"] == 1, "a request a counter took drew no chaos"
    plan.down = True
    assert plan.take() == FaultDecision(Fault.DOWN)


def test_slow_adds_to_the_armed_delay():
    plan = FaultPlan()
    plan.apply({"delay": 1.0, "chaos": {"slow": 1.0}, "chaos_slow_max": 0.5})
    delays = [plan.take().delay for _ in range(50)]
    assert all(1.0 <= d <= 1.5 for d in delays) and len(set(delays)) > 1


@pytest.mark.parametrize("table, problem", [
    ({"explode": 0.1}, "unknown kind 'explode'"),
    ({"fail": 1.5}, "fail must be a probability"),
    ({"fail": -0.1}, "fail must be a probability"),
    ({"fail": float("nan")}, "fail must be a probability"),
    ({"fail": True}, "fail must be a probability"),
    ({"fail": "0.1"}, "fail must be a probability"),
    ({"fail": 0.6, "drop": 0.5}, "add up to more than 1"),
    ([("fail", 0.1)], "must be an object"),
])
def test_invalid_tables_are_refused_and_change_nothing(table, problem):
    plan = FaultPlan()
    plan.apply({"chaos": {"fail": 0.25}, "chaos_seed": 5})
    before = plan.snapshot()
    with pytest.raises(ValueError, match=problem):
        plan.apply({"chaos": table, "chaos_seed": 6})
    with pytest.raises(ValueError, match=problem):
        plan.chaos = table
    assert plan.snapshot() == before


def test_slow_does_not_count_towards_the_exclusive_total():
    plan = FaultPlan()
    plan.chaos = {"fail": 0.5, "drop": 0.5, "slow": 1.0}
    assert Counter(plan.take().fault for _ in range(100)).keys() == {Fault.FAIL, Fault.DROP}


def test_other_chaos_fields_are_validated():
    plan = FaultPlan()
    for name, value in [("chaos_seed", -1), ("chaos_seed", 1.5), ("chaos_timeout", -2),
                        ("chaos_slow_max", float("inf")), ("chaos_timeout", "long")]:
        with pytest.raises(ValueError, match=name):
            plan.apply({name: value})
    plan.apply({"chaos_seed": 2**40, "chaos_timeout": 1, "chaos_slow_max": 0})
    assert (plan.chaos_seed, plan.chaos_timeout, plan.chaos_slow_max) == (2**40, 1.0, 0.0)


def test_the_table_cannot_be_changed_behind_the_plans_back():
    plan = FaultPlan()
    table = {"fail": 0.1}
    plan.chaos = table
    table["fail"] = 5.0  # the caller's dict is copied
    assert plan.chaos == {"fail": 0.1}
    with pytest.raises(TypeError):
        plan.chaos["fail"] = 5.0  # type: ignore[index]
    snapshot = plan.snapshot()
    snapshot["chaos"]["fail"] = 0.9
    assert plan.snapshot()["chaos"] == {"fail": 0.1}


def test_concurrent_takes_deal_exactly_the_seeded_multiset():
    """Draws happen under the lock: threads racing for requests get the same faults in total
    as one thread taking them in a row."""
    reference = FaultPlan()
    reference.apply({"chaos": TABLE, "chaos_seed": 7})
    expected = Counter(d.fault for d in _decisions(reference, 4000))
    plan = FaultPlan()
    plan.apply({"chaos": TABLE, "chaos_seed": 7})
    seen: list[Fault] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [plan.take().fault for _ in range(500)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert Counter(seen) == expected
    assert plan.dealt() == reference.dealt()
