"""The command line as a user (or another tool) runs it: real processes, real keyring."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp

from app import keystore
from tests.conftest import wait_for
from tests.integration.conftest import KEY, NTN, POS_ID, invoice

CLI = [sys.executable, "-m", "app"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env=env)


def test_setup_reads_the_key_from_stdin_into_the_keyring_only(tmp_path):
    data_dir = tmp_path / "data"
    result = run_cli("setup", "--ntn", "N-CLI", "--pos-id", "P-CLI-1", "--data-dir", str(data_dir),
                     stdin="cli-secret-key-1\n")
    assert result.returncode == 0, result.stderr
    assert "P-CLI-1" in result.stdout and "keyring" in result.stdout
    assert keystore.load_key("kpra", "N-CLI", "P-CLI-1") == "cli-secret-key-1"
    result = run_cli("setup", "--ntn", "N-CLI", "--pos-id", "P-CLI-2", "--data-dir", str(data_dir),
                     stdin="cli-secret-key-2\n")
    assert result.returncode == 0, result.stderr
    status = run_cli("status", "--data-dir", str(data_dir))
    assert "P-CLI-1, P-CLI-2" in status.stdout
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert b"cli-secret-key" not in path.read_bytes(), f"key found in {path}"


def test_setup_refuses_an_empty_key(tmp_path):
    result = run_cli("setup", "--ntn", "N", "--pos-id", "P", "--data-dir", str(tmp_path), stdin="\n")
    assert result.returncode == 2 and "empty" in result.stderr


def test_data_dir_from_environment(tmp_path):
    env = os.environ | {"RIMS_DATA_DIR": str(tmp_path / "env-dir")}
    result = run_cli("setup", "--ntn", "N-ENV", "--pos-id", "P-ENV", stdin="k-env\n", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env-dir" / "rims.sqlite3").exists()


async def test_serve_forwards_then_stops_cleanly_on_sigterm(tmp_path, sandbox):
    data_dir = tmp_path / "data"
    assert run_cli("setup", "--ntn", NTN, "--pos-id", POS_ID, "--data-dir", str(data_dir),
                   stdin=KEY + "\n").returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--upstream-url", sandbox.endpoint_url, "--upstream-ca", str(sandbox.ca_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="serve to answer on its port")
            async with http.post("/api/invoice", json=invoice("CLI-1")) as response:
                assert response.status == 201
            await wait_for(lambda: sandbox.received_count(POS_ID, "CLI-1") == 1,
                           what="the sandbox to receive CLI-1")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=15)
        assert process.returncode == 0, output
        assert time.monotonic() - started < 10
        assert f"127.0.0.1:{port}/api/invoice" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    status = run_cli("status", "--data-dir", str(data_dir))
    assert "synced 1" in status.stdout, status.stdout
    assert (data_dir / "logs" / "rims-utility.log").exists()


async def _up(http: aiohttp.ClientSession) -> bool:
    try:
        async with http.get("/") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


def test_second_serve_on_the_same_port_says_why(tmp_path):
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = run_cli("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"Port {port}" in result.stderr and "already" in result.stderr


def test_bad_upstream_url_is_refused_with_a_reason(tmp_path):
    result = run_cli("serve", "--data-dir", str(tmp_path), "--upstream-url", "http://x/")
    assert result.returncode == 2 and "https://" in result.stderr


async def test_sandbox_command_serves_https_and_refuses_plain_http(tmp_path):
    https_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [*CLI, "sandbox", "kpra", "--port", str(https_port), "--http-port", str(http_port),
         "--data-dir", str(tmp_path / "sb")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        ca = tmp_path / "sb" / "tls"
        await wait_for(lambda: any(ca.glob("*ca*.pem")), what="sandbox CA file")
        import ssl
        ca_file = next(p for p in ca.glob("*ca*.pem"))
        context = ssl.create_default_context(cafile=str(ca_file))
        body = {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "invoice_no": "SB-1", "amount": 200,
                "sales_tax": 10, "tax_rate": 5, "total_amount": 210, "date": "2026-11-21 10:00:00"}
        async with aiohttp.ClientSession() as http:
            async def answered() -> int | None:
                try:
                    async with http.post(f"https://127.0.0.1:{https_port}/api/rims-integration",
                                         json=body, ssl=context) as response:
                        return response.status
                except aiohttp.ClientConnectorError:
                    return None
            assert await wait_for(answered, what="sandbox HTTPS answer") == 201
            async with http.post(f"http://127.0.0.1:{http_port}/api/rims-integration",
                                 json=body) as response:
                assert response.status == 403
                assert (await response.json())["message"] == "HTTPS required"
    finally:
        process.terminate()
        process.communicate(timeout=10)


HEADLESS_WITHOUT_QT = r"""
import importlib.abc, sys
class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "PyQt5", "PyQt6"):
            raise ImportError(f"{name} is blocked for this test")
sys.meta_path.insert(0, NoQt())
try:
    import PySide6  # noqa
    raise SystemExit("PySide6 import should have failed")
except ImportError:
    pass
import app.service, app.cli
assert not [m for m in sys.modules if m.startswith(("PySide6", "shiboken6"))]
raise SystemExit(app.cli.main(sys.argv[1:]))
"""


async def test_headless_practice_service_runs_with_pyside6_unimportable(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", HEADLESS_WITHOUT_QT, "serve", "--practice", "--port", str(port),
         "--data-dir", str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            await wait_for(lambda: _up(http), what="practice serve to answer")
            async with http.get("/") as response:
                assert "practice mode" in await response.text()
            async with http.post("/api/invoice", json=invoice("PRACTICE-1")) as response:
                assert response.status == 201, await response.text()

            async def synced() -> bool:
                async with http.get(f"/api/invoices/{POS_ID}/PRACTICE-1") as response:
                    return (await response.json())["data"]["state"] == "synced"
            await wait_for(synced, what="practice invoice synced at the built-in sandbox")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=15)
    assert process.returncode == 0, output
    assert "PRACTICE MODE" in output




def test_the_tray_command_without_a_screen_runs_headless(tmp_path):
    """`rims-utility` on a machine with no display: the service still runs (as `serve`), with a
    note saying so, instead of Qt aborting."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "tray", "--practice", "--port", "0", "--data-dir",
         str(tmp_path / "data")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "data" / "rims-utility.lock"
        deadline = time.monotonic() + 30
        url = None
        while time.monotonic() < deadline and url is None:
            if lock.exists() and '"url"' in lock.read_text():
                import json
                url = json.loads(lock.read_text())["url"]
            time.sleep(0.1)
        assert url, "the headless service did not start"
        with urllib.request.urlopen(url + "/", timeout=5) as answer:
            assert answer.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "no screen here" in errors and "running headless" in errors
