#!/usr/bin/env bash
# shellcheck disable=SC2329  # cleanup/helper functions are reached via `trap`
# Run a command inside a private D-Bus session that has an unlocked GNOME
# keyring (Secret Service), so Python `keyring` (SecretService backend via
# secretstorage/jeepney) works on a machine with no screen and no login session.
#
#   with-keyring.sh [--persistent DIR] [--] COMMAND [ARGS...]
#
# Default (tests): everything lives in a fresh temporary directory that is
#   deleted at the end. XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME,
#   XDG_STATE_HOME and XDG_RUNTIME_DIR (mode 700) point into it, for the
#   keyring daemon *and* for COMMAND, so neither the developer's real keyring
#   nor their real application data can be touched. HOME is left alone.
#   The keyring password is random and thrown away.
#
# --persistent DIR (used by run.sh for the product on a headless box): the
#   daemon's XDG data/config/cache dirs live under DIR, so secrets stored with
#   `run.sh setup ...` are still there next time. The keyring password is
#   generated once and kept in DIR/keyring-password (mode 600) -- on a headless
#   machine there is nobody to type one, so this protects the secrets exactly as
#   well as the file permissions do (like a plaintext keyring, but using the
#   same Secret Service code path as a desktop). Only the daemon sees these XDG
#   dirs: COMMAND keeps the caller's environment, so the application's own
#   config/data stay where they normally are. XDG_RUNTIME_DIR (sockets) is
#   still a fresh temporary directory. A lock on DIR stops two instances from
#   running two daemons on the same keyring file at once.
#
# Always a *private* session, even if DBUS_SESSION_BUS_ADDRESS already works
# (isolation). COMMAND's exit status is returned. The keyring daemon is stopped
# and the temporary directory removed at the end. Every wait is bounded.
#
# How the keyring is unlocked (see shared/ENVIRONMENT.md):
#   dbus-run-session -- <this script, inner part>
#     printf '%s' "$password" | gnome-keyring-daemon --foreground --unlock \
#         --components=secrets >daemon.out 2>daemon.err &
#   On first use this creates the "login" keyring with that password, later
#   it unlocks it. stdin is a pipe (never /dev/null) and stdout goes to a file
#   (never `$(...)`: with --foreground it never closes). --foreground keeps the
#   daemon our own child, so we can stop it and reap it ourselves.
#   Then we poll (bounded) until org.freedesktop.secrets is on the bus and the
#   default collection reports Locked=false, export any VAR=value lines the
#   daemon printed, and run COMMAND.
set -euo pipefail

SELF=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/$(basename -- "${BASH_SOURCE[0]}")
READY_TIMEOUT=${RIMS_KEYRING_READY_TIMEOUT:-20}   # seconds to wait for the daemon
INNER_FLAG=--rims-inner-session                   # internal: do not use

log() { printf 'with-keyring: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 70; }

# Is PID a live (not zombie) process whose name starts with NAME?
alive() {
    local pid=$1 name=${2:-} stat
    [[ -n "$pid" ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    # /proc/PID/stat: "pid (comm) state ..."; comm may contain spaces.
    local comm=${stat#*(}; comm=${comm%)*}
    local state=${stat##*) }; state=${state%% *}
    [[ "$state" != Z ]] || return 1
    [[ -z "$name" || "$comm" == "$name"* ]]
}

# Ask PID to stop (TERM), wait up to ~3 s, then KILL.
stop_pid() {
    local pid=$1 name=$2 i
    alive "$pid" "$name" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    log "warning: ${name:-process} ($pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# Pids of the direct children of PID (from /proc: procps may not be installed).
children_of() {
    local f st rest
    for f in /proc/[0-9]*/stat; do
        st=$(cat "$f" 2>/dev/null) || continue
        rest=${st##*) }                      # "state ppid ..."
        rest=${rest#* }
        [[ "${rest%% *}" == "$1" ]] && { f=${f#/proc/}; echo "${f%/stat}"; }
    done
    return 0
}

bus() {  # bounded dbus-send on the (private) session bus
    timeout 5 dbus-send --session --print-reply=literal "$@" 2>/dev/null
}

# ============================================================================
# Inner part: runs as the child of dbus-run-session, on the private bus.
# ============================================================================
if [[ "${1:-}" == "$INNER_FLAG" ]]; then
    shift
    # The outer part sent dbus-run-session's stderr (and so dbus-daemon's noise)
    # to a file and kept the real stderr on fd 3: put it back for COMMAND.
    exec 2>&3 3>&-

    state=${_RIMS_KR_STATE:?}
    persist=${_RIMS_KR_PERSIST:-}
    unset _RIMS_KR_STATE _RIMS_KR_PERSIST

    echo "$$" >"$state/inner.pid"
    # First of all, remember the bus daemon's pid so the outer part can make
    # sure it is gone at the end, however this part ends.
    bus --dest=org.freedesktop.DBus / org.freedesktop.DBus.GetConnectionUnixProcessID \
        string:org.freedesktop.DBus | awk '{print $2}' >"$state/bus.pid" || true

    daemon_pid=""
    cleanup_inner() {
        [[ -n "$daemon_pid" ]] || return 0
        stop_pid "$daemon_pid" gnome-keyring
        wait "$daemon_pid" 2>/dev/null || true
    }
    trap cleanup_inner EXIT

    runtime="$state/runtime"
    mkdir -m 700 "$runtime"
    if [[ -n "$persist" ]]; then
        base="$persist"
    else
        base="$state/home"
    fi
    mkdir -p "$base"
    chmod 700 "$base"
    kr_env=(
        "XDG_DATA_HOME=$base/data"
        "XDG_CONFIG_HOME=$base/config"
        "XDG_CACHE_HOME=$base/cache"
        "XDG_STATE_HOME=$base/state"
        "XDG_RUNTIME_DIR=$runtime"
    )
    mkdir -p "$base/data" "$base/config" "$base/cache" "$base/state"
    chmod 700 "$base/data" "$base/config" "$base/cache" "$base/state"

    new_password() { head -c 33 /dev/urandom | base64 | tr -d '\n/+='; }
    if [[ -n "$persist" ]]; then
        pwfile="$persist/keyring-password"
        if [[ ! -s "$pwfile" ]]; then
            if [[ -e "$base/data/keyrings/login.keyring" ]]; then
                die "$pwfile is missing but $base/data/keyrings/login.keyring exists;" \
                    "restore the password file, or delete $base/data/keyrings to start" \
                    "over (the stored secrets are lost)"
            fi
            (umask 077 && new_password >"$pwfile")
        fi
        password=$(<"$pwfile")
    else
        password=$(new_password)
    fi

    # Start and unlock the daemon. $! is the daemon itself (env execs it).
    printf '%s' "$password" \
        | env "${kr_env[@]}" gnome-keyring-daemon --foreground --unlock --components=secrets \
            >"$state/daemon.out" 2>"$state/daemon.err" &
    daemon_pid=$!
    echo "$daemon_pid" >"$state/daemon.pid"
    unset password

    daemon_log() { sed 's/^/    /' "$state/daemon.err" >&2 2>/dev/null || true; }
    deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        if ! alive "$daemon_pid"; then
            log "ERROR: gnome-keyring-daemon exited during start-up; its messages:"
            daemon_log
            exit 70
        fi
        # Only talk to org.freedesktop.secrets once *our* daemon owns the name:
        # a call to an unowned name would D-Bus-activate a second, locked daemon.
        if [[ "$(bus --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
                string:org.freedesktop.secrets || true)" == *true* ]]; then
            locked=$(bus --dest=org.freedesktop.secrets /org/freedesktop/secrets/aliases/default \
                org.freedesktop.DBus.Properties.Get \
                string:org.freedesktop.Secret.Collection string:Locked || true)
            case "$locked" in
            *false*) break ;;
            *true*)
                if grep -q 'failed to unlock' "$state/daemon.err" 2>/dev/null; then
                    log "ERROR: the keyring could not be unlocked with its password."
                    [[ -z "$persist" ]] || log "  (keyring: $base/data/keyrings; password: $persist/keyring-password)"
                    daemon_log
                    exit 70
                fi
                ;;
            esac
        fi
        if ((SECONDS >= deadline)); then
            log "ERROR: no unlocked Secret Service after ${READY_TIMEOUT}s; daemon messages:"
            daemon_log
            exit 70
        fi
        sleep 0.1
    done

    # Export what the daemon printed, if anything (e.g. GNOME_KEYRING_CONTROL).
    # With --components=secrets it normally prints nothing.
    while IFS= read -r line; do
        if [[ "$line" =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]]; then
            export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
        fi
    done <"$state/daemon.out"

    if [[ -z "$persist" ]]; then
        export "${kr_env[@]}"         # isolate COMMAND too (tests)
        export RIMS_KEYRING_SESSION=private
    else
        export RIMS_KEYRING_SESSION=persistent
    fi

    # Run COMMAND in the foreground (not `exec`: we must stop the daemon after
    # it). It keeps our stdin/stdout/stderr, so interactive prompts work, and
    # it is in the terminal's process group, so Ctrl-C reaches it.
    rc=0
    "$@" || rc=$?
    exit "$rc"
fi

# ============================================================================
# Outer part.
# ============================================================================
usage() {
    sed -n '3,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2
}

persist=""
while (($#)); do
    case "$1" in
    --persistent) persist=${2:?--persistent needs a directory}; shift 2 ;;
    --persistent=*) persist=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) log "unknown option $1"; usage; exit 2 ;;
    *) break ;;
    esac
done
(($#)) || { log "no command given"; usage; exit 2; }

for tool in dbus-run-session dbus-send gnome-keyring-daemon timeout; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "'$tool' not found; run build_scripts/bootstrap.sh (Debian: dbus gnome-keyring)"
done

if [[ -n "$persist" ]]; then
    mkdir -p "$persist"
    chmod 700 "$persist"
    persist=$(cd -- "$persist" && pwd -P)
    # One daemon per keyring file: hold a lock on DIR for the whole run.
    exec 8<"$persist"
    if ! flock -n 8; then
        die "another process is already using the keyring in $persist (another rims-utility?); stop it first"
    fi
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/rims-keyring.XXXXXXXX")
chmod 700 "$state"

cleanup_outer() {
    # Normally the inner part has already stopped the keyring daemon and
    # dbus-run-session has stopped dbus-daemon. Make sure, in case the session
    # was cut short by a signal. (pids are checked against the process names.)
    local pid i kid
    # If we were killed (e.g. SIGTERM to this process only) while COMMAND is
    # still running, stop COMMAND and give the inner part time to shut the
    # keyring daemon down itself.
    pid=$(cat "$state/inner.pid" 2>/dev/null || true)
    if alive "$pid" bash; then
        for kid in $(children_of "$pid"); do stop_pid "$kid" "" & done
        for ((i = 0; i < 50; i++)); do
            alive "$pid" bash || break
            sleep 0.1
        done
        wait
    fi
    pid=$(cat "$state/daemon.pid" 2>/dev/null || true)
    stop_pid "$pid" gnome-keyring
    pid=$(cat "$state/bus.pid" 2>/dev/null || true)
    stop_pid "$pid" dbus-daemon
    # dbus-run-session does not reap the dbus-daemon it kills, so it lingers as
    # a zombie until init collects it (~1-2 s on this machine kind). Wait for
    # that (bounded), so nothing is visible once we return.
    if [[ -n "$pid" ]]; then
        for ((i = 0; i < 50; i++)); do
            if ! grep -q '(dbus-daemon)' "/proc/$pid/stat" 2>/dev/null; then
                break
            fi
            sleep 0.1
        done
    fi
    # Show whatever dbus-daemon/dbus-run-session said, minus known harmless
    # noise (as root in a container it cannot raise its fd limit).
    if [[ -s "$state/dbus.err" ]]; then
        grep -v 'Failed to set fd limit' "$state/dbus.err" >&2 || true
    fi
    rm -rf "$state"
}
trap cleanup_outer EXIT

rc=0
_RIMS_KR_STATE="$state" _RIMS_KR_PERSIST="$persist" \
    dbus-run-session -- bash "$SELF" "$INNER_FLAG" "$@" 3>&2 2>"$state/dbus.err" || rc=$?
exit "$rc"
