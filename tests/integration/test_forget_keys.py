"""`rims-utility forget-keys`: the POS keys of a data folder leave the real keyring (the Windows
uninstaller runs it when the shopkeeper asks to delete everything), and not while the service
runs there."""

import os
import subprocess
import sys
from pathlib import Path

import keyring

from app import keystore
from app.service.instance import InstanceLock

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RIMS_DATA_DIR"}
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)


def test_the_keys_of_this_folders_pos_are_removed_and_no_other(tmp_path: Path):
    data, other = tmp_path / "shop", tmp_path / "other-shop"
    for folder, pos_id in ((data, "FK-1"), (data, "FK-2"), (other, "FK-3")):
        done = cli("setup", "--ntn", "N-FK", "--pos-id", pos_id, "--data-dir", str(folder),
                   stdin=f"secret-{pos_id}\n")
        assert done.returncode == 0, done.stderr
    try:
        done = cli("forget-keys", "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        assert "FK-1, FK-2" in done.stdout and "secret" not in done.stdout + done.stderr
        assert keystore.load_key("kpra", "N-FK", "FK-1") is None
        assert keystore.load_key("kpra", "N-FK", "FK-2") is None
        assert keystore.load_key("kpra", "N-FK", "FK-3") == "secret-FK-3"  # another folder's
        again = cli("forget-keys", "--data-dir", str(data))
        assert again.returncode == 0 and "no key" in again.stdout
    finally:
        keystore.delete_key("kpra", "N-FK", "FK-3")


def test_nothing_is_removed_while_the_service_runs_there(tmp_path: Path):
    data = tmp_path / "shop"
    assert cli("setup", "--ntn", "N-FK", "--pos-id", "FK-9", "--data-dir", str(data),
               stdin="secret-9\n").returncode == 0
    try:
        with InstanceLock(data):  # as a running service holds it
            done = cli("forget-keys", "--data-dir", str(data))
        assert done.returncode == 1 and "already running" in done.stderr
        assert keyring.get_password(keystore.SERVICE, "kpra:N-FK:FK-9") == "secret-9"
    finally:
        keystore.delete_key("kpra", "N-FK", "FK-9")


def test_a_folder_without_a_database_has_nothing_to_remove(tmp_path: Path):
    done = cli("forget-keys", "--data-dir", str(tmp_path / "empty"))
    assert done.returncode == 0 and "no key to remove" in done.stdout
