"""Tray app: does the window stay responsive while the till posts invoices fast?

In this process: a QApplication (off-screen unless QT_QPA_PLATFORM says otherwise), the real
core on its own thread (app/gui/runtime.py) in practice mode on a temporary data folder, the
status window (app.gui.app.Shell, no tray) and the queue window open and updating live. In a
separate process: a load generator posting new invoices to POST /api/invoice at a steady rate
over several keep-alive connections (aiohttp), open loop (each request has its time slot).
Meanwhile a 10 ms QTimer (Qt.PreciseTimer) in the GUI thread records how late it fires
(actual interval − 10 ms): first with no load, then under load, in the same run.

    .venv/bin/python bench/gui_responsiveness.py [--seconds 30] [--rate 1000] [--connections 16]
                                                 [--quick] [--write-doc]

Target: p99 lateness ≤ 20 ms at 1,000 invoices/s. Exit status 0 when the figures were printed
(met or missed: --strict makes a miss exit 1). The practice sandbox receives what is sent, so
the core forwards invoices while they arrive, as it would in a shop.
"""

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Tray app: GUI responsiveness under load"
TICK_MS = 10
TARGET_P99_MS = 20.0
TARGET_RATE = 1000

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadgen import percentile as _percentile  # noqa: E402 (this folder, run as a script)
from perf_doc import machine, replace_section  # noqa: E402

# =========================================================================== the GUI side

@dataclass
class Lateness:
    name: str
    ticks: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    over_20ms: int
    snapshots: int  # status snapshots the windows received meanwhile
    main_cpu: float  # share of one core used by the GUI thread
    core_cpu: float  # … by the core's thread (intake, storage, sending)
    process_cpu: float  # … by the whole GUI process
    gc_runs: int  # garbage collections (any thread: they stop every thread, GIL held)
    gc_full: int  # … of them full (generation 2)
    gc_max_ms: float  # the longest of them
    late_with_gc: int  # ticks > 20 ms late while a collection of >= 5 ms ran
    worst: list[float] = field(default_factory=list)  # the five longest intervals (ms)


def _thread_cpu(tid: int) -> float:
    """CPU seconds of one thread of this process (/proc; Linux only)."""
    try:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QEventLoop, Qt, QTimer
        from PySide6.QtWidgets import QApplication

        from app.gui.app import Shell
        from app.gui.runtime import Runtime
        from app.settings import load

        self.args = args
        self.QEventLoop, self.QTimer = QEventLoop, QTimer
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.app.setQuitOnLastWindowClosed(False)
        self.settings = load(data_dir, port=0, practice=True)
        self.runtime = Runtime(self.settings)
        self.shell = Shell(self.settings, self.runtime, use_tray=False, confirm_quit=False)
        self.base_url: str | None = None
        self.failure: str | None = None
        self.snapshots = 0
        self.last_snapshot = None
        bridge = self.runtime.bridge
        bridge.started.connect(self._started)
        bridge.failed.connect(self._failed)
        bridge.snapshot.connect(self._snapshot)
        self.notes: list[str] = []
        self.queue_missing: str | None = None
        self.stamps: list[float] = []
        self.recording = False
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.collections: list[tuple[float, float, int]] = []  # (start, end, generation)
        self._gc_started: dict[int, float] = {}
        gc.callbacks.append(self._gc)

    # ------------------------------------------------------------------ plumbing

    def _started(self, url: str) -> None:
        self.base_url = url

    def _failed(self, message: str) -> None:
        self.failure = message

    def _snapshot(self, snapshot: object) -> None:
        self.snapshots += 1
        self.last_snapshot = snapshot

    def _gc(self, phase: str, info: dict) -> None:
        now, thread = time.monotonic(), threading.get_ident()
        if phase == "start":
            self._gc_started[thread] = now
        elif (started := self._gc_started.pop(thread, None)) is not None and self.recording:
            self.collections.append((started, now, info["generation"]))

    def _tick(self) -> None:
        if self.recording:
            self.stamps.append(time.monotonic())

    def spin(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Run the Qt event loop for ``seconds`` or until ``until()`` is true (polled)."""
        loop = self.QEventLoop()
        deadline = time.monotonic() + seconds
        poll = self.QTimer()
        poll.setInterval(50)

        def check() -> None:
            if (until is not None and until()) or time.monotonic() >= deadline:
                loop.quit()
        poll.timeout.connect(check)
        poll.start()
        self.QTimer.singleShot(max(0, round(seconds * 1000)), loop.quit)
        loop.exec()
        poll.stop()
        return until() if until is not None else True

    # --------------------------------------------------------------------- phases

    def start(self) -> None:
        self.shell.start()  # shows the status window, starts the core
        if not self.spin(30, lambda: self.base_url is not None or self.failure is not None):
            raise SystemExit("the core did not start within 30 s")
        if self.failure:
            raise SystemExit(f"the core could not start: {self.failure}")
        try:
            import app.gui.queue_window  # noqa: F401
        except ImportError as why:
            self.queue_missing = f"the queue window was not open (app/gui/queue_window.py: {why})"
            self.notes.append(self.queue_missing)
        else:
            self.shell.show_queue()
        self.timer.start()
        self.spin(2.0)  # windows laid out and painted, first snapshots in
        print(f"{gc.get_freeze_count():,} objects frozen by the core after start-up (gc.freeze, "
              "app/service/core.py)", flush=True)

    def measure(self, name: str, seconds: float | None = None, *, load: dict | None = None
                ) -> Lateness:
        """Timer lateness while recording (``seconds``, or the load's own window)."""
        snapshots = self.snapshots
        main_tid, core_tid = threading.main_thread().native_id, self.runtime._thread.native_id
        cpu0 = (_thread_cpu(main_tid), _thread_cpu(core_tid), time.process_time())
        self.stamps.clear()
        self.collections.clear()
        self.recording = True
        t0 = time.monotonic()
        if load is None:
            self.spin(seconds or 0)
        else:
            process = load["process"]
            self.spin(load["seconds"] + 60, lambda: process.poll() is not None)
        self.recording = False
        wall = time.monotonic() - t0
        cpu1 = (_thread_cpu(main_tid), _thread_cpu(core_tid), time.process_time())
        stamps = self.stamps
        if load is not None:  # only the ticks while invoices were arriving
            result = load["result"] = _read_generator(load["process"])
            stamps = [s for s in stamps if result["start"] <= s <= result["end"]]
        intervals = [(b - a) * 1000 for a, b in itertools.pairwise(stamps)]
        lateness = [i - TICK_MS for i in intervals]
        if not lateness:
            raise SystemExit(f"{name}: the timer never fired")
        collections = [c for c in self.collections if stamps[0] <= c[1] and c[0] <= stamps[-1]]
        long_gcs = [c for c in collections if c[1] - c[0] >= 0.005]
        late_with_gc = sum(
            1 for a, b in itertools.pairwise(stamps)
            if (b - a) * 1000 - TICK_MS > TARGET_P99_MS and any(s < b and e > a for s, e, _ in long_gcs))
        return Lateness(
            name=name, ticks=len(intervals), p50_ms=statistics.median(lateness),
            p99_ms=_percentile(lateness, 99), max_ms=max(lateness),
            over_20ms=sum(1 for v in lateness if v > TARGET_P99_MS),
            snapshots=self.snapshots - snapshots,
            main_cpu=(cpu1[0] - cpu0[0]) / wall, core_cpu=(cpu1[1] - cpu0[1]) / wall,
            process_cpu=(cpu1[2] - cpu0[2]) / wall, gc_runs=len(collections),
            gc_full=sum(1 for c in collections if c[2] == 2),
            gc_max_ms=max(((e - s) * 1000 for s, e, _ in collections), default=0.0),
            late_with_gc=late_with_gc,
            worst=[round(v, 1) for v in sorted(intervals)[-5:][::-1]])

    def start_load(self, rate: float, seconds: float, connections: int) -> dict:
        assert self.base_url is not None
        run_id = f"GUIBENCH-{os.getpid()}-{int(time.time())}"
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "loadgen.py"), f"{self.base_url}/api/invoice",
             str(rate), str(seconds), str(connections), run_id],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return {"process": process, "seconds": seconds, "run_id": run_id}

    def stop(self) -> None:
        self.timer.stop()
        for window in list(self.shell.windows.values()):
            window.close()
        self.shell.main.hide()
        if not self.runtime.stop():
            self.notes.append("the core did not stop within 20 s")


def _read_generator(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=60)
    if process.returncode != 0 or not out.strip():
        raise SystemExit(f"the load generator failed ({process.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


# ===================================================================================== main

def _row(r: Lateness) -> str:
    return (f"{r.name:<26} {r.ticks:>6} ticks  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  "
            f"max {r.max_ms:7.2f} ms  >20 ms: {r.over_20ms:<4} snapshots {r.snapshots:<3} "
            f"CPU: GUI thread {r.main_cpu:4.0%}, core thread {r.core_cpu:4.0%}, "
            f"process {r.process_cpu:4.0%}; {r.gc_runs} garbage collections ({r.gc_full} full), longest "
            f"{r.gc_max_ms:.1f} ms; late ticks during one of >= 5 ms: {r.late_with_gc}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="length of each phase (no load, then load); default 30")
    parser.add_argument("--rate", type=float, default=TARGET_RATE,
                        help="invoices per second offered by the load generator; default 1000")
    parser.add_argument("--connections", type=int, default=16,
                        help="keep-alive connections of the load generator; default 16")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 3 s phases at 50 invoices/s (no doc written)")
    parser.add_argument("--write-doc", action="store_true",
                        help=f"write the figures into docs/PERFORMANCE.md ({SECTION[3:]})")
    parser.add_argument("--doc", type=Path, default=None,
                        help="write the section into this file instead of docs/PERFORMANCE.md")
    parser.add_argument("--results", type=Path, default=None,
                        help="write the target, met or missed, as JSON (bench/suite.py)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rate, args.connections = min(args.seconds, 3.0), 50.0, 2
        args.write_doc = args.doc is not None

    with tempfile.TemporaryDirectory(prefix="rims-gui-bench-") as tmp:
        bench = Bench(args, Path(tmp) / "data")
        try:
            bench.start()
            for note in bench.notes:
                print(f"note: {note}")
            print(f"GUI responsiveness: {TICK_MS} ms timer in the GUI thread, "
                  f"{args.seconds:g} s per phase; load {args.rate:g} invoices/s over "
                  f"{args.connections} connections", flush=True)
            idle = bench.measure("no load", args.seconds)
            print(_row(idle), flush=True)
            load = bench.start_load(args.rate, args.seconds, args.connections)
            loaded = bench.measure(f"{args.rate:g} invoices/s", load=load)
            print(_row(loaded), flush=True)
            snapshot = bench.last_snapshot
            counts = dict(snapshot.counts) if snapshot is not None else {}
        finally:
            bench.stop()
    gen = load["result"]
    ratio = loaded.p99_ms / idle.p99_ms if idle.p99_ms > 0 else float("inf")
    met = loaded.p99_ms <= TARGET_P99_MS and gen["achieved_rate"] >= 0.95 * TARGET_RATE
    print(f"load generator (separate process): offered {gen['offered_rate']:g}/s, "
          f"achieved {gen['achieved_rate']:.0f} invoices/s ({gen['created']} of "
          f"{gen['requests']} answered 201; statuses {gen['statuses']}); latency p50 "
          f"{gen['service_p50_ms']:.2f} ms, p99 {gen['service_p99_ms']:.2f} ms "
          f"(from the time slot: p99 {gen['slot_p99_ms']:.2f} ms, max {gen['max_ms']:.1f} ms); "
          f"its CPU {gen['cpu']:.0%}")
    print(f"queue at the end: {counts}")
    print(f"p99 lateness under load / no load = {ratio:.1f}x; target p99 <= {TARGET_P99_MS:g} ms "
          f"at {TARGET_RATE} invoices/s: "
          + ("met" if met else "MISSED" if args.rate >= TARGET_RATE else
             f"not measured (rate {args.rate:g}/s)"))
    print(json.dumps({"idle": asdict(idle), "load": asdict(loaded),
                      "generator": {k: v for k, v in gen.items()
                                    if k not in ("start", "end", "wall_start", "wall_end")},
                      "ratio_p99": round(ratio, 2), "met": met, "notes": bench.notes}))
    if args.results:
        args.results.write_text(json.dumps([{
            "area": "Tray app (issue 5)",
            "target": f"GUI timer p99 lateness ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:,} invoices/s",
            "figure": f"{loaded.p99_ms:.2f} ms at {gen['achieved_rate']:,.0f}/s "
                      f"(no load: {idle.p99_ms:.2f} ms)",
            "met": met,
            "limit": None if met else "the GUI thread shares the interpreter lock with the core "
                                      "thread; garbage collections stop both (see its section)",
        }], indent=1), encoding="utf-8")
    if args.write_doc or args.doc:
        write_doc(args, idle, loaded, gen, ratio, met, counts, bench)
    return 1 if args.strict and not met else 0


def _para(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), 100, break_on_hyphens=False)


def _item(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), 100, initial_indent="- ", subsequent_indent="  ",
                         break_on_hyphens=False)


def write_doc(args: argparse.Namespace, idle: Lateness, loaded: Lateness, gen: dict,
              ratio: float, met: bool, counts: dict, bench: Bench) -> None:
    import PySide6

    windows = ("the status window and the queue window" if bench.queue_missing is None
               else f"the status window ({bench.queue_missing})")
    command = (f".venv/bin/python bench/gui_responsiveness.py --seconds {args.seconds:g} "
               f"--rate {args.rate:g} --connections {args.connections}"
               + " --write-doc")
    queue = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if v) or "unknown"
    blocks = [
        SECTION,
        _para(f"""Measured {date.today()} on {machine()}, Python {platform.python_version()},
              PySide6 {PySide6.__version__}, Qt platform
              `{os.environ.get("QT_QPA_PLATFORM", "offscreen")}`, with"""),
        f"    {command}",
        _para("""(`--quick` for a smoke run of a few seconds, as tests/gui/test_bench_gui_smoke.py
              does.)"""),
        _para(f"""One process holds the Qt GUI thread, the real core on its own thread
              (app/gui/runtime.py; practice mode, a fresh data folder, forwarding to the practice
              sandbox while invoices arrive) and {windows}, open and updating from the status
              snapshots. A separate process posts new invoices to `POST /api/invoice` at a steady
              rate over {args.connections} keep-alive connections (aiohttp, open loop: each
              request has its time slot). A 10 ms `QTimer` (`Qt.PreciseTimer`) in the GUI thread
              records how late it fires (actual interval − 10 ms): {args.seconds:g} s with no
              load, then {args.seconds:g} s under load, in the same run."""),
        "| phase | timer ticks | lateness p50 | p99 | max | ticks > 20 ms late | GUI thread CPU "
        "| core thread CPU |\n|---|---|---|---|---|---|---|---|\n"
        f"| no load | {idle.ticks:,} | {idle.p50_ms:.2f} ms | {idle.p99_ms:.2f} ms "
        f"| {idle.max_ms:.1f} ms | {idle.over_20ms} | {idle.main_cpu:.0%} | {idle.core_cpu:.0%} |\n"
        f"| {args.rate:,.0f} invoices/s offered | {loaded.ticks:,} | {loaded.p50_ms:.2f} ms "
        f"| {loaded.p99_ms:.2f} ms | {loaded.max_ms:.1f} ms | {loaded.over_20ms} "
        f"| {loaded.main_cpu:.0%} | {loaded.core_cpu:.0%} |",
        _para(f"""Load achieved: **{gen['achieved_rate']:,.0f} invoices/s** ({gen['created']:,}
              of {gen['requests']:,} answered 201); request latency p50
              {gen['service_p50_ms']:.2f} ms, p99 {gen['service_p99_ms']:.2f} ms (p99 counted
              from each request's time slot: {gen['slot_p99_ms']:.2f} ms). Queue at the end:
              {queue}."""),
        _para(f"""**p99 lateness under load: {loaded.p99_ms:.2f} ms ({ratio:.1f}× the no-load
              {idle.p99_ms:.2f} ms); target ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:,}
              invoices/s: {"met" if met else "MISSED"}.**"""),
        limits(args, loaded, gen),
    ]
    replace_section(SECTION, "\n\n".join(blocks), args.doc)


def limits(args: argparse.Namespace, loaded: Lateness, gen: dict) -> str:
    """What bounds the lateness: from py-spy 0.4.3 samples of this benchmark (GUI thread and
    core thread) and its own garbage-collector hooks; the figures are this run's."""
    freeze = ("Since issue 7 the core freezes what start-up made (`gc.freeze()` 2 s after "
              "start, app/service/core.py), so a full collection walks only what was made "
              "since: before that the longest collection here was 60-75 ms (2026-11-21).")
    return "\n".join([
        "What limits it (py-spy 0.4.3 on this benchmark, and its garbage-collector hooks):", "",
        _item(f"""The windows' own work is small: under load the GUI thread used
              {loaded.main_cpu:.0%} of a core, and py-spy found it running Python (the queue
              model's `data()`, the snapshot handlers) in about 1% of its samples; the rest of
              the time it waits in Qt's event loop."""),
        _item(f"""The GUI thread shares one interpreter with the core thread
              ({loaded.core_cpu:.0%} of a core here: aiohttp, validation, SQLite, sending, and
              in practice mode the sandbox that plays KPRA, on the same loop). To run its Python
              slot the timer's thread must take the GIL from the core thread, which lets go
              within `sys.getswitchinterval()` (5 ms): that sets the p99."""),
        _item(f"""The longest stalls are garbage collections: {loaded.gc_runs} ran during the
              load phase ({loaded.gc_full} full), the longest {loaded.gc_max_ms:.0f} ms, and
              {loaded.late_with_gc} of the {loaded.over_20ms} ticks more than 20 ms late
              overlapped one of ≥ 5 ms. A collection holds the GIL, so it stops the GUI thread
              whichever thread started it. {freeze}"""),
        _item(f"""On this {os.cpu_count()}-core machine the load generator (another process,
              {gen['cpu']:.0%} of a core) competes for the CPUs as well."""),
        "",
        _para("""A miss would come from these, not from the windows; the remedies are fewer
              or shorter collections in the core, or the core in a process of its own."""),
    ])


if __name__ == "__main__":
    sys.exit(main())
