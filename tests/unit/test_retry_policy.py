"""The one retry policy and the upstream gate that turns failures into an outage backoff."""

import random

from app.settings import RetrySettings
from app.sync.gate import UpstreamGate
from app.sync.retry import RetryPolicy


def policy() -> RetryPolicy:
    return RetryPolicy(RetrySettings(), random.Random(7))


def test_first_retry_after_five_to_ten_seconds():
    p = policy()
    delays = [p.delay(1) for _ in range(500)]
    assert min(delays) >= 5 and max(delays) <= 10


def test_backoff_grows_and_is_capped_with_jitter():
    p = policy()
    assert all(10 <= p.delay(2) <= 20 for _ in range(100))
    assert all(20 <= p.delay(3) <= 40 for _ in range(100))
    late = [p.delay(40) for _ in range(200)]
    assert max(late) <= 300 and min(late) >= 150
    assert len({round(d, 3) for d in late}) > 100, "jitter spreads retries"


def test_retry_after_is_honoured_within_a_bound():
    p = policy()
    assert p.retry_after(12, 1) == 12
    assert p.retry_after(10**9, 1) == 3600
    assert 5 <= p.retry_after(None, 1) <= 10


def test_one_failure_is_the_invoices_problem_two_in_a_row_close_the_gate():
    gate = UpstreamGate(policy())
    gate.failure(100.0, "boom", unreachable=True)
    assert gate.wait(100.0) == 0 and not gate.probing
    gate.failure(100.0, "boom", unreachable=True)
    assert 5 <= gate.wait(100.0) <= 10 and gate.probing
    assert gate.reachable is False and gate.last_error == "boom"


def test_concurrent_failures_do_not_deepen_the_outage_until_the_gate_reopens():
    gate = UpstreamGate(policy())
    for _ in range(8):
        gate.failure(100.0, "down", unreachable=True)
    assert gate.level == 1
    gate.failure(100.0 + gate.wait(100.0) + 0.1, "still down", unreachable=True)
    assert gate.level == 2


def test_success_reopens_everything():
    gate = UpstreamGate(policy())
    gate.failure(0, "x", unreachable=True)
    gate.failure(0, "x", unreachable=True)
    gate.success()
    assert gate.wait(0) == 0 and not gate.probing and gate.reachable is True


def test_rate_limit_closes_the_gate_for_the_time_asked():
    gate = UpstreamGate(policy())
    gate.slow_down(50.0, 30.0)
    assert gate.wait(50.0) == 30.0 and gate.reachable is True
