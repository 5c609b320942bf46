"""Every benchmark, one after the other, and a summary of the targets at the top of
docs/PERFORMANCE.md: each target met or missed, with its figure and, for a miss, what limits it.

    bash bench/run.sh [--quick] [--only intake,drain,...] [--doc FILE]

(bench/run.sh sets up the virtualenv and a private keyring, then runs this file.)
Each benchmark runs in a process of its own, writes its own section of the document and hands
its targets back as JSON (`--results`). `--quick` runs the small versions CI runs (a few seconds
to a minute each, on small data) and, unless `--doc` says otherwise, writes to a temporary file
instead of docs/PERFORMANCE.md: quick figures are for keeping the benchmarks working, not for
reading. Exit status: 0 when every benchmark ran (whether its targets were met or not), 1 when
one failed.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from perf_doc import DOC, machine  # noqa: E402 (this folder, run as a script)

SUMMARY = "## Targets (issue 7): met or missed"


@dataclass
class Bench:
    name: str
    script: str
    what: str
    full: list[str] = field(default_factory=list)  # options for the real run
    quick: list[str] = field(default_factory=list)  # options for CI's small run


BENCHES = [
    Bench("intake", "intake.py", "intake at 1, 16 and 64 clients vs a do-nothing handler and raw "
          "SQLite", ["--seconds", "10", "--rounds", "3"], ["--quick"]),
    Bench("drain", "drain.py", "draining 10,000 queued invoices at 100 ms per answer", [],
          ["--quick"]),
    Bench("size", "dashboard_scale.py", "1,000,000 invoices: lookups, pages, reports, exports, "
          "bytes per invoice", ["--wait-quiet", "120"], ["--quick"]),
    Bench("startup", "frozen.py", "start-up and idle memory, source and frozen", ["--live"],
          ["--quick"]),
    Bench("tray-icon", "tray_icon.py", "the tray app's start to its icon in a real tray (Xvfb)",
          [], ["--quick"]),
    Bench("gui", "gui_responsiveness.py", "the tray app's responsiveness under 1,000 invoices/s",
          ["--seconds", "30"], ["--quick"]),
]


def run_bench(bench: Bench, quick: bool, doc: Path | None, results: Path) -> tuple[int, float]:
    command = [sys.executable, str(BENCH / bench.script), *(bench.quick if quick else bench.full),
               "--results", str(results)]
    command += ["--doc", str(doc)] if doc else ["--write-doc"]
    print(f"\n=== {bench.name}: {bench.what}\n$ {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    code = subprocess.run(command, cwd=ROOT).returncode
    return code, time.monotonic() - started


def summary(rows: list[dict], failed: list[str], ran: dict[str, float], quick: bool,
            argv: list[str]) -> str:
    met = sum(1 for r in rows if r["met"])
    lines = [
        SUMMARY, "",
        f"Measured {date.today()} on {machine()}, Python {sys.version.split()[0]}, "
        f"by `bash bench/run.sh{' ' + ' '.join(argv) if argv else ''}`, which ran "
        + ", ".join(f"{name} ({seconds / 60:.1f} min)" for name, seconds in ran.items())
        + " and wrote every section below. Each figure is measured against a reference "
        "measured in the same run where the target is a ratio; this is a shared 2-core virtual "
        "machine, so absolute figures vary by ±10 % from run to run.",
        "",
        f"**{met} of {len(rows)} targets met.**"
        + (f" Benchmarks that failed: {', '.join(failed)}." if failed else ""),
        "",
        "| area | target | figure | | what limits it |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "met" if r["met"] else "**missed**"
        cells = [r["area"], r["target"], r["figure"], verdict, r.get("limit") or ""]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if quick:
        lines += ["", "(Quick run: small data and short runs, figures not comparable.)"]
    return "\n".join(lines) + "\n"


def put_summary(text: str, doc: Path) -> None:
    """The summary goes first, under the document's title (replacing an older one)."""
    old = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    if SUMMARY in old:
        start = old.index(SUMMARY)
        end = old.find("\n## ", start + 1)
        old = old[:start] + (old[end + 1:] if end != -1 else "")
    title, _, rest = old.partition("\n")
    doc.write_text(f"{title}\n\n{text}\n{rest.lstrip(chr(10))}", encoding="utf-8")
    print(f"wrote the summary to {doc}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small versions (CI)")
    parser.add_argument("--only", default=None,
                        help="comma-separated: " + ",".join(b.name for b in BENCHES))
    parser.add_argument("--doc", type=Path, default=None,
                        help="the document to write (default docs/PERFORMANCE.md; with --quick "
                             "a temporary file)")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if args.only is None or b.name in args.only.split(",")]
    unknown = set(args.only.split(",")) - {b.name for b in BENCHES} if args.only else set()
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="rims-suite-") as tmp:
        doc = args.doc or (Path(tmp) / "PERFORMANCE.md" if args.quick else None)
        rows: list[dict] = []
        failed: list[str] = []
        ran: dict[str, float] = {}
        for bench in chosen:
            results = Path(tmp) / f"{bench.name}.json"
            code, seconds = run_bench(bench, args.quick, doc, results)
            ran[bench.name] = seconds
            if code != 0 or not results.exists():
                failed.append(bench.name)
                print(f"=== {bench.name} FAILED (exit {code})", flush=True)
                continue
            rows += json.loads(results.read_text(encoding="utf-8"))
        text = summary(rows, failed, ran, args.quick, argv)
        print("\n" + text)
        target = doc or DOC
        put_summary(text, target)
        if args.quick and not args.doc:
            print(f"(quick run: the document was {target}, now deleted)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
