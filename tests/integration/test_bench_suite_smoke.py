"""bench/suite.py, the one command behind docs/PERFORMANCE.md, in its quick form for the intake,
drain and tray-icon benchmarks: real `serve` and `sandbox kpra` processes, wrk, the load
generator, Xvfb with a real tray, and the summary of targets written at the top of a document.
No timing is asserted (the figures are for docs/PERFORMANCE.md, measured by `bash bench/run.sh`);
what is checked is that every benchmark ran, checked its own correctness (every 201 stored; every
invoice recorded by the sandbox exactly once) and reported each of its targets as met or missed."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_intake_and_drain_and_writes_the_summary_first(tmp_path: Path):
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text("# Performance\n\n## Some older section\n\nkept\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"), "--quick", "--only", "intake,drain,tray-icon",
         "--doc", str(doc)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    text = doc.read_text(encoding="utf-8")
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Targets (issue 7): met or missed", sections
    assert any(s.startswith("## Intake: `POST /api/invoice` at 1, 16, 64") for s in sections)
    assert any(s.startswith("## Drain after an outage") for s in sections)
    assert "## Tray app: start to icon in a real tray" in sections
    assert "## Some older section" in sections and "kept" in text
    summary = text.split("## ", 2)[1]
    for target in ("ratio to the do-nothing handler ≥ 0.6 at 16 clients",
                   "p99 ≤ 10 ms at 16 clients", "≥ 100 invoices/s",
                   "intake p99 during the drain ≤ 2 × idle p99",
                   "tray app: start → icon in a real tray ≤ 2.5 s"):
        row = next((line for line in summary.splitlines() if target in line), None)
        assert row is not None, f"{target!r} missing from the summary:\n{summary}"
        assert "| met |" in row or "| **missed** |" in row, row
    # the drain checked the sandbox's books: every invoice recorded once, over few connections
    figures = json.loads(next(line for line in done.stdout.splitlines()
                              if line.startswith('{"invoices"')))
    assert figures["recorded_once"] is True
    assert 1 <= figures["connections"] <= figures["concurrency"]
    assert figures["requests"] >= figures["invoices"]


def test_an_unknown_benchmark_name_is_refused(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "suite.py"), "--quick", "--only", "nonsense"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown benchmark(s): nonsense" in done.stderr
