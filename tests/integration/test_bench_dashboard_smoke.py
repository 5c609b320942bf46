"""bench/dashboard_scale.py's whole code path on a few thousand invoices: the data set built
through the store, every list / report / export query through the real server and directly,
and every answer checked against plain SQL. No timing is asserted here (docs/PERFORMANCE.md
has the figures at a million rows)."""

import importlib.util
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from app.store import backups
from app.store.database import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000


def test_the_dashboard_benchmark_runs_and_every_answer_is_right(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dashboard_scale.py"), "--rows", str(ROWS),
         "--data", str(tmp_path), "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=170)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    result = json.loads(next(line for line in done.stdout.splitlines()
                             if line.startswith("RESULT "))[len("RESULT "):])
    assert result["checks_failed"] == 0, result["failures"]
    assert result["rows"] == ROWS and result["bytes_per_invoice"] > 0
    expected = {"first", "rejected", "pending", "unconfirmed", "pos", "card", "month",
                "q_recent", "q_old", "q_short", "q_exact", "unconfirmed_month",
                "pos_card_month", "deep", "deep_end", "status", "detail", "overview", "health",
                "pos_list", "sales_month", "sales_year", "recon_month"}
    assert set(result["figures"]) == expected
    for key, figure in result["figures"].items():
        assert figure["http_p50"] > 0 and figure["direct_p50"] is not None, key
    assert [(e["format"], e["rows"]) for e in result["exports"]] == [("csv", ROWS), ("xlsx", ROWS)]
    assert result["exports"][1]["sheets"] == 1  # counted over every sheet of the workbook
    # the cached data set is reused by a second run
    (directory,) = tmp_path.iterdir()
    assert json.loads((directory / "dataset.json").read_text())["rows"] == ROWS


def _bench():
    spec = importlib.util.spec_from_file_location("dashboard_scale",
                                                  ROOT / "bench" / "dashboard_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_cached_data_set_of_an_older_schema_is_migrated_and_measured_again(tmp_path: Path):
    bench = _bench()
    ds = bench.dataset(tmp_path, 1000, 1, False, lambda _text: None)
    assert bench.schema_of(ds.db_path) == SCHEMA_VERSION and not ds.facts["reused"]
    # One version back, as far as the bookkeeping goes (every migration step is idempotent:
    # IF [NOT] EXISTS), and the facts of that older file.
    with sqlite3.connect(ds.db_path) as c:
        c.execute("DELETE FROM schema_version WHERE version = ?", (SCHEMA_VERSION,))
    c.close()
    marker = ds.directory / "dataset.json"
    facts = json.loads(marker.read_text())
    facts.update(schema=SCHEMA_VERSION - 1, bytes=1, bytes_per_invoice=0.001, breakdown={})
    marker.write_text(json.dumps(facts))
    daily = backups.list_backups(backups.directory_for(ds.db_path))

    again = bench.dataset(tmp_path, 1000, 1, False, lambda _text: None)

    assert again.facts["reused"] and bench.schema_of(again.db_path) == SCHEMA_VERSION
    (step,) = again.facts["migrations"]
    assert (step["from"], step["to"]) == (SCHEMA_VERSION - 1, SCHEMA_VERSION)
    assert again.facts["schema"] == SCHEMA_VERSION
    assert again.facts["bytes"] == again.db_path.stat().st_size  # measured again
    assert again.facts["breakdown"]["objects"]["invoice"] > 0
    # the before-vN backup open_database took is gone; the daily one is kept
    assert backups.list_backups(backups.directory_for(ds.db_path)) == daily
    # and a third look reuses it as it is
    third = bench.dataset(tmp_path, 1000, 1, False, lambda _text: None)
    assert third.facts["migrations"] == again.facts["migrations"]
