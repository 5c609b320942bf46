"""bench/frozen.py keeps working: its --quick mode (one run of each program and mode, 2 s idle)
against the session's frozen bundle, in its own process, writing its section into a document of
the test's (never docs/PERFORMANCE.md). Plausible figures are checked (a 201 reached, memory
measured for the program and its writer, clean exits); no timing is asserted: a loaded CI machine
may be slow."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_frozen_benchmark_runs_and_prints_its_figures(bundle: Path, tmp_path: Path):
    doc = tmp_path / "PERFORMANCE.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "frozen.py"), "--quick", "--bundle", str(bundle),
         "--doc", str(doc)],
        cwd=ROOT, env=os.environ | {"TMPDIR": str(tmp_path)}, capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["failed"] == 0

    runs = figures["all_runs"]
    assert {(r["program"], r["mode"]) for r in runs} == {
        (program, mode) for program in ("source", "frozen") for mode in ("serve", "tray")}
    for run in runs:
        where = f"{run['program']} {run['mode']}: {run}"
        assert run["error"] is None, where
        assert run["exit_code"] == 0 and run["left_over"] == [], where
        assert 0 < run["listening_s"] <= run["first_201_s"], where
        assert run["cpu_s"] > 0, where
        roles = {p["role"] for p in run["processes"]}
        assert {"main", "writer"} <= roles, where
        for process in run["processes"]:
            assert 0 < process["pss_mb"] <= process["rss_mb"], where
        assert run["rss_mb"] >= run["pss_mb"] > 0, where

    bundle_size = figures["artifacts"][0]
    assert bundle_size["size_mb"] > 1 and bundle_size["files"] > 10, bundle_size
    assert any(line.startswith("headless service (`serve`): start → first 201")
               for line in done.stdout.splitlines()), done.stdout

    text = doc.read_text(encoding="utf-8")
    assert text.count("## Frozen program: start-up, memory, bundle size") == 1, text
    assert "| headless service (`serve`): start → first 201 |" in text, text
    assert "frozen/source" in text and "bundle (one folder)" in text, text
