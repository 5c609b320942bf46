"""Work that needs a heavy library once runs in a short-lived helper process (this program
started again with a hidden command, app/relaunch.py), so that the library never stays in the
service: the POS keys from the keyring (keystore.read_keys, `_keys`: keyring and its backend, on
Linux jeepney and cryptography) and practice mode's sandbox certificates (`_sandbox-tls`: trustme
and cryptography). Real keyring (build_scripts/with-keyring.sh), real processes."""

import logging
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from app import keystore, relaunch
from app.sandbox import tls
from app.service import core
from tests.conftest import wait_for
from tests.integration.conftest import KEY, NTN, POS_ID, invoice
from tests.integration.test_cli import CLI, free_port, run_cli

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32",
                                reason="Windows reads the keyring in the service itself")


@pytest.fixture
def started(monkeypatch) -> list:
    """The command line of every subprocess.run call (each is still run for real)."""
    commands: list = []
    real_run = subprocess.run

    def run(args, **kwargs):
        commands.append(args)
        return real_run(args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    return commands


@POSIX_ONLY
def test_keys_are_read_by_a_helper_process_with_the_same_keyring(started):
    keystore.save_key("kpra", "N-KH", "KH-1", "helper-key-1")
    try:
        report = keystore.read_keys([("kpra", "N-KH", "KH-1"), ("kpra", "N-KH", "KH-MISSING")])
    finally:
        keystore.delete_key("kpra", "N-KH", "KH-1")
    assert report.keys == ["helper-key-1", None]
    assert report.backend == keystore.backend_name() and report.warning is None
    assert len(started) == 1 and relaunch.KEYS in started[0]


@POSIX_ONLY
def test_the_helper_uses_keyrings_own_backend_choice(monkeypatch):
    """PYTHON_KEYRING_BACKEND reaches the helper (a fresh process: this one's keyring is
    already set up), and a backend that fails gives the error, not a key."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    report = keystore.read_keys([("kpra", "N-KH", "KH-2")])
    assert isinstance(report.keys[0], keystore.KeystoreError)
    assert "fail.Keyring" in report.backend and report.warning is not None


def test_keys_are_read_here_if_the_helper_fails(monkeypatch, caplog):
    keystore.save_key("kpra", "N-KH", "KH-3", "helper-key-3")
    try:
        monkeypatch.setattr(relaunch, "command",
                            lambda *args: [sys.executable, "-c", "raise SystemExit(3)"])
        report = keystore.read_keys([("kpra", "N-KH", "KH-3")])
    finally:
        keystore.delete_key("kpra", "N-KH", "KH-3")
    assert report.keys == ["helper-key-3"]
    if sys.platform != "win32":
        assert "keyring helper process failed" in caplog.text


def test_practice_certificates_are_made_by_a_helper_process(tmp_path, started):
    core._make_sandbox_certificates(tmp_path / "tls")
    assert tls.certificates_ready(tmp_path / "tls")
    assert len(started) == 1 and relaunch.SANDBOX_TLS in started[0]
    core._make_sandbox_certificates(tmp_path / "tls")  # there already: reused
    assert len(started) == 1


def test_practice_certificates_are_made_here_if_the_helper_fails(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(relaunch, "command",
                        lambda *args: [sys.executable, "-c", "raise SystemExit(3)"])
    core._make_sandbox_certificates(tmp_path / "tls")
    assert not tls.certificates_ready(tmp_path / "tls")
    assert "certificates made here instead" in caplog.text
    tls.ensure_certificates(tmp_path / "tls")  # what the sandbox does as it starts
    assert tls.certificates_ready(tmp_path / "tls")


async def _post_one(port: int, number: str) -> None:
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
        async def answers() -> bool:
            try:
                async with http.get("/api/health") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(answers, what="serve to answer on its port")
        async with http.post("/api/invoice", json=invoice(number)) as response:
            assert response.status == 201  # its key was at hand


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_practice_serve_runs_without_cryptography_in_its_process(tmp_path):
    """A fresh data folder: the sandbox's certificates are made at this start."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--practice", "--port", str(port), "--data-dir",
         str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        await _post_one(port, "KH-PRACTICE-1")
        assert tls.certificates_ready(tmp_path / "data" / "practice-sandbox" / "tls")
        assert "/cryptography/" not in Path(f"/proc/{process.pid}/maps").read_text()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_serve_takes_invoices_without_keyring_in_its_process(tmp_path, sandbox):
    """With the Secret Service backend, keyring in the process would bring cryptography's Rust
    library: its absence after a POS's key was used shows the keyring stayed out."""
    data_dir = tmp_path / "data"
    done = run_cli("setup", "--ntn", NTN, "--pos-id", POS_ID, "--data-dir", str(data_dir),
                   stdin=KEY + "\n")
    assert done.returncode == 0, done.stderr
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--upstream-url", sandbox.endpoint_url, "--upstream-ca", str(sandbox.ca_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        await _post_one(port, "KH-SERVE-1")
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        assert "/cryptography/" not in maps
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
