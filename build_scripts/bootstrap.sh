#!/usr/bin/env bash
# Bring a machine (Debian 12, Python >= 3.11) up to what RIMS Utility needs:
#   1. Debian packages, installed only if missing:
#      - the headless Secret Service used by `keyring` (dbus, gnome-keyring,
#        libsecret-tools);
#      - `chromium` for the browser tests (tests/browser, driven by PyPI
#        playwright; `playwright install` is never used). Chromium is large
#        (~115 MB, ~10 s on this machine kind), so only the first run pays;
#      - the tray app's Qt (PyPI pyside6-essentials) on X11: the libraries its
#        xcb platform plugin and QtGui load that a fresh Debian 12 with the
#        packages above lacks (libegl1 is needed even off-screen: QtGui links
#        it), and a real system tray for tests/gui/test_real_tray.py: xvfb (an
#        X server with no screen), trayer (a tray host), xdotool (clicks and
#        keys), x11-utils (xwininfo: the tray's window tree);
#      - nsis (makensis), to compile the Windows installer script over the Linux
#        bundle (tests/packaging; the real installer is built on Windows);
#      - wrk, the HTTP load generator of bench/intake.py (its CI smoke run too);
#   2. a virtualenv in <repo>/.venv with `pip install -e ".[test,gui,build]"`, redone
#      only when pyproject.toml changed since the last successful install.
#
# Idempotent; the second run takes well under a second and prints nothing.
# Output of apt/pip is kept in a log and shown only when a step fails.
#
# Environment knobs (all optional):
#   PYTHON=/path/to/python3   interpreter used to create .venv (default: python3)
#   RIMS_BOOTSTRAP_FORCE=1    reinstall the Python packages even if up to date
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

VENV="$ROOT/.venv"
EXTRAS="test,gui,build"
STAMP="$VENV/.rims-bootstrap.stamp"
APT_PACKAGES=(
    dbus gnome-keyring libsecret-tools   # keyring's Secret Service, headless
    chromium                             # browser tests
    # Qt's xcb platform plugin and QtGui (what `QT_DEBUG_PLUGINS=1` / ldd show
    # missing on a fresh Debian 12; the other xcb libraries come with chromium)
    libegl1 libxkbcommon-x11-0 libxcb-xkb1 libxcb-cursor0 libxcb-icccm4
    libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-util1
    xvfb trayer xdotool x11-utils        # a real tray under Xvfb (tests/gui)
    desktop-file-utils                   # checks the start-at-login entry (tests/unit)
    binutils                             # objdump: PyInstaller's look at shared libraries
    ca-certificates fontconfig-config    # the .deb's data Depends (tests/packaging installs it)
    nsis                                 # makensis: the Windows installer script compiles (tests/packaging)
    wrk                                  # the intake benchmark's load generator (bench/intake.py)
)
PYTHON=${PYTHON:-python3}

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Run a command quietly; if it fails, show everything it printed and fail.
quiet() {
    local out rc=0
    out=$(mktemp "${TMPDIR:-/tmp}/rims-bootstrap.XXXXXX")
    "$@" >"$out" 2>&1 </dev/null || rc=$?
    if ((rc != 0)); then
        log "FAILED (exit $rc): $*"
        cat "$out" >&2
        rm -f "$out"
        return "$rc"
    fi
    rm -f "$out"
}

# Serialise concurrent bootstraps (e.g. run.sh and test.sh started together):
# lock this script file itself, so no extra file appears in the work tree.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock -w 900 9 || die "another bootstrap has held the lock for 15 minutes"
fi

# --- 1. Debian packages ----------------------------------------------------
is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
if command -v dpkg >/dev/null 2>&1; then
    for pkg in "${APT_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    # A Debian /usr/bin/python3 without venv/ensurepip needs python3-venv.
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 \
        && [[ "$(command -v "$PYTHON")" == /usr/bin/* ]]; then
        missing+=(python3-venv)
    fi
else
    log "warning: not a dpkg-based system; make sure these are installed: ${APT_PACKAGES[*]}"
fi

if ((${#missing[@]})); then
    if ((EUID == 0)); then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)   # -n: never prompt (no stdin in CI); fail with a message instead
    else
        die "missing Debian packages (${missing[*]}) and not root and no sudo"
    fi
    log "installing Debian packages: ${missing[*]}"
    quiet "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    quiet "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
fi

# --- 2. virtualenv -----------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is missing or older than 3.11 (found: $("$PYTHON" --version 2>&1 || true))"

if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if [[ -e "$VENV" ]]; then
        log "recreating broken virtualenv $VENV"
        quiet "$PYTHON" -m venv --clear "$VENV"
    else
        log "creating virtualenv $VENV"
        quiet "$PYTHON" -m venv "$VENV"
    fi
fi

# The stamp holds a hash of everything that decides what gets installed.
want=$(
    {
        cat pyproject.toml
        printf '\nextras=%s\n' "$EXTRAS"
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
)
have=$(cat "$STAMP" 2>/dev/null || true)

if [[ "$want" != "$have" || ! -x "$VENV/bin/rims-utility" || "${RIMS_BOOTSTRAP_FORCE:-0}" == 1 ]]; then
    log "installing Python packages into .venv (pyproject.toml changed or first run)"
    rm -f "$STAMP"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
    quiet "$VENV/bin/python" -m pip install -e ".[$EXTRAS]"
    printf '%s\n' "$want" >"$STAMP"
fi
