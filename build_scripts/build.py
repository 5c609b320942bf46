"""Build RIMS Utility for shopkeepers: the frozen one-folder bundle (PyInstaller), then the
installer for this platform.

    python build_scripts/build.py [--dist DIR] [--work DIR] [--package auto|deb|nsis|none]

  Linux:   dist/rims-utility/ and dist/rims-utility_<version>_<arch>.deb
  Windows: dist/rims-utility/ and dist/RIMS-Utility-Setup-<version>.exe (needs NSIS's makensis)
  --package nsis on Linux compiles the Windows installer script over the Linux bundle: a check
  that the script is valid (PyInstaller cannot build Windows programs here).

`bash build_scripts/build.sh` runs bootstrap.sh first, then this. Prints what it made, with
sizes and times."""

import argparse
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

# (build_scripts/ is on sys.path: this file's folder when run, and importers put it there)
from licences import write_notices

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = HERE / "rims-utility.spec"
NAME = "rims-utility"


def version() -> str:
    """The version in pyproject.toml: the one place it is written."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]["version"]


def build_bundle(dist: Path, work: Path) -> Path:
    """Run PyInstaller on the spec; the bundle folder (dist/rims-utility)."""
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    # PYTHONHASHSEED: the same module order in the archive on every build
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"})
    bundle = dist / NAME
    if not (bundle / program_name()).is_file():
        raise SystemExit(f"build.py: PyInstaller finished but {bundle / program_name()} is missing")
    write_notices(bundle)  # THIRD-PARTY-NOTICES.txt, shipped by every installer
    return bundle


def program_name(cli: bool = False) -> str:
    """The program's file name in the bundle (on Windows the console twin is separate)."""
    if sys.platform == "win32":
        return f"{NAME}-cli.exe" if cli else f"{NAME}.exe"
    return NAME


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder")
    parser.add_argument("--package", choices=["auto", "deb", "nsis", "none"], default="auto",
                        help="installer to make (auto: .deb on Linux, NSIS on Windows)")
    args = parser.parse_args(argv)
    package = args.package
    if package == "auto":
        package = {"linux": "deb", "win32": "nsis"}.get(sys.platform, "none")

    started = time.monotonic()
    bundle = build_bundle(args.dist.resolve(), args.work.resolve())
    bundle_seconds = time.monotonic() - started
    print(f"bundle:    {bundle}  ({folder_size(bundle) / 1e6:.0f} MB, built in {bundle_seconds:.0f} s)")

    if package != "none":
        started = time.monotonic()
        if package == "deb":
            from deb import DebError, build_deb
            try:
                made = build_deb(bundle, args.dist.resolve(), version())
            except DebError as why:
                raise SystemExit(f"build.py: {why}") from None
        else:
            from nsis import build_installer
            made = build_installer(bundle, args.dist.resolve(), version())
        seconds = time.monotonic() - started
        print(f"installer: {made}  ({made.stat().st_size / 1e6:.0f} MB, built in {seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
