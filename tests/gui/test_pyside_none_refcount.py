"""Regression test for the PySide6 6.12.0 crash on Python 3.11 (../shared/ENVIRONMENT.md): every Qt
call that returns nothing dropped one reference from Python's ``None``, and a few thousand calls
later the process aborted with ``Fatal Python error: none_dealloc``. The tray app makes such calls
every second (each status snapshot sets labels, tooltips, icons), so it would die within the hour.
pyproject.toml pins ``pyside6-essentials==6.11.3`` (the ``gui`` extra); these tests fail if the pin
is lost or a later release brings the bug back."""

import sys

import PySide6
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

CALLS = 500  # per kind of call below: 2,000 in all (a few thousand more would abort the run)
NOISE = 50  # references to None that other code may take or give back meanwhile


def test_the_installed_pyside6_is_not_the_one_that_crashes():
    for name, version in (("PySide6", PySide6.__version__), ("shiboken6", shiboken6.__version__)):
        assert not version.startswith("6.12.0"), (
            f"{name} {version} is installed: 6.12.0 drops a reference from None on every Qt call "
            "returning nothing and aborts Python 3.11 with 'Fatal Python error: none_dealloc'. "
            "Keep pyproject.toml's pin (gui extra: pyside6-essentials==6.11.3) or exclude 6.12.0, "
            "then run build_scripts/bootstrap.sh (RIMS_BOOTSTRAP_FORCE=1) to reinstall.")


def test_qt_calls_returning_nothing_leave_none_s_reference_count_alone(qapp):
    widget = QWidget()
    label = QLabel(widget)
    timer = QTimer()
    texts = [f"text {i}" for i in range(CALLS)]  # made up front: no allocations in the loops
    calls = {
        "QWidget.setToolTip": lambda: [widget.setToolTip(t) for t in texts],
        "QLabel.setText": lambda: [label.setText(t) for t in texts],
        "QTimer.stop": lambda: [timer.stop() for _ in texts],
        "QWidget.update": lambda: [widget.update() for _ in texts],
    }
    lost: dict[str, int] = {}
    for name, make_calls in calls.items():
        before = sys.getrefcount(None)
        results = make_calls()  # each holds one reference to None until `del`
        assert results == [None] * CALLS
        del results
        after = sys.getrefcount(None)
        lost[name] = before - after
    # With the bug each kind loses CALLS references (2,000 in all); without it, about nothing.
    # (On Python >= 3.12 None is immortal and its count never moves at all.)
    broken = {name: n for name, n in lost.items() if n > NOISE}
    assert not broken, (
        f"Qt calls returning nothing took references from None ({broken} lost, of {CALLS:,} "
        f"calls each): PySide6 {PySide6.__version__} has the none_dealloc bug of 6.12.0; keep "
        "the pyproject.toml pin (pyside6-essentials==6.11.3)")
