"""The failed-key-check throttle (server/throttle.py) with an injected clock."""

import pytest

from app.server.throttle import LOOPBACK, FailureThrottle, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_tenth_failure_within_the_window_blocks_for_the_cooling_period(clock):
    throttle = FailureThrottle(clock, max_failures=10, window=60, cooling=30)
    for _ in range(9):
        assert throttle.failed("10.0.0.5") is False
        clock.now += 1
    assert throttle.retry_after("10.0.0.5") is None
    assert throttle.failed("10.0.0.5") is True
    assert throttle.retry_after("10.0.0.5") == pytest.approx(30)
    clock.now += 29.5
    assert throttle.retry_after("10.0.0.5") == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.retry_after("10.0.0.5") is None


def test_failures_older_than_the_window_do_not_count(clock):
    throttle = FailureThrottle(clock, max_failures=3, window=10, cooling=30)
    throttle.failed("a")
    clock.now += 6
    throttle.failed("a")
    clock.now += 6  # the first one is now 12 s old
    assert throttle.failed("a") is False
    assert throttle.retry_after("a") is None
    assert throttle.failed("a") is True


def test_after_cooling_the_count_starts_again(clock):
    throttle = FailureThrottle(clock, max_failures=2, window=60, cooling=5)
    throttle.failed("a")
    assert throttle.failed("a") is True
    clock.now += 5
    assert throttle.retry_after("a") is None
    assert throttle.failed("a") is False  # one new failure, not the old count plus one


def test_other_clients_are_not_affected(clock):
    throttle = FailureThrottle(clock, max_failures=2, window=60, cooling=60)
    throttle.failed("bad")
    throttle.failed("bad")
    assert throttle.retry_after("bad") is not None
    assert throttle.retry_after("good") is None
    assert throttle.failed("good") is False


def test_memory_is_bounded_and_idle_clients_are_forgotten_first(clock):
    throttle = FailureThrottle(clock, max_failures=2, window=10, cooling=100, max_tracked=3)
    throttle.failed("blocked")
    throttle.failed("blocked")
    throttle.failed("old")
    clock.now += 20  # "old" is now idle; "blocked" is still blocked
    throttle.failed("new1")
    throttle.failed("new2")
    assert throttle.tracked() <= 3
    assert throttle.retry_after("blocked") is not None
    for n in range(100):
        throttle.failed(f"hopper{n}")
    assert throttle.tracked() <= 3


def test_limits_must_be_positive(clock):
    with pytest.raises(ValueError):
        FailureThrottle(clock, max_failures=0)


@pytest.mark.parametrize(("address", "key"), [
    ("127.0.0.1", LOOPBACK),
    ("127.0.0.2", LOOPBACK),  # any 127/8 source address is this computer
    ("127.255.1.9", LOOPBACK),
    ("::1", LOOPBACK),
    ("::ffff:127.0.0.1", LOOPBACK),
    ("192.168.1.20", "192.168.1.20"),
    ("::ffff:192.168.1.20", "192.168.1.20"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    (None, "unknown"),
    ("not an address", "not an address"),
])
def test_client_key(address, key):
    assert client_key(address) == key
