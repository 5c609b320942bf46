"""Kenya's secrets live only in the OS keyring: set a KRA Agent POS up with the real command
(`rims-utility setup --upstream kra-agent`, password on standard input), run `rims-utility
serve` as a process with its log files, sell, credit, let the access token expire and be
refreshed, then scan every file the utility wrote, and what it printed, for the password, the
tokens, the client secret and the integration token."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aiohttp

from app import keystore
from app.sandbox.kra_agent import DEFAULT_EMAIL, DEFAULT_PASSWORD, KraAgentSandbox
from tests.conftest import wait_for
from tests.integration.test_cli import CLI, _up, free_port, run_cli

PIN, POS_ID, TOKEN = "P051234567A", "POS-SECRET", "till-token-7f3a9c2e51"


async def test_kra_agent_secrets_never_reach_a_file_or_the_console(tmp_path):
    sandbox = KraAgentSandbox(tmp_path / "sandbox", token_lifetime=2.0)
    await sandbox.start()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text(
        f'upstream_ca = "{sandbox.ca_file}"\npoll_interval = 0.5\n'
        "[retry]\nfirst_min = 0.05\nfirst_max = 0.1\ncap = 0.3\n", encoding="utf-8")
    process = console = None
    try:
        setup = await asyncio.to_thread(  # (the sandbox answers on this test's loop)
            run_cli, "setup", "--upstream", "kra-agent", "--url", sandbox.base_url,
                        "--email", DEFAULT_EMAIL, "--pin", PIN, "--pos-id", POS_ID,
                        "--company-name", "Secret Shop", "--device-serial", "SN-SECRET",
                        "--integration-token", TOKEN, "--data-dir", str(data_dir),
                        stdin=DEFAULT_PASSWORD + "\n")
        assert setup.returncode == 0, setup.stderr
        assert "set up with KRA eTIMS (KRA Agent)" in setup.stdout
        first = json.loads(keystore.load_key("kra-agent", "account", DEFAULT_EMAIL))
        pos = json.loads(keystore.load_key("kra-agent", PIN, POS_ID))
        assert pos["integration_token"] == TOKEN and pos["client_secret"]

        port = free_port()
        console = (tmp_path / "console.txt").open("ab")
        process = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir",
                                    str(data_dir)], stdout=console, stderr=subprocess.STDOUT)
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), timeout=30, what="serve answering")
            auth = {"ntn": PIN, "pos_id": POS_ID, "key": TOKEN}
            sale = {**auth, "invoice_no": "SEC-1", "date_time": "2026-11-20 10:00:00",
                    "items": [{"item_name": "Secret sauce", "quantity": 1, "unit_price": 116,
                               "tax_type": "B"}]}
            async with http.post("/api/invoice", json=sale) as response:
                assert response.status == 201, await response.text()
            await wait_for(lambda: _state(http, "SEC-1", "synced"), what="SEC-1 synced")
            await asyncio.sleep(2.2)  # the access token expires; the credit note needs one
            note = {**auth, "credit_note_no": "SEC-CN", "original_invoice_no": "SEC-1",
                    "reason": "Returned", "date_time": "2026-11-20 11:00:00"}
            async with http.post("/api/credit-note", json=note) as response:
                assert response.status == 201, await response.text()
            await wait_for(lambda: _state(http, "cn:SEC-CN", "synced"), what="credit synced")
            async with http.post("/api/invoice", json={**sale, "key": "wrong"}) as response:
                assert response.status == 401  # a wrong key is refused, and not logged either
        process.terminate()
        assert process.wait(timeout=30) == 0
        process = None
        console.close()
        now = json.loads(keystore.load_key("kra-agent", "account", DEFAULT_EMAIL))
        assert now["access_token"] != first["access_token"], "the token was refreshed"

        secrets = {DEFAULT_PASSWORD, TOKEN, pos["client_secret"], first["access_token"],
                   first["refresh_token"], now["access_token"], now["refresh_token"]}
        assert any((data_dir / "logs").rglob("*")), "serve wrote its log files"
        files = [p for p in data_dir.rglob("*") if p.is_file()] + [tmp_path / "console.txt"]
        leaks = sorted({p.name for p in files for s in secrets if s.encode() in p.read_bytes()})
        assert leaks == [], f"a secret is written in {leaks}"
        assert DEFAULT_PASSWORD not in setup.stdout + setup.stderr

        forget = await asyncio.to_thread(run_cli, "forget-keys", "--data-dir", str(data_dir))
        assert forget.returncode == 0, forget.stderr
        assert keystore.load_key("kra-agent", PIN, POS_ID) is None
        assert keystore.load_key("kra-agent", "account", DEFAULT_EMAIL) is None, (
            "forget-keys removes the KRA Agent account's password and tokens too")
    finally:
        if process is not None:
            process.kill()
            process.wait(timeout=30)
        if console is not None:
            console.close()
        await sandbox.stop()
        keystore.delete_key("kra-agent", PIN, POS_ID)
        keystore.delete_key("kra-agent", "account", DEFAULT_EMAIL)


async def _state(http: aiohttp.ClientSession, number: str, state: str) -> bool:
    async with http.get(f"/api/invoices/{POS_ID}/{number}") as response:
        return (await response.json()).get("data", {}).get("state") == state
