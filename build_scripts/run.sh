#!/usr/bin/env bash
# Run the product from a checkout:   bash build_scripts/run.sh serve --practice
# bootstrap.sh first (same .venv as the tests: the runtime deps plus the test
# extra, which costs nothing once installed), then `.venv/bin/rims-utility ARGS`.
#
# Keyring (where the app keeps its secrets):
# * On a desktop, or any session that already has D-Bus (DBUS_SESSION_BUS_ADDRESS
#   set) or a display, the app runs directly and uses that session's keyring.
# * On a headless box (no DBUS_SESSION_BUS_ADDRESS, no DISPLAY/WAYLAND_DISPLAY),
#   `keyring` would otherwise pick a backend that fails. Then the app runs under
#   with-keyring.sh --persistent ~/.local/share/rims-utility-keyring: a private
#   D-Bus session with a GNOME keyring whose files persist in that directory, so
#   keys saved with `run.sh setup ...` are there for `run.sh serve`. Its password
#   is generated once and stored next to it (mode 600); see with-keyring.sh.
#   Only one such run at a time (a lock on that directory): stop `serve`
#   before running `setup`.
# * Override the choice with RIMS_UTILITY_PRIVATE_KEYRING=1 (always use the
#   private persistent keyring) or =0 (never), and the directory with
#   RIMS_UTILITY_KEYRING_DIR. If PYTHON_KEYRING_BACKEND is set, you chose a
#   backend yourself and the app runs directly.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)

bash "$ROOT/build_scripts/bootstrap.sh"

# Keep the caller's working directory: relative paths in ARGS stay valid.
app=("$ROOT/.venv/bin/rims-utility" "$@")

mode=${RIMS_UTILITY_PRIVATE_KEYRING:-auto}
if [[ "$mode" == auto ]]; then
    if [[ -n "${PYTHON_KEYRING_BACKEND:-}" || -n "${DBUS_SESSION_BUS_ADDRESS:-}" \
        || -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
        mode=0
    else
        mode=1
    fi
fi

if [[ "$mode" == 1 ]]; then
    data_home=${XDG_DATA_HOME:-${HOME:?HOME is not set}/.local/share}
    keyring_dir=${RIMS_UTILITY_KEYRING_DIR:-$data_home/rims-utility-keyring}
    exec bash "$ROOT/build_scripts/with-keyring.sh" --persistent "$keyring_dir" -- "${app[@]}"
fi
exec "${app[@]}"
