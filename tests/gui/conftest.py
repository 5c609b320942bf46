"""The tray app's tests: real Qt widgets (offscreen, or xcb under Xvfb for the real tray), a
real core on its own thread (gui/runtime.py) in practice mode (the built-in KPRA sandbox over
real HTTPS), a real SQLite file and the real keyring of build_scripts/with-keyring.sh."""

import dataclasses
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from app.gui.runtime import Runtime
from app.settings import RetrySettings, load

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
NTN, POS_ID, KEY = "K123456", "K123456", "KPRA@123a"  # practice mode's test user
FAST_RETRY = RetrySettings(first_min=0.05, first_max=0.1, cap=0.4)


def gui_settings(data_dir: Path, **changes: object):
    settings = load(data_dir, port=0, practice=True)
    return dataclasses.replace(settings, retry=FAST_RETRY, **changes)


@pytest.fixture
def runtime(qtbot, tmp_path: Path) -> Iterator[Runtime]:
    """A started core (practice mode) on its own thread, stopped after the test."""
    running = Runtime(gui_settings(tmp_path / "data"))
    with qtbot.waitSignal(running.bridge.started, timeout=20_000):
        running.start()
    with qtbot.waitSignal(running.bridge.snapshot, timeout=10_000):
        pass
    yield running
    assert running.stop(), "the core thread did not stop"


def post_invoice(base_url: str, number: object, **changes: object) -> tuple[int, dict]:
    """What a till does: POST /api/invoice (from the test's thread, like another program)."""
    body = {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "invoice_no": str(number),
            "amount": "200.00", "tax_rate": 16, "tax_amount": "32.00", "total_amount": "232.00",
            "date_time": "2026-11-21 10:00:00", "payment_mode": 1} | changes
    request = urllib.request.Request(f"{base_url}/api/invoice", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def sandbox_fault(runtime: Runtime, **faults: object) -> None:
    """Set the practice sandbox's faults (down, fail_next, reject_next, unauthorized_next, …)
    through its control port, as a person practising would."""
    sandbox = runtime.core.sandbox
    assert sandbox is not None
    request = urllib.request.Request(f"{sandbox.control_url}/faults",
                                     data=json.dumps(faults).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def shown(qtbot, widget: QWidget) -> QWidget:
    """``widget`` shown, exposed, and closed by qtbot after the test."""
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def screenshot(widget: QWidget, name: str) -> Path:
    """Save what the user sees of ``widget`` as docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    return path
