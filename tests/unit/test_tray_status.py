"""The tray's light, words and notifications (service/status.py): every rule, pure."""

import pytest

from app.service.status import Light, Snapshot, age_text, alerts, verdict

NOW = 1_800_000_000.0
HOUR = 3600.0


def snap(**changes) -> Snapshot:
    values = {"at": NOW, "counts": {"synced": 10}, "reachable": True, "base_url":
              "http://127.0.0.1:3000"}
    values.update(changes)
    return Snapshot(**values)


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5 s"), (59.9, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (3660 + 300, "1 h 6 min"), (2 * 86400, "2 days"), (None, "—")])
def test_ages_read_naturally(seconds, text):
    assert age_text(seconds) == text


def test_nothing_yet_is_green_and_says_where_the_till_sends():
    v = verdict(snap(counts={}), HOUR)
    assert v.light is Light.GREEN and "http://127.0.0.1:3000/api/invoice" in v.tooltip


def test_no_pos_set_up_is_red_and_says_what_to_do():
    """Right after installing (the wizard closed unfinished): the till's invoices are refused,
    so this is not "ready", whatever the queue holds."""
    v = verdict(snap(counts={}, pos_ready=0), HOUR)
    assert (v.light, v.headline) == (Light.RED, "Needs attention: no POS set up")
    assert "refused" in v.tooltip and "Settings" in v.tooltip


def test_all_synced_is_green():
    v = verdict(snap(), HOUR)
    assert (v.light, v.headline) == (Light.GREEN, "All invoices sent")


def test_pending_is_amber_with_count_and_oldest_age():
    v = verdict(snap(counts={"synced": 3, "queued": 2}, oldest_pending_at=NOW - 720), HOUR)
    assert v.light is Light.AMBER
    assert v.headline == "2 invoices waiting, oldest 12 min"


def test_a_short_outage_is_amber_and_says_invoices_are_kept():
    v = verdict(snap(counts={"queued": 1}, oldest_pending_at=NOW - 60, reachable=False,
                     unreachable_since=NOW - 600), HOUR)
    assert v.light is Light.AMBER and "kept" in v.tooltip


def test_a_long_outage_is_red():
    v = verdict(snap(counts={"queued": 1}, oldest_pending_at=NOW - 7200, reachable=False,
                     unreachable_since=NOW - 2 * HOUR), HOUR)
    assert v.light is Light.RED and "KPRA unreachable" in v.headline
    assert "internet" in v.tooltip


def test_held_pos_is_red_with_the_reason():
    v = verdict(snap(counts={"held": 2}, held=(("P1", "KPRA refused the key (401)"),)), HOUR)
    assert v.light is Light.RED and "P1" in v.tooltip and "401" in v.tooltip


def test_rejected_is_red_with_the_top_reason_and_what_to_do():
    v = verdict(snap(counts={"rejected": 1, "synced": 3},
                     rejected_reasons=(("tax_amount: does not match", 1),)), HOUR)
    assert v.light is Light.RED
    assert "tax_amount: does not match" in v.tooltip and "Retry failed" in v.tooltip


def test_paused_is_grey_unless_something_needs_a_person():
    assert verdict(snap(paused=True), HOUR).light is Light.GREY
    assert verdict(snap(paused=True, counts={"rejected": 1}), HOUR).light is Light.RED


def test_no_alerts_on_the_first_snapshot():
    assert alerts(None, snap(counts={"rejected": 5}), HOUR) == []


def test_alert_when_a_pos_is_newly_held_once():
    held = snap(held=(("P1", "key refused"),), counts={"held": 1})
    [alert] = alerts(snap(), held, HOUR)
    assert alert.critical and "P1" in alert.title
    assert alerts(held, held, HOUR) == []


def test_alert_when_invoices_are_newly_rejected():
    [alert] = alerts(snap(), snap(counts={"rejected": 2}, rejected_reasons=(("bad tax", 2),)),
                     HOUR)
    assert alert.title == "2 invoices rejected by KPRA" and "bad tax" in alert.text


def test_stuck_queue_alerts_once_per_spell():
    before = snap(counts={"queued": 3}, oldest_pending_at=NOW - 4 * HOUR + 1)
    after = snap(at=NOW + 2, counts={"queued": 3}, oldest_pending_at=NOW - 4 * HOUR + 1)
    [alert] = alerts(before, after, 4 * HOUR)
    assert "not going out" in alert.title
    later = snap(at=NOW + 60, counts={"queued": 3}, oldest_pending_at=NOW - 4 * HOUR + 1)
    assert alerts(after, later, 4 * HOUR) == []


def test_sending_back_after_an_outage_or_a_pause_is_told():
    down = snap(counts={"queued": 2}, reachable=False, unreachable_since=NOW - 60)
    [back] = alerts(down, snap(counts={"queued": 2}), HOUR)
    assert back.title == "KPRA answers again" and not back.critical
    [resumed] = alerts(snap(paused=True), snap(), HOUR)
    assert resumed.title == "Sending resumed"
