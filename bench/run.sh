#!/usr/bin/env bash
# Every benchmark, and docs/PERFORMANCE.md rewritten with the figures and a summary of the
# targets (bench/suite.py). On a fresh machine of this kind it first sets up what it needs
# (build_scripts/bootstrap.sh: Debian packages, .venv), then runs inside a private keyring
# (build_scripts/with-keyring.sh), since the drain and start-up benchmarks set up a POS key.
#
#   bash bench/run.sh            # everything, about 30 minutes; writes docs/PERFORMANCE.md
#   bash bench/run.sh --quick    # the small versions CI runs (a temporary document)
#   bash bench/run.sh --only intake,drain
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
bash "$ROOT/build_scripts/bootstrap.sh"
exec bash "$ROOT/build_scripts/with-keyring.sh" "$ROOT/.venv/bin/python" "$ROOT/bench/suite.py" "$@"
