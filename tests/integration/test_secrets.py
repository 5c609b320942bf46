"""The POS key lives only in the OS keyring: drive many paths, then scan every file we wrote."""

import asyncio
import os
import secrets
import signal
import subprocess
from pathlib import Path

import aiohttp

from tests.conftest import wait_for
from tests.integration.test_cli import CLI, _up, free_port, run_cli


def _scan(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


async def test_key_never_reaches_database_wal_or_logs(tmp_path, sandbox):
    ntn, pos_id = "N-SECRET", "P-SECRET"
    key = "Sk-" + secrets.token_urlsafe(18)
    sandbox.add_credentials(ntn, pos_id, key)
    data_dir = tmp_path / "data"
    assert run_cli("setup", "--ntn", ntn, "--pos-id", pos_id, "--data-dir", str(data_dir),
                   stdin=key + "\n").returncode == 0
    port = free_port()
    command = [*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir),
               "--upstream-url", sandbox.endpoint_url, "--upstream-ca", str(sandbox.ca_file)]
    (data_dir / "config.toml").write_text(
        "[retry]\nfirst_min = 0.05\nfirst_max = 0.1\ncap = 0.3\n", encoding="utf-8")

    def body(number: str, **changes: object) -> dict:
        return {"ntn": ntn, "pos_id": pos_id, "key": key, "invoice_no": number, "amount": 100,
                "tax_rate": 16, "tax_amount": 16, "total_amount": 116,
                "date_time": "2026-11-21 09:30:00", **changes}

    console = tmp_path / "console.txt"  # a file, not a pipe nobody reads while the server runs
    out = console.open("ab")
    # Its own session, so the crash below takes the writer process down with it (a power cut
    # leaves the WAL on disk; a writer process outliving the service would tidy it away).
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
        async def state(number: str) -> str | None:
            async with http.get(f"/api/invoices/{pos_id}/{number}") as response:
                return ((await response.json()).get("data") or {}).get("state")

        async def post(payload: dict | str, content_type: str = "application/json") -> int:
            kwargs = ({"json": payload} if isinstance(payload, dict) else
                      {"data": payload, "headers": {"Content-Type": content_type}})
            async with http.post("/api/invoice", **kwargs) as response:
                await response.read()
                return response.status

        await wait_for(lambda: _up(http), what="serve up")
        assert await post(body("OK-1")) == 201
        assert await post(body("BAD-1", amount=-5, note=key)) == 400
        assert await post(body("BAD-2", key=key + "x")) == 401
        assert await post('{"key": "' + key + '", ') == 400  # malformed JSON echoing nothing
        assert await post(f"key={key}&ntn={ntn}", "text/plain") == 415
        sandbox.faults.fail_next = 2
        assert await post(body("FAIL-1")) == 201
        await wait_for(lambda: _is(state("FAIL-1"), "synced"), what="FAIL-1 synced after 500s")
        sandbox.faults.unauthorized_next = 1
        assert await post(body("HELD-1")) == 201
        await wait_for(lambda: _is(state("HELD-1"), "held"), what="HELD-1 held")
        assert run_cli("setup", "--ntn", ntn, "--pos-id", pos_id, "--data-dir", str(data_dir),
                       stdin=key + "\n").returncode == 0
        await wait_for(lambda: _is(state("HELD-1"), "synced"), what="HELD-1 synced after setup")
        sandbox.faults.drop_next = 1
        assert await post(body("LOST-1")) == 201
        await wait_for(lambda: _is(state("LOST-1"), "synced"), what="LOST-1 synced")
        sandbox.faults.delay = 30
        assert await post(body("CRASH-1")) == 201
        await wait_for(lambda: _is(state("CRASH-1"), "sending"), what="CRASH-1 in flight")
        while_running = _scan(data_dir, key.encode())
    os.killpg(process.pid, signal.SIGKILL)  # crash with the WAL still on disk
    await asyncio.to_thread(process.wait)
    after_crash = _scan(data_dir, key.encode())
    assert any(p.endswith("-wal") for p in map(str, data_dir.iterdir())), "WAL should be scanned"

    sandbox.faults.delay = 0
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve up again")

            async def crash_synced() -> bool:
                async with http.get(f"/api/invoices/{pos_id}/CRASH-1") as response:
                    return (await response.json())["data"]["state"] == "synced"
            await wait_for(crash_synced, what="CRASH-1 synced after restart")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, timeout=15)
        out.close()
    output = console.read_bytes()
    holding_pos_id = _scan(data_dir, pos_id.encode())  # the scan really reads our files
    assert "rims.sqlite3" in holding_pos_id, holding_pos_id
    assert any(p.startswith("logs/") for p in holding_pos_id), holding_pos_id
    assert while_running == [] and after_crash == [], (while_running, after_crash)
    assert _scan(data_dir, key.encode()) == []
    assert key.encode() not in output


async def _is(value, expected: str) -> bool:
    return (await value) == expected
