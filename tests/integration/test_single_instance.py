"""One service per data folder and per port; a stop finishes what was promised (issue 3, item 8).
Real `rims-utility serve` processes."""

import asyncio
import hashlib
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.conftest import wait_for
from tests.integration.conftest import invoice
from tests.integration.test_cli import CLI, _up, free_port, run_cli


def _start(data_dir: Path, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "serve", "--practice", "--port", str(port),
                             "--data-dir", str(data_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group: the writer dies with it


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root with its content hash and modification time."""
    return {str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest(),
                                          path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*")) if path.is_file()}


def _stop_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()  # reaps it and closes the pipe


def _group_members(group: int) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-g", str(group)], capture_output=True, text=True)
    return found.stdout.splitlines()


def _stored_numbers(data_dir: Path) -> set[str]:
    with sqlite3.connect(f"file:{data_dir / 'rims.sqlite3'}?mode=ro", uri=True) as db:
        return {number for (number,) in db.execute("SELECT invoice_no FROM invoice")}


async def _state(http: aiohttp.ClientSession, port: int, number: str, wanted: str) -> bool:
    async with http.get(f"http://127.0.0.1:{port}/api/invoices/K123456/{number}") as response:
        return response.status == 200 and (await response.json())["data"]["state"] == wanted


async def _wait_up(port: int) -> None:
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
        await wait_for(lambda: _up(http), what=f"serve to answer on port {port}")


async def test_second_serve_on_the_same_data_folder_touches_nothing(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    first = _start(data_dir, port)
    try:
        await _wait_up(port)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/api/invoice",
                                 json=invoice("ONE-1")) as response:
                assert response.status == 201
            await wait_for(lambda: _state(http, port, "ONE-1", "synced"), what="ONE-1 synced")
        await wait_for(lambda: any((data_dir / "backups").glob("*-daily.sqlite3")),
                       what="the start-up backup to be in place")
        before = _snapshot(data_dir)  # the first instance is idle now
        second = await asyncio.to_thread(run_cli, "serve", "--practice", "--port",
                                         str(free_port()), "--data-dir", str(data_dir))
        assert second.returncode == 1
        assert "already running" in second.stderr and f"PID {first.pid}" in second.stderr
        assert f"127.0.0.1:{port}" in second.stderr, "it says where the running one answers"
        assert "Nothing was changed" in second.stderr
        after = _snapshot(data_dir)
        changed = sorted(name for name in before.keys() | after.keys()
                         if before.get(name) != after.get(name))
        assert not changed, f"the second instance changed {changed}"
    finally:
        _stop_group(first)


def test_second_serve_on_a_taken_port_creates_nothing(tmp_path):
    import socket

    port = free_port()
    data_dir = tmp_path / "never-created"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = run_cli("serve", "--practice", "--port", str(port), "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert f"Port {port}" in result.stderr and "Nothing was changed" in result.stderr
    assert not data_dir.exists()


async def test_a_killed_instance_does_not_block_the_next_start(tmp_path):
    """The OS drops the lock with its owner: after kill -9 (a power cut) the next start works."""
    data_dir = tmp_path / "data"
    port = free_port()
    first = _start(data_dir, port)
    try:
        await _wait_up(port)
    finally:
        _stop_group(first)
    assert (data_dir / "rims-utility.lock").exists()
    port = free_port()
    again = _start(data_dir, port)
    try:
        await _wait_up(port)
    finally:
        _stop_group(again)


async def test_sigterm_under_load_finishes_what_was_acknowledged(tmp_path):
    """SIGTERM while tills post: intake stops, commits in flight finish, the process exits 0
    within seconds with no writer left behind, and every 201 is in the database."""
    data_dir = tmp_path / "data"
    port = free_port()
    process = _start(data_dir, port)
    acknowledged: list[str] = []
    stop_posting = asyncio.Event()

    async def till(number: int, http: aiohttp.ClientSession) -> None:
        n = 0
        while not stop_posting.is_set():
            n += 1
            invoice_no = f"T{number}-{n}"
            try:
                async with http.post(f"http://127.0.0.1:{port}/api/invoice",
                                     json=invoice(invoice_no)) as response:
                    if response.status == 201:
                        acknowledged.append(invoice_no)
            except aiohttp.ClientError:
                return  # the service went away: a till would retry later

    try:
        await _wait_up(port)
        async with aiohttp.ClientSession() as http:
            tills = [asyncio.create_task(till(i, http)) for i in range(8)]
            await wait_for(lambda: len(acknowledged) >= 200, what="200 invoices acknowledged")
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.to_thread(process.communicate, timeout=30)
            elapsed = time.monotonic() - started
            stop_posting.set()
            await asyncio.gather(*tills)
        assert process.returncode == 0, output
        assert elapsed < 10, f"stopping took {elapsed:.1f} s"
        assert "queued invoices are kept" in output
        await wait_for(lambda: not _group_members(process.pid), timeout=5,
                       what="the writer and every helper process to end with the service")
        missing = set(acknowledged) - _stored_numbers(data_dir)
        assert not missing, f"acknowledged but not stored: {sorted(missing)[:10]}"
    finally:
        _stop_group(process)
