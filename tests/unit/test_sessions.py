"""The dashboard's in-memory session store (app/server/sessions.py), with an injected clock."""

import pytest

from app.server.sessions import SessionStore


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_new_session_is_found_by_its_token_and_keeps_only_a_hash():
    store = SessionStore(3600, clock=Clock())
    new = store.create("K123456")
    assert len(new.token) >= 43 and len(new.session.csrf_token) >= 43  # 256 bits each
    assert store.get(new.token) == new.session
    assert new.session.pos_id == "K123456" and new.session.expires_at == 1_000_000.0 + 3600
    assert new.token not in repr(vars(store)), "the token itself is never kept"
    assert store.get("not-a-token") is None and store.get(None) is None and store.get("") is None


def test_tokens_are_unique():
    store = SessionStore(clock=Clock())
    tokens = {store.create("P").token for _ in range(50)}
    assert len(tokens) == 50


def test_a_session_expires_after_its_lifetime_and_is_forgotten():
    clock = Clock()
    store = SessionStore(60, clock=clock)
    new = store.create("P")
    clock.now += 59.9
    assert store.get(new.token) is not None
    clock.now += 0.1
    assert store.get(new.token) is None
    assert len(store) == 0


def test_expired_sessions_are_pruned():
    clock = Clock()
    store = SessionStore(60, clock=clock)
    for _ in range(3):
        store.create("P")
    clock.now += 30
    live = store.create("P")
    clock.now += 40
    assert store.prune() == 3
    assert len(store) == 1 and store.get(live.token) is not None


def test_sign_out_ends_only_that_session():
    store = SessionStore(clock=Clock())
    one, two = store.create("A"), store.create("B")
    assert store.end(one.token) is True
    assert store.end(one.token) is False and store.end(None) is False
    assert store.get(one.token) is None and store.get(two.token) is not None
    assert store.end_all("B") == 1 and len(store) == 0


def test_the_number_of_sessions_is_bounded_oldest_first():
    store = SessionStore(clock=Clock(), max_sessions=3)
    made = [store.create("P") for _ in range(5)]
    assert len(store) == 3
    assert [store.get(m.token) is not None for m in made] == [False, False, True, True, True]


def test_the_csrf_token_must_match_exactly():
    store = SessionStore(clock=Clock())
    session = store.create("P").session
    other = store.create("P").session
    assert store.csrf_ok(session, session.csrf_token)
    for wrong in (None, "", other.csrf_token, session.csrf_token + "x", session.csrf_token[:-1],
                  "\udcff"):
        assert not store.csrf_ok(session, wrong)


def test_limits_must_be_positive():
    with pytest.raises(ValueError):
        SessionStore(0)
    with pytest.raises(ValueError):
        SessionStore(max_sessions=0)
