"""The only way to secrets: POS keys live in the OS keyring, never in the database or a file.

Keyring's own backend selection (including PYTHON_KEYRING_BACKEND) is honoured, never overridden.

keyring is imported on first use: with its backend it is 10-20 MB (on Linux the Secret Service
backend brings jeepney and cryptography). The running service reads its keys with ``read_keys``,
which on Linux and macOS does it in a short-lived helper process (this program started again,
app/relaunch.py), so that the service never holds keyring for the reads it makes at start and
when a POS is set up again.
"""

import json
import subprocess
import sys
from typing import NamedTuple

SERVICE = "rims-utility"

# Backends that keep secrets in the clear or not at all; the user is warned about them.
_INSECURE = ("PlaintextKeyring", "fail.Keyring", "null.Keyring", "EncryptedKeyring")


class KeystoreError(RuntimeError):
    pass


class KeyReport(NamedTuple):
    """What ``read_keys`` found: per POS asked for, its key (None: not in the keyring) or the
    KeystoreError reading it raised; and the keyring's backend_name() and backend_warning()."""

    keys: list[str | KeystoreError | None]
    backend: str
    warning: str | None


# A helper that does not answer in this time is given up (a keyring asking the user to unlock
# it waits for them: the in-process read waited as long).
HELPER_TIMEOUT = 600.0


def read_keys(wanted: list[tuple[str, str, str]]) -> KeyReport:
    """The keys of ``wanted`` ((upstream, ntn, pos_id) each), read by a helper process on Linux
    and macOS (blocking; call it in a thread). On Windows, where the backend is light, and
    should the helper fail, they are read in this process instead."""
    if sys.platform != "win32":
        report = _read_in_helper(wanted)
        if report is not None:
            return report
    return _read_here(wanted)


def _read_here(wanted: list[tuple[str, str, str]]) -> KeyReport:
    keys: list[str | KeystoreError | None] = []
    for upstream, ntn, pos_id in wanted:
        try:
            keys.append(load_key(upstream, ntn, pos_id))
        except KeystoreError as why:
            keys.append(why)
    return KeyReport(keys, backend_name(), backend_warning())


def _read_in_helper(wanted: list[tuple[str, str, str]]) -> KeyReport | None:
    """None if the helper could not do it (the caller reads them itself)."""
    import logging

    from app import relaunch

    log = logging.getLogger(__name__)
    try:
        done = subprocess.run(relaunch.command(relaunch.KEYS), env=relaunch.environment(),
                              input=json.dumps(wanted).encode(), capture_output=True,
                              timeout=HELPER_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"exit status {done.returncode}: "
                               f"{done.stderr.decode(errors='replace')[-500:]}")
        answer = json.loads(done.stdout)
        keys: list[str | KeystoreError | None] = [
            KeystoreError(item["error"]) if "error" in item else item["key"]
            for item in answer["keys"]]
        if len(keys) != len(wanted):
            raise RuntimeError(f"{len(keys)} answers for {len(wanted)} keys")
        return KeyReport(keys, answer["backend"], answer["warning"])
    except (OSError, subprocess.SubprocessError, RuntimeError, ValueError, KeyError,
            TypeError) as why:
        log.warning("the keyring helper process failed (%s); reading the keys here", why)
        return None


def helper_main() -> int:
    """`_keys` (app/relaunch.py): read the keys named on stdin (a JSON list of [upstream, ntn,
    pos_id]) and answer on stdout: {"keys": [{"key": key or null} or {"error": message}, …],
    "backend": …, "warning": …}. Nothing else is ever written to stdout."""
    wanted = [tuple(item) for item in json.loads(sys.stdin.buffer.read() or b"[]")]
    report = _read_here(wanted)  # type: ignore[arg-type]
    answer = {"keys": [{"error": str(key)} if isinstance(key, KeystoreError) else {"key": key}
                       for key in report.keys],
              "backend": report.backend, "warning": report.warning}
    sys.stdout.buffer.write(json.dumps(answer).encode())
    sys.stdout.buffer.flush()
    return 0


def _username(upstream: str, ntn: str, pos_id: str) -> str:
    return f"{upstream}:{ntn}:{pos_id}"


def save_key(upstream: str, ntn: str, pos_id: str, key: str) -> None:
    import keyring

    try:
        keyring.set_password(SERVICE, _username(upstream, ntn, pos_id), key)
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not save the key in the OS keyring ({backend_name()}): "
                            f"{type(why).__name__}") from None


def load_key(upstream: str, ntn: str, pos_id: str) -> str | None:
    import keyring

    try:
        return keyring.get_password(SERVICE, _username(upstream, ntn, pos_id))
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not read the key from the OS keyring ({backend_name()}): "
                            f"{type(why).__name__}") from None


def delete_key(upstream: str, ntn: str, pos_id: str) -> bool:
    """Remove a POS key; False if there was none."""
    import keyring
    import keyring.errors

    try:
        keyring.delete_password(SERVICE, _username(upstream, ntn, pos_id))
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not delete the key from the OS keyring ({backend_name()}): "
                            f"{type(why).__name__}") from None
    return True


def backend_name() -> str:
    import keyring

    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration must not hide the real message
        return "unavailable keyring"
    return f"{type(backend).__module__}.{type(backend).__name__}"


def backend_warning() -> str | None:
    """A sentence for the user when keys would not be kept safely, else None."""
    name = backend_name()
    if any(marker in name for marker in _INSECURE):
        return (f"The keyring backend {name} does not keep keys safely (or at all). "
                "Install and unlock the desktop's keyring (Secret Service / Windows Credential "
                "Manager / macOS Keychain).")
    return None


def round_trip() -> None:
    """Save a throw-away secret, read it back and delete it: proof that this keyring works for
    us (``rims-utility doctor``; the frozen app's smoke test). Raises KeystoreError saying which
    step failed; the secret itself is never shown."""
    import secrets

    import keyring

    username = f"doctor:{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(24)
    step = "save"
    try:
        keyring.set_password(SERVICE, username, secret)
        step = "read back"
        if keyring.get_password(SERVICE, username) != secret:
            raise KeystoreError(f"the keyring ({backend_name()}) gave back a different secret")
        step = "delete"
        keyring.delete_password(SERVICE, username)
        step = "check the deletion of"
        if keyring.get_password(SERVICE, username) is not None:
            raise KeystoreError(f"the keyring ({backend_name()}) kept a deleted secret")
    except KeystoreError:
        raise
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not {step} a test secret in the OS keyring "
                            f"({backend_name()}): {type(why).__name__}") from None
