"""The OS keyring the tests (and a headless `run.sh`) rely on is real.

build_scripts/test.sh runs pytest under build_scripts/with-keyring.sh: a private D-Bus session
with an unlocked GNOME keyring. This checks that `keyring` really picked the Secret Service
backend and that a secret set here is stored in the daemon (read back by another process).
"""

import os
import shutil
import subprocess
import sys
import uuid

import keyring
import keyring.backends.chainer
import keyring.backends.SecretService
import pytest

SECRET_SERVICE = keyring.backends.SecretService.Keyring


def _private_keyring_or_skip() -> None:
    """Never write into a developer's own keyring; in CI, being outside the sandbox is a bug."""
    if os.environ.get("RIMS_KEYRING_SESSION") == "private":
        return
    message = ("not inside build_scripts/with-keyring.sh (RIMS_KEYRING_SESSION is not 'private'): "
               "run the tests with `bash build_scripts/test.sh`")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message + "; refusing to touch your real keyring")


def _describe(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, check=False, env=os.environ.copy())


READ_BACK = "import sys, keyring; print(repr(keyring.get_password(sys.argv[1], sys.argv[2])))"


def test_secret_service_backend_stores_secrets_in_the_daemon() -> None:
    _private_keyring_or_skip()
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS"), (
        "DBUS_SESSION_BUS_ADDRESS is missing: no D-Bus session bus for the Secret Service")
    assert not os.environ.get("PYTHON_KEYRING_BACKEND"), (
        f"PYTHON_KEYRING_BACKEND={os.environ['PYTHON_KEYRING_BACKEND']!r} overrides the backend "
        "choice; unset it for the tests")

    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        chained = [_describe(b) for b in backend.backends]
        assert any(isinstance(b, SECRET_SERVICE) for b in backend.backends), (
            f"keyring chose a ChainerBackend without the Secret Service in it (has: {chained})")
    else:
        assert isinstance(backend, SECRET_SERVICE), (
            f"keyring chose {_describe(backend)}, not the Secret Service backend "
            f"({_describe(SECRET_SERVICE)}): is the GNOME keyring daemon running and unlocked?")

    service = f"rims-utility-selftest-{uuid.uuid4().hex}"
    username = "probe"
    secret = f"s3cret-{uuid.uuid4().hex}"
    keyring.set_password(service, username, secret)
    try:
        assert keyring.get_password(service, username) == secret, (
            "the secret just set could not be read back in the same process")

        other = _run_python(READ_BACK, service, username)
        assert other.returncode == 0, (
            f"a second Python process could not read the keyring: {other.stderr.strip()}")
        assert other.stdout.strip() == repr(secret), (
            "the secret is missing from the Secret Service daemon: another process read "
            f"{other.stdout.strip()} instead of it (stderr: {other.stderr.strip()!r})")

        secret_tool = shutil.which("secret-tool")
        if secret_tool:  # installed by bootstrap.sh (Debian libsecret-tools): a non-Python client
            found = subprocess.run([secret_tool, "lookup", "service", service,
                                    "username", username],
                                   capture_output=True, text=True, timeout=30, check=False)
            assert found.stdout.rstrip("\n") == secret, (
                "secret-tool (libsecret) did not find the secret in the Secret Service: "
                f"exit {found.returncode}, stderr {found.stderr.strip()!r}")
    finally:
        keyring.delete_password(service, username)

    assert keyring.get_password(service, username) is None, (
        "the secret was still there after delete_password")
    gone = _run_python(READ_BACK, service, username)
    assert gone.stdout.strip() == "None", (
        f"another process still found the deleted secret: {gone.stdout.strip()} "
        f"(stderr: {gone.stderr.strip()!r})")
