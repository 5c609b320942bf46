"""The core on its own thread, driven from the Qt thread only through Runtime.call and the
Bridge's signals."""

import threading

from app.gui.runtime import Runtime
from tests.gui.conftest import post_invoice


def test_a_posted_invoice_reaches_the_gui_as_status_and_as_a_queue_row(qtbot, runtime: Runtime):
    status, answer = post_invoice(runtime.core.base_url, "GUI-1")
    assert status == 201, answer

    def synced(snapshot) -> bool:
        return snapshot.counts.get("synced") == 1

    with qtbot.waitSignal(runtime.bridge.snapshot, check_params_cb=synced, timeout=15_000):
        pass
    threads: list[str] = []
    pages = []

    def done(page) -> None:
        threads.append(threading.current_thread().name)
        pages.append(page)

    runtime.call(lambda facade: facade.invoices(), done)
    qtbot.waitUntil(lambda: bool(pages), timeout=10_000)
    assert threads == ["MainThread"]  # results come back to the Qt thread
    [row] = pages[0].rows
    assert (row["invoice_no"], row["state"], row["total_amount"]) == ("GUI-1", "synced", "232.00")
    assert runtime.core.store is not None
    assert runtime._thread is not None and runtime._thread.name == "rims-core"


def test_a_failing_call_reaches_its_failed_callback(qtbot, runtime: Runtime):
    errors: list[BaseException] = []

    async def boom(facade):
        raise ValueError("nope")

    runtime.call(boom, lambda _: None, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5_000)
    assert isinstance(errors[0], ValueError)


def test_intake_goes_on_while_the_qt_thread_is_busy(qtbot, runtime: Runtime):
    """A modal dialog, a slow window, anything that holds the Qt thread: the till is still
    answered, because the core has its own thread and loop."""
    import time

    answers: list[int] = []

    def till() -> None:
        for n in range(40):
            answers.append(post_invoice(runtime.core.base_url, f"BUSY-{n}")[0])

    poster = threading.Thread(target=till)
    started = time.monotonic()
    poster.start()
    while poster.is_alive() and time.monotonic() - started < 20:
        time.sleep(0.05)  # the Qt thread does not process a single event meanwhile
    poster.join(1)
    assert answers == [201] * 40
