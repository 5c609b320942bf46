"""docs/PERFORMANCE.md: each benchmark owns one "## " section and replaces it (or appends it)
with --write-doc, leaving the others as they are."""

import argparse
import os
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"


def replace_section(heading: str, section: str, doc: Path | None = None) -> None:
    """Put ``section`` (which starts with ``heading``) in place of the section that starts with
    ``heading``, up to the next "## " heading; at the end if there is none yet. ``doc``: another
    file than docs/PERFORMANCE.md (the benchmarks' CI smoke tests)."""
    path = doc or DOC
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n\n"
    section = section.rstrip("\n") + "\n"
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end:] if end != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def machine() -> str:
    """The CPU model, core count and OS, for a section's first line."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--write-doc, --doc FILE and --results FILE: the options bench/suite.py drives every
    benchmark with."""
    parser.add_argument("--write-doc", action="store_true", help="update docs/PERFORMANCE.md")
    parser.add_argument("--doc", type=Path, default=None, help="write to this file instead")
    parser.add_argument("--results", type=Path, default=None,
                        help="write the targets, met or missed, as JSON (bench/suite.py)")
