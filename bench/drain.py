"""Drain benchmark (issue 7): after an outage, how fast does the queue empty, and do the tills feel it?

Real processes, as in a shop: `rims-utility sandbox kpra` (the KPRA stand-in, HTTPS) and
`rims-utility serve` pointed at it, each in its own process, with a fresh data folder and the POS
key in the keyring (run this under build_scripts/with-keyring.sh; bench/run.sh does).

1. The sandbox is down (connections refused), as during an internet outage.
2. The tills post N invoices (default 10,000): all answered 201 and queued.
3. Idle intake: the tills keep posting at a steady rate (open loop, bench/loadgen.py, its own
   process) for a while; request latency p50/p99 while nothing is sent.
4. The line comes back with 100 ms added to every KPRA answer (the sandbox's `delay`).
   The queue drains while the tills keep posting at the same rate: intake p99 during the drain.
5. Every invoice must end `synced` and be recorded by the sandbox exactly once; the sandbox also
   counts the client connections it saw (TLS handshakes).

    bash build_scripts/with-keyring.sh .venv/bin/python bench/drain.py [--invoices 10000]
        [--latency 0.1] [--rate 50] [--quick] [--write-doc] [--results FILE]

Targets: ≥ 100 invoices/s; intake p99 during the drain ≤ 2 × idle p99. The utility's retry
settings are shortened for the bench (first retry 1–2 s, cap 5 s) so it notices the line is back
within seconds instead of the product's up-to-five-minutes; the drain itself runs on the product's
defaults (send_concurrency, connection reuse).
"""

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402 (this folder, run as a script)
from perf_doc import add_output_options, machine, replace_section  # noqa: E402

from app import settings  # noqa: E402

SECTION = "## Drain after an outage: 10,000 queued invoices, 100 ms per KPRA answer"
HEADING = "## Drain after an outage"
TARGET_RATE = 100.0
TARGET_P99_FACTOR = 2.0
CLI = [sys.executable, "-m", "app"]


@dataclass
class DrainResult:
    invoices: int
    latency_s: float
    fill_s: float
    detect_s: float  # line back → first invoice synced
    drain_s: float  # line back → the last of the N synced
    steady_rate: float  # N / (last synced − first synced)
    overall_rate: float  # N / drain_s
    idle: dict
    during: dict
    requests: int
    connections: int
    recorded_once: bool
    concurrency: int
    serve_cpu: float  # cores the service (main + writer) used during the drain
    sandbox_cpu: float
    progress: list[tuple[float, int]]

    @property
    def p99_factor(self) -> float:
        return self.during["service_p99_ms"] / self.idle["service_p99_ms"]


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (the writer process, started from
    one of the service's threads: every thread's children are looked at)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            pids += [int(c) for c in (task / "children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def control(url: str, changes: dict | None = None) -> dict:
    data = json.dumps(changes).encode() if changes is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def start_sandbox(work: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [*CLI, "sandbox", "kpra", "--port", "0", "--data-dir", str(work / "sandbox")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    found: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while len(found) < 3 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the sandbox did not start (exit {process.wait()})")
        for key, label in (("endpoint", "endpoint (HTTPS): "), ("control", "(HTTP): "),
                           ("ca", "CA certificate to trust: ")):
            if label in line:
                found[key] = line.split(label, 1)[1].strip()
    return process, found


def setup_pos(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text(
        "[retry]\nfirst_min = 1.0\nfirst_max = 2.0\ncap = 5.0\n", encoding="utf-8")
    done = subprocess.run(
        [*CLI, "setup", "--ntn", loadgen.NTN, "--pos-id", loadgen.POS_ID, "--data-dir",
         str(data_dir)], input=loadgen.KEY + "\n", capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit("`rims-utility setup` failed (run this under "
                         f"build_scripts/with-keyring.sh):\n{done.stderr}")


def start_serve(data_dir: Path, port: int, sandbox: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--upstream-url", sandbox["endpoint"], "--upstream-ca", sandbox["ca"]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"serve exited with {process.returncode}") from None
            time.sleep(0.05)
    raise SystemExit("serve did not come up")


def run_load(url: str, rate: float, seconds: float, connections: int, run_id: str
             ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "loadgen.py"), url, str(rate), str(seconds),
         str(connections), run_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    if process.returncode != 0 or not out.strip():
        raise SystemExit(f"the load generator failed ({process.returncode}):\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    if result["created"] != result["requests"]:
        raise SystemExit(f"the tills got answers other than 201: {result['statuses']}")
    return result


def synced_of(db: Path, prefix: str) -> tuple[int, float | None, float | None]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        return connection.execute(
            "SELECT COUNT(*), MIN(synced_at), MAX(synced_at) FROM invoice "
            "WHERE state = 'synced' AND invoice_no LIKE ? AND invoice_no NOT LIKE ?",
            (prefix + "-%", prefix + "-warm-%")).fetchone()


def pending_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM invoice WHERE state <> 'synced'").fetchone()[0]


def run(args: argparse.Namespace, work: Path) -> DrainResult:
    sandbox_process, sandbox = start_sandbox(work)
    serve_process = None
    try:
        control(sandbox["control"] + "/faults", {"down": True})
        data_dir = work / "data"
        setup_pos(data_dir)
        port = free_port()
        serve_process = start_serve(data_dir, port, sandbox)
        url = f"http://127.0.0.1:{port}/api/invoice"
        db = data_dir / "rims.sqlite3"
        concurrency = settings.load(data_dir).send_concurrency

        # 2. the outage: N invoices queued
        started = time.monotonic()
        fill = asyncio.run(loadgen.generate(url, 1e6, args.invoices / 1e6, 16, "Q"))
        fill_s = time.monotonic() - started
        if fill["created"] != args.invoices:
            raise SystemExit(f"queueing: {fill['statuses']}")
        print(f"queued {args.invoices:,} invoices in {fill_s:.1f} s (sandbox down)", flush=True)

        # 3. idle intake (nothing can be sent)
        idle = load_result(run_load(url, args.rate, args.load_seconds, 16, "I"))
        print(f"idle intake: p50 {idle['service_p50_ms']:.2f} ms, p99 "
              f"{idle['service_p99_ms']:.2f} ms at {idle['achieved_rate']:.0f}/s", flush=True)

        # 4. the line is back, 100 ms per answer; the tills keep posting
        serve_cpu0, sandbox_cpu0 = cpu_seconds(serve_process.pid), cpu_seconds(
            sandbox_process.pid)
        during_process = run_load(url, args.rate, args.load_seconds, 16, "D")
        time.sleep(0.5)  # the load generator's connections are open and its clock running
        control(sandbox["control"] + "/faults", {"down": False, "delay": args.latency})
        back = time.time()
        back_mono = time.monotonic()
        progress: list[tuple[float, int]] = []
        deadline = back_mono + 120 + args.invoices / 20
        while True:
            count, _, _ = synced_of(db, "Q")
            progress.append((round(time.monotonic() - back_mono, 2), count))
            if count >= args.invoices:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {count} of {args.invoices} synced in time")
            time.sleep(0.25)
        serve_cpu = cpu_seconds(serve_process.pid) - serve_cpu0
        sandbox_cpu = cpu_seconds(sandbox_process.pid) - sandbox_cpu0
        cpu_wall = time.monotonic() - back_mono
        during = load_result(during_process)
        count, first, last = synced_of(db, "Q")
        drain_s = last - back
        print(f"drained {count:,} in {drain_s:.1f} s after the line came back "
              f"(first synced after {first - back:.2f} s)", flush=True)
        deadline = time.monotonic() + 60
        while pending_count(db) and time.monotonic() < deadline:  # the tills' own invoices
            time.sleep(0.25)
        status = control(sandbox["control"])
        books = control(sandbox["control"] + "/invoices")["invoices"]
        ours = [b for b in books if b["invoice_no"].split("-")[0] in ("Q", "I", "D")]
        recorded_once = (all(b["received_count"] == 1 for b in ours)
                         and len({b["invoice_no"] for b in ours}) == len(ours)
                         and sum(b["invoice_no"].startswith("Q-") and "warm" not in b["invoice_no"]
                                 for b in ours) == args.invoices)
        return DrainResult(
            invoices=args.invoices, latency_s=args.latency, fill_s=fill_s,
            detect_s=first - back, drain_s=drain_s,
            steady_rate=args.invoices / max(last - first, 1e-9),
            overall_rate=args.invoices / drain_s, idle=idle, during=during,
            requests=status["total_requests"], connections=status["connections_seen"],
            recorded_once=recorded_once, concurrency=concurrency,
            serve_cpu=serve_cpu / cpu_wall, sandbox_cpu=sandbox_cpu / cpu_wall,
            progress=progress)
    finally:
        for process in (serve_process, sandbox_process):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def targets(r: DrainResult) -> list[dict]:
    """The issue's targets, met or missed, for bench/suite.py's summary."""
    rate_met = r.overall_rate >= TARGET_RATE
    p99_met = r.p99_factor <= TARGET_P99_FACTOR
    return [
        {"area": "Drain", "target": f"≥ {TARGET_RATE:.0f} invoices/s ({r.invoices:,} queued, "
                                    f"{r.latency_s * 1000:.0f} ms per answer)",
         "figure": f"{r.overall_rate:.0f}/s from the line's return "
                   f"({r.steady_rate:.0f}/s once sending)",
         "met": rate_met,
         "limit": None if rate_met else (
             f"{r.concurrency} requests in flight × {r.latency_s * 1000:.0f} ms per answer caps "
             f"it at {r.concurrency / r.latency_s:.0f}/s; the service used "
             f"{r.serve_cpu:.2f} cores")},
        {"area": "Drain", "target": "intake p99 during the drain ≤ 2 × idle p99",
         "figure": f"{r.during['service_p99_ms']:.2f} ms vs {r.idle['service_p99_ms']:.2f} ms "
                   f"idle ({r.p99_factor:.2f}×)",
         "met": p99_met,
         "limit": None if p99_met else (
             "the event loop that answers the tills also runs the sends (TLS, JSON) and the "
             "writer commits their outcomes between the tills' invoices")},
    ]


def write_doc(r: DrainResult, args: argparse.Namespace, doc: Path | None) -> None:
    rate_word = "met" if r.overall_rate >= TARGET_RATE else "**missed**"
    p99_word = "met" if r.p99_factor <= TARGET_P99_FACTOR else "**missed**"
    marks = [p for p in r.progress if p[1]]
    curve = ", ".join(f"{t:.0f} s: {n:,}" for t, n in _thin(marks, 8))
    section = f"""{SECTION}

Measured {date.today()} on {machine()}, Python {sys.version.split()[0]}, with
`bash build_scripts/with-keyring.sh .venv/bin/python bench/drain.py --invoices {r.invoices} \
--latency {r.latency_s} --rate {args.rate:g} --load-seconds {args.load_seconds:g} --write-doc`
(or `bash bench/run.sh`, which runs every benchmark).

Two real processes: `rims-utility sandbox kpra` (HTTPS, its own CA) and `rims-utility serve`
pointed at it, a fresh data folder, the POS key in the keyring, the product's defaults
(`send_concurrency = {r.concurrency}`) except shorter retry waits (first retry 1–2 s, cap 5 s)
so the line's return is noticed within seconds. The sandbox is down while {r.invoices:,}
invoices are posted (queued in {r.fill_s:.1f} s, all 201); then the tills post
{args.rate:g} invoices/s (16 keep-alive connections, open loop, bench/loadgen.py in its own process)
for {args.load_seconds:g} s with nothing being sent (idle), and again for {args.load_seconds:g} s
from the moment the line comes back with {r.latency_s * 1000:.0f} ms added to every answer.

| | figure | target | |
|---|---|---|---|
| drain rate from the line's return to the last of the {r.invoices:,} synced | \
**{r.overall_rate:.0f} invoices/s** ({r.drain_s:.1f} s) | ≥ {TARGET_RATE:.0f}/s | {rate_word} |
| drain rate once sending (first to last synced) | {r.steady_rate:.0f} invoices/s | | |
| line back → first invoice synced | {r.detect_s:.2f} s | | |
| intake p50 / p99, idle | {r.idle['service_p50_ms']:.2f} / {r.idle['service_p99_ms']:.2f} ms \
| | |
| intake p50 / p99, during the drain | {r.during['service_p50_ms']:.2f} / \
**{r.during['service_p99_ms']:.2f} ms** ({r.p99_factor:.2f}× idle) | ≤ 2× idle | {p99_word} |
| tills' load achieved, idle / during | {r.idle['achieved_rate']:.0f} / \
{r.during['achieved_rate']:.0f} invoices/s, all 201 | | |
| requests at the sandbox / TLS connections it saw | {r.requests:,} / {r.connections} | | |
| every invoice recorded by the sandbox exactly once | {"yes" if r.recorded_once else "**no**"} \
| | |
| CPU during the drain: service (main + writer) / sandbox | {r.serve_cpu:.2f} / \
{r.sandbox_cpu:.2f} cores | | |

Synced so far, seconds after the line came back: {curve}.

How it gets there: {r.concurrency} sends in flight at once (`send_concurrency`), over at most
{r.concurrency} kept-alive HTTPS connections (aiohttp's connector, `limit={r.concurrency}`,
keep-alive 60 s), so the TLS handshake is paid once per connection, not per invoice: the sandbox
saw {r.connections} connections for {r.requests:,} requests. With {r.latency_s * 1000:.0f} ms per
answer that bounds the drain at {r.concurrency / r.latency_s:.0f}/s; each finished send frees
its slot and the forwarder claims the next invoice at once. Outcomes are committed by the
writer process in group commits shared with the tills' invoices, so the tills keep their
own fast path.
"""
    replace_section(HEADING, section, doc)


def _thin(points: list[tuple[float, int]], keep: int) -> list[tuple[float, int]]:
    if len(points) <= keep:
        return points
    step = (len(points) - 1) / (keep - 1)
    return [points[round(i * step)] for i in range(keep)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.1,
                        help="seconds the sandbox adds to every answer (default 0.1)")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="the tills' steady invoices/s while measuring intake (default 50)")
    parser.add_argument("--load-seconds", type=float, default=30.0,
                        help="length of the idle and the during-drain intake measurements")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 300 invoices, 2 s of load (CI)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.invoices, args.load_seconds = min(args.invoices, 300), min(args.load_seconds, 2.0)
    with tempfile.TemporaryDirectory(prefix="rims-drain-") as tmp:
        result = run(args, Path(tmp))
    for row in targets(result):
        print(f"{row['target']}: {row['figure']} — {'met' if row['met'] else 'MISSED'}")
    print(json.dumps({k: v for k, v in asdict(result).items() if k != "progress"}))
    if not result.recorded_once:
        print("FAILED: the sandbox did not record every invoice exactly once", file=sys.stderr)
        return 1
    if args.results:
        args.results.write_text(json.dumps(targets(result), indent=1), encoding="utf-8")
    if args.write_doc or args.doc:
        write_doc(result, args, args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
