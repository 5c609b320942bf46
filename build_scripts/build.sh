#!/usr/bin/env bash
# Build the shopkeeper's installers from a checkout, on a fresh or existing machine:
#     bash build_scripts/build.sh [build.py options]
# 1. bootstrap.sh (Debian packages, .venv with the build extra: PyInstaller);
# 2. build_scripts/build.py: dist/rims-utility/ (the frozen one-folder program), then
#    dist/rims-utility_<version>_<arch>.deb on Linux. On Windows run build.py with Python
#    directly (see .github/workflows/windows-installer.yml).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
bash "$ROOT/build_scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/python" "$ROOT/build_scripts/build.py" "$@"
