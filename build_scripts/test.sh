#!/usr/bin/env bash
# Run the whole test suite on a fresh or existing machine:
#     bash build_scripts/test.sh [PYTEST ARGS...]
# 1. bootstrap.sh (Debian packages, .venv, `pip install -e ".[test,gui,build]"` if needed);
# 2. pytest inside a private D-Bus session with an unlocked, throw-away GNOME
#    keyring (with-keyring.sh), so keyring tests are real and your own keyring
#    and application data are never touched.
# Extra arguments go to pytest. The exit status is pytest's, unchanged:
# 0 all passed, 1 failures, 2 interrupted, 5 NO TEST RAN (non-zero on purpose:
# a run that tested nothing must not look green).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

bash build_scripts/bootstrap.sh

# GUI tests (later) draw off-screen; leave an explicit choice (e.g. xcb under Xvfb) alone.
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"

# `exec` hands pytest's exit code straight back to our caller (.ci/run, CI):
# nothing here can turn exit 5 ("no tests ran") into 0.
exec bash build_scripts/with-keyring.sh .venv/bin/python -m pytest "$@"
