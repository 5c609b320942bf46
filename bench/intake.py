"""Intake benchmark (issue 2): POST /api/invoice at 16 concurrent clients against
(a) the utility (synchronous=FULL, group commit) and (b) a do-nothing aiohttp handler, measured
in the same run, interleaved, with the ratio a/b.

    .venv/bin/python bench/intake.py [--seconds 10] [--rounds 2] [--write-doc]

Needs wrk (Debian package `wrk`; installed automatically when running as root).
The utility runs in practice mode with sending paused, so the figure is intake alone.
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from perf_doc import replace_section  # (this folder: run as a script)

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "post_invoice.lua"
CONNECTIONS = 16


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       stdout=subprocess.DEVNULL)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                           stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def wait_up(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not come up")


def run_wrk(wrk: str, port: int, seconds: int, run_id: str) -> tuple[float, float, float, int, int]:
    output = subprocess.run(
        [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(LUA),
         f"http://127.0.0.1:{port}", "--", run_id],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (rps, _latency(output, "50%"), _latency(output, "99%"), requests,
            int(non_2xx.group(1)) if non_2xx else 0)


def _latency(output: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_utility(data_dir: Path, port: int) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text("sending_paused = true\n", encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--practice", "--port", str(port),
         "--data-dir", str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_null(port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "null_server.py"), str(port)])


def measure(name: str, start, wrk: str, seconds: int, run_id: str, workdir: Path) -> Result:
    port = free_port()
    process = start(port) if name == "null" else start(workdir / run_id, port)
    try:
        wait_up(port)
        run_wrk(wrk, port, 2, run_id + "w")  # warm-up
        rps, p50, p99, requests, non_2xx = run_wrk(wrk, port, seconds, run_id)
    finally:
        process.terminate()
        process.wait(timeout=20)
    if name == "utility":
        # Every acknowledged invoice must be stored; requests still in flight when wrk's clock
        # stopped (at most one per connection) are stored without being counted.
        stored = _stored(workdir / run_id / "rims.sqlite3", run_id)
        acknowledged = requests - non_2xx
        if not acknowledged <= stored <= acknowledged + CONNECTIONS:
            raise SystemExit(f"{name}: {acknowledged} answered 2xx but {stored} stored")
    return Result(name, rps, p50, p99, requests, non_2xx)


def _stored(db: Path, run_id: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT COUNT(*) FROM invoice WHERE invoice_no LIKE ?",
                                  (run_id + "-%",)).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write-doc", action="store_true", help="update docs/PERFORMANCE.md")
    args = parser.parse_args()
    wrk = ensure_wrk()
    results: dict[str, list[Result]] = {"utility": [], "null": []}
    with tempfile.TemporaryDirectory(prefix="rims-bench-") as tmp:
        for round_no in range(args.rounds):
            for name, start in (("null", start_null), ("utility", start_utility)):
                result = measure(name, start, wrk, args.seconds, f"r{round_no}{name[0]}",
                                 Path(tmp))
                results[name].append(result)
                print(f"round {round_no + 1} {name:8s} {result.rps:9.0f} req/s  "
                      f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                      f"({result.requests} requests, {result.non_2xx} non-2xx)", flush=True)
    a = _median(results["utility"])
    b = _median(results["null"])
    ratio = a.rps / b.rps
    print(f"\n(a) utility, synchronous=FULL : {a.rps:9.0f} req/s  p50 {a.p50_ms:.2f} ms  "
          f"p99 {a.p99_ms:.2f} ms")
    print(f"(b) do-nothing aiohttp handler: {b.rps:9.0f} req/s  p50 {b.p50_ms:.2f} ms  "
          f"p99 {b.p99_ms:.2f} ms")
    print(f"ratio a/b = {ratio:.2f}  (target >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'})")
    print(json.dumps({"utility_rps": round(a.rps), "null_rps": round(b.rps),
                      "ratio": round(ratio, 3)}))
    if args.write_doc:
        write_doc(a, b, ratio, args)


def _median(results: list[Result]) -> Result:
    ordered = sorted(results, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Result(middle.name, statistics.median(r.rps for r in results),
                  statistics.median(r.p50_ms for r in results),
                  statistics.median(r.p99_ms for r in results), middle.requests, middle.non_2xx)


def write_doc(a: Result, b: Result, ratio: float, args: argparse.Namespace) -> None:
    section = f"""## Intake: `POST /api/invoice` at {CONNECTIONS} concurrent clients

Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},
with `.venv/bin/python bench/intake.py --seconds {args.seconds} --rounds {args.rounds}`
(wrk -t2 -c{CONNECTIONS}, every request a new valid invoice; runs interleaved, medians shown).

| server | requests/s | p50 | p99 |
|---|---|---|---|
| (a) utility: validate, authenticate, durable store (`synchronous=FULL`, group commit) \
| {a.rps:,.0f} | {a.p50_ms:.2f} ms | {a.p99_ms:.2f} ms |
| (b) do-nothing aiohttp handler (reads the body, fixed answer) \
| {b.rps:,.0f} | {b.p50_ms:.2f} ms | {b.p99_ms:.2f} ms |

**Ratio a/b = {ratio:.2f}** (target ≥ 0.5; a commit per request reaches about 0.2 here).
The benchmark checks that every 2xx answer is a row in the database.
The utility runs in practice mode with sending paused, so this is intake alone.
"""
    replace_section("## Intake: `POST /api/invoice`", section)


if __name__ == "__main__":
    main()
