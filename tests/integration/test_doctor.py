"""`rims-utility doctor` (app/cli_doctor.py) from the source install, as a separate process: all
ok here, and each check failing for its real cause with a line that says what is wrong. (The
frozen program runs it too: tests/packaging/smoke.py.)"""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("RIMS_RESOURCES", "DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "app", "doctor", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=environ | env)


def lines(done: subprocess.CompletedProcess) -> dict[str, str]:
    """{check name: its whole line} for every check line."""
    found = {}
    for line in done.stdout.splitlines():
        status, _, rest = line.strip().partition(" ")
        if status in ("ok", "FAIL"):
            found[rest.strip().split(":")[0]] = line.strip()
    return found


def test_a_complete_install_passes_every_check(tmp_path: Path):
    done = doctor(tmp_path, "--port", "0")
    checks = lines(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(checks) == {"files", "keyring", "certificates", "data folder", "port", "tray app"}
    assert all(line.startswith("ok") for line in checks.values()), checks
    assert "SecretService" in checks["keyring"]
    assert done.stdout.rstrip().endswith("Everything needed is here.")


def test_missing_resources_fail_with_the_missing_files_named(tmp_path: Path):
    (tmp_path / "resources" / "icons").mkdir(parents=True)
    done = doctor(tmp_path, "--port", "0", RIMS_RESOURCES=str(tmp_path / "resources"))
    assert done.returncode == 1
    line = lines(done)["files"]
    assert line.startswith("FAIL") and "icons/app.ico" in line and "web/login.html" in line


def test_a_keyring_that_cannot_keep_secrets_fails(tmp_path: Path):
    done = doctor(tmp_path, "--port", "0", PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert done.returncode == 1
    line = lines(done)["keyring"]
    assert line.startswith("FAIL") and "could not save a test secret" in line, line
    assert all(v.startswith("ok") for k, v in lines(done).items() if k != "keyring")


def test_a_port_taken_by_another_program_fails_and_says_so(tmp_path: Path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = doctor(tmp_path, "--port", str(port))
    assert done.returncode == 1
    line = lines(done)["port"]
    assert line.startswith("FAIL") and "another program" in line and str(port) in line


def test_the_windowed_windows_program_runs_with_no_console_streams(tmp_path: Path):
    """rims-utility.exe is windowed (no console window at login), so there sys.stdout and
    sys.stderr are None. The commands must still work, their output going nowhere: nothing in
    the app may call sys.stdout.write/flush/isatty directly (print() and logging cope)."""
    code = ("import sys; sys.stdout = sys.stderr = None\n"
            "import app.cli\n"
            f"assert app.cli.main(['status', '--data-dir', {str(tmp_path)!r}]) == 0\n"
            f"raise SystemExit(app.cli.main(['doctor', '--port', '0', '--data-dir', "
            f"{str(tmp_path)!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
