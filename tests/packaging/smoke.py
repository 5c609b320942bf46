"""The smoke test every built program must pass, whether run from the bundle folder
(test_frozen.py) or from where the .deb installed it (test_deb.py): what a shopkeeper's first
day needs, through the program's own command line and its HTTP API, as separate processes.

1. `--version` names the version in pyproject.toml;
2. `doctor`: files, keyring round trip, CA certificates, data folder, port, Qt, all ok;
3. `setup` saves a POS key in the real keyring (read back with libsecret's `secret-tool`, a
   program that is not ours);
4. `serve --practice`: a POS invoice is answered 201, is sent to the practice sandbox and
   becomes synced; its QR code is a PNG; the dashboard's page is served; SIGTERM stops it with
   status 0, and the invoice is still there afterwards (`status`);
   4b. the same in Kenya practice mode, with the KRA Agent's and ProTax's sandboxes;
5. the tray app (Qt off-screen) runs for a few seconds, takes an invoice, and quits cleanly on
   SIGTERM (what the desktop session sends at log-out).

Nothing here imports the app: it is driven only from outside, like a till and a person would."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.gui.xvfb import wait_for  # the same polling the tray tests use

ROOT = Path(__file__).resolve().parents[2]
NTN, POS_ID, KEY = "K123456", "K123456", "KPRA@123a"  # practice mode's test user (README)
LOCK_NAME = "rims-utility.lock"


class SmokeFailure(AssertionError):
    pass


@dataclass
class Figures:
    """What the smoke run measured (for the test's figures line)."""
    first_201_s: float = 0.0
    synced_s: float = 0.0


def isolated_env(work: Path, **extra: str) -> dict[str, str]:
    """The test's environment (its D-Bus session and keyring) with the app's files in ``work``:
    nothing lands in the developer's own folders."""
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        folder = work / "xdg" / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    env.pop("RIMS_DATA_DIR", None)
    env.pop("RIMS_RESOURCES", None)  # the program must find its own resources
    env.pop("PYTHONPATH", None)  # and its own modules, not the checkout's
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env | extra


def run(program: Path, *args: str, env: dict[str, str], stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout, cwd=env.get("XDG_CACHE_HOME"))


def request(url: str, body: dict | None = None) -> tuple[int, bytes, str]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers),
                                    timeout=10) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read(), refused.headers.get("Content-Type", "")


def invoice(number: str) -> dict:
    return {"ntn": NTN, "pos_id": POS_ID, "key": KEY, "invoice_no": number, "amount": "200.00",
            "tax_rate": 16, "tax_amount": "32.00", "total_amount": "232.00",
            "date_time": "2026-11-21 10:00:00", "payment_mode": 1}


class Running:
    """A long-running command of the program (serve, tray), its output in a file."""

    def __init__(self, program: Path, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen([str(program), *args], env=env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            cwd=env.get("XDG_CACHE_HOME"))

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise SmokeFailure(f"the program exited ({self.process.returncode}):\n{self.output()}")

    def base_url(self, data_dir: Path, timeout: float = 60) -> str:
        """Its address, once listening: the instance lock records it (we start it on port 0)."""
        def listening() -> str | None:
            self.alive()
            try:
                return json.loads((data_dir / LOCK_NAME).read_text()).get("url")
            except (OSError, ValueError):
                return None

        return wait_for("the program to start listening", listening, timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as a desktop session or a service manager stops it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise SmokeFailure(f"it did not stop within {timeout} s of SIGTERM:\n"
                               f"{self.output()[-4000:]}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def check(condition: object, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def run_smoke(program: Path, work: Path, version: str | None = None) -> Figures:
    """All five steps against ``program``; raises SmokeFailure saying what went wrong."""
    figures = Figures()
    env = isolated_env(work)

    # 1. The version
    done = run(program, "--version", env=env)
    check(done.returncode == 0, f"--version failed: {done.stderr}")
    if version is not None:
        check(done.stdout.strip() == f"rims-utility {version}", f"--version said {done.stdout!r}")

    # 2. doctor: everything a frozen program tends to lose is there
    data = work / "data"
    done = run(program, "doctor", "--data-dir", str(data), "--port", "0", env=env)
    check(done.returncode == 0, f"doctor found problems:\n{done.stdout}{done.stderr}")
    check("FAIL" not in done.stdout and "SecretService" in done.stdout, done.stdout)

    # 3. setup: a POS key into the real keyring, read back by a program that is not ours
    done = run(program, "setup", "--ntn", "SMOKE-NTN", "--pos-id", "SMOKE-POS", "--data-dir",
               str(data), env=env, stdin="smoke-secret-key\n")
    check(done.returncode == 0, f"setup failed:\n{done.stdout}{done.stderr}")
    check("smoke-secret-key" not in done.stdout + done.stderr, "setup printed the key")
    lookup = ["secret-tool", "lookup", "service", "rims-utility", "username",
              "kpra:SMOKE-NTN:SMOKE-POS"]
    stored = subprocess.run(lookup, env=env, capture_output=True, text=True, timeout=30)
    check(stored.stdout.strip() == "smoke-secret-key",
          f"secret-tool does not find the key setup saved ({stored.returncode}: {stored.stderr})")
    subprocess.run(["secret-tool", "clear", *lookup[2:]], env=env, timeout=30, check=True)

    # 4. serve --practice: the till's invoice goes all the way, and survives a restart
    serve_args = ["serve", "--practice", "--data-dir", str(data), "--port", "0"]
    started = time.monotonic()
    server = Running(program, serve_args, env, work / "serve.log")
    try:
        base = server.base_url(data)
        status, body, _ = wait_for("the first 201", lambda: _posted(base, "SMOKE-1"), 30)
        figures.first_201_s = time.monotonic() - started
        answer = json.loads(body)
        check(status == 201, f"POST /api/invoice: {status} {answer}")
        state_url = f"{base}/api/invoices/{POS_ID}/SMOKE-1"
        wait_for("SMOKE-1 to be synced", lambda: _state(state_url) == "synced", 60)
        figures.synced_s = time.monotonic() - started
        status, png, kind = request(f"{base}/api/qr?pos_id={POS_ID}&invoice_no=SMOKE-1")
        check(status == 200 and kind == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n"),
              f"GET /api/qr: {status} {kind} {png[:60]!r}")
        status, page, _ = request(f"{base}/login.html")
        check(status == 200 and b"<html" in page.lower(), f"GET /login.html: {status}")
    finally:
        code = server.stop()
    check(code == 0, f"serve exited with {code} after SIGTERM:\n{server.output()[-4000:]}")
    check("Traceback" not in server.output(), f"serve logged a traceback:\n{server.output()}")
    done = run(program, "status", "--data-dir", str(data), env=env)
    check(done.returncode == 0 and "synced 1" in done.stdout,
          f"after the restart, status says:\n{done.stdout}{done.stderr}")

    # 4b. Kenya: practice mode with each Kenya authority's sandbox (its modules are in the build)
    for upstream, key in (("kra-agent", "practice-till-key"),
                          ("protax", "ptx_test_sandbox_key_0001")):
        _kenya_practice(program, work, env, upstream, key)

    # 5. The tray app, off-screen: up, takes an invoice, quits cleanly at log-out (SIGTERM)
    tray_data = work / "tray-data"
    tray = Running(program, ["tray", "--practice", "--data-dir", str(tray_data), "--port", "0"],
                   env | {"QT_QPA_PLATFORM": "offscreen"}, work / "tray.log")
    try:
        base = tray.base_url(tray_data)
        status, body, _ = wait_for("the tray app's 201", lambda: _posted(base, "TRAY-1"), 30)
        check(status == 201, f"POST to the tray app: {status} {body!r}")
        time.sleep(3)  # a few seconds of its timers, snapshots and windows
        tray.alive()
    finally:
        code = tray.stop()
    output = tray.output()
    check(code == 0, f"the tray app exited with {code} after SIGTERM:\n{output[-4000:]}")
    check("SIGTERM received: quitting" in output and "tray app stopped" in output, output[-4000:])
    check("Traceback" not in output, f"the tray app logged a traceback:\n{output}")
    return figures


def _kenya_practice(program: Path, work: Path, env: dict[str, str], upstream: str,
                    key: str) -> None:
    """`serve --practice --upstream …`: a sale with a new item is answered 201, the item is
    registered, the sale is signed by the sandbox, and its receipt QR (the authority's link) is
    served."""
    data = work / f"data-{upstream}"
    server = Running(program, ["serve", "--practice", "--upstream", upstream, "--data-dir",
                               str(data), "--port", "0"], env, work / f"serve-{upstream}.log")
    sale = {"ntn": "P051234567A", "pos_id": "POS-1", "key": key, "invoice_no": "KE-SMOKE-1",
            "date_time": "2026-11-20 10:00:00",
            "items": [{"item_name": "Smoke test item", "quantity": 2, "unit_price": 116,
                       "tax_type": "B"}]}
    try:
        base = server.base_url(data)
        status, body, _ = request(f"{base}/api/invoice", sale)
        check(status == 201, f"{upstream}: POST /api/invoice: {status} {body[:500]!r}")
        state_url = f"{base}/api/invoices/POS-1/KE-SMOKE-1"
        wait_for(f"{upstream}: KE-SMOKE-1 to be synced", lambda: _state(state_url) == "synced",
                 60)
        status, png, _ = request(f"{base}/api/qr?pos_id=POS-1&invoice_no=KE-SMOKE-1")
        check(status == 200 and png.startswith(b"\x89PNG"), f"{upstream}: GET /api/qr: {status}")
    finally:
        code = server.stop()
    check(code == 0, f"{upstream}: serve exited with {code}:\n{server.output()[-4000:]}")
    check("Traceback" not in server.output(), f"{upstream}: a traceback:\n{server.output()}")


def _posted(base: str, number: str) -> tuple[int, bytes, str] | None:
    try:
        return request(f"{base}/api/invoice", invoice(number))
    except OSError:  # not accepting yet
        return None


def _state(url: str) -> str | None:
    status, body, _ = request(url)
    if status != 200:
        return None
    answer = json.loads(body)
    return (answer.get("data") or answer).get("state")
