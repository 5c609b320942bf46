"""The database writer is its own process (README, "Architecture"). These tests kill it and check
the promise still holds: a 201 means stored, anything else means "send again", and intake comes
back by itself."""

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration import writer_probe
from tests.integration.conftest import POS_ID, invoice

# What the service needs and its writer process must not carry (each costs MBs in every process).
HEAVY = {"aiohttp", "keyring", "cryptography", "PySide6", "qrcode", "xlsxwriter", "multiprocessing",
         "importlib.metadata", "app.cli", "app.service", "app.sync", "app.gui", "app.sandbox"}


async def _post_until_201(utility, body: dict, attempts: int = 50) -> list[int]:
    """Like a POS: send again after a 503 (with Retry-After), until it is taken."""
    statuses = []
    for _ in range(attempts):
        status, answer, headers = await utility.post(body)
        statuses.append(status)
        if status == 201:
            return statuses
        assert status == 503, answer
        assert headers.get("Retry-After") and "NOT saved" in answer["message"]
        await asyncio.sleep(0.1)
    raise AssertionError(f"never accepted: {statuses}")


async def test_writer_is_a_separate_process(utility):
    writer = utility.core.store.writer
    assert writer.pid is not None and writer.pid != os.getpid()
    status, _, _ = await utility.post(invoice("SEP-1"))
    assert status == 201
    assert writer.writes >= 1 and writer.batches >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_writer_process_holds_only_what_the_writes_need(utility):
    """It is this program started again with a hidden command (app/relaunch.py), not
    multiprocessing: no resource tracker beside it, and none of the service's libraries in it
    (docs/PERFORMANCE.md, "Frozen program": memory)."""
    writer = utility.core.store.writer
    assert (await utility.post(invoice("LEAN-1")))[0] == 201  # the intake modules are loaded
    command = Path(f"/proc/{writer.pid}/cmdline").read_bytes().split(b"\0")
    assert b"_writer" in command and b"multiprocessing" not in b" ".join(command), command
    loaded = await writer.submit(writer_probe.loaded_modules)
    heavy = [name for name in loaded
             if any(name == h or name.startswith(f"{h}.") for h in HEAVY)]
    assert not heavy, f"the writer process imported {heavy}"


async def test_writer_leaves_stopping_to_the_service(utility):
    """Ctrl+C or a SIGTERM sent to the whole process group (a service manager's stop) reaches
    the writer too: it carries on, and the service stops it after the last write."""
    writer = utility.core.store.writer
    pid = writer.pid
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    assert (await utility.post(invoice("AFTER-SIGNALS-1")))[0] == 201
    assert writer.pid == pid and writer.restarts == 0


async def test_killed_writer_is_restarted_and_nothing_acknowledged_is_lost(utility):
    writer = utility.core.store.writer
    assert (await utility.post(invoice("BEFORE-1")))[0] == 201
    first_pid = writer.pid

    os.kill(first_pid, signal.SIGKILL)
    statuses = await _post_until_201(utility, invoice("AFTER-1"))
    assert statuses[-1] == 201
    assert writer.pid != first_pid and writer.restarts == 1

    # Posts racing a second crash: each one is either acknowledged (and then stored) or told to
    # send again; after the restart every invoice is there exactly once and reaches the sandbox.
    numbers = [f"RACE-{i}" for i in range(200)]
    writes_before = writer.writes
    posts = [asyncio.create_task(_post_until_201(utility, invoice(n))) for n in numbers]
    # Kill it mid-stream: some posts already acknowledged, several in the process's hands
    # (frozen first, so that they cannot be answered in the instant before the kill).
    await wait_for(lambda: writer.writes >= writes_before + 10, interval=0.001,
                   what="the first racing posts to be stored")
    os.kill(writer.pid, signal.SIGSTOP)
    await wait_for(lambda: writer.in_flight >= 5, what="posts waiting on the frozen writer")
    os.kill(writer.pid, signal.SIGKILL)
    outcomes = await asyncio.gather(*posts)
    await wait_for(lambda: writer.restarts == 2, what="the second restart")
    assert any(503 in statuses for statuses in outcomes), "the kill raced no post"
    for number in ["BEFORE-1", "AFTER-1", *numbers]:
        await wait_for(lambda n=number: _synced(utility, n), what=f"{number} synced")
    records = utility.sandbox.records()
    for number in ["BEFORE-1", "AFTER-1", *numbers]:
        assert records[(POS_ID, number)].received_count == 1, number


async def _synced(utility, number: str) -> bool:
    return await utility.state_of(number) == "synced"
