"""bench/gui_responsiveness.py keeps working: a --quick run (two 3 s phases at 50 invoices/s) in
its own process prints its figures. No timing is asserted: a loaded CI machine may be slow."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gui_responsiveness_benchmark_runs_and_prints_its_figures():
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gui_responsiveness.py"), "--quick"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("no load") and "p99" in line for line in lines), done.stdout
    assert any(line.startswith("50 invoices/s") and "p99" in line for line in lines), done.stdout
    assert any(line.startswith("load generator") and "achieved" in line for line in lines)
    figures = json.loads(lines[-1])
    for phase in ("idle", "load"):
        assert figures[phase]["ticks"] > 0
        assert {"p50_ms", "p99_ms", "max_ms"} <= figures[phase].keys()
    assert figures["generator"]["created"] > 0, figures["generator"]
    assert figures["notes"] == [], figures["notes"]  # both windows were open
