"""The only way to secrets: POS keys live in the OS keyring, never in the database or a file.

Keyring's own backend selection (including PYTHON_KEYRING_BACKEND) is honoured, never overridden.
"""


import keyring
import keyring.errors

SERVICE = "rims-utility"

# Backends that keep secrets in the clear or not at all; the user is warned about them.
_INSECURE = ("PlaintextKeyring", "fail.Keyring", "null.Keyring", "EncryptedKeyring")


class KeystoreError(RuntimeError):
    pass


def _username(upstream: str, ntn: str, pos_id: str) -> str:
    return f"{upstream}:{ntn}:{pos_id}"


def save_key(upstream: str, ntn: str, pos_id: str, key: str) -> None:
    try:
        keyring.set_password(SERVICE, _username(upstream, ntn, pos_id), key)
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not save the key in the OS keyring ({backend_name()}): "
                            f"{type(why).__name__}") from None


def load_key(upstream: str, ntn: str, pos_id: str) -> str | None:
    try:
        return keyring.get_password(SERVICE, _username(upstream, ntn, pos_id))
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not read the key from the OS keyring ({backend_name()}): "
                            f"{type(why).__name__}") from None


def delete_key(upstream: str, ntn: str, pos_id: str) -> bool:
    """Remove a POS key; False if there was none."""
    try:
        keyring.delete_password(SERVICE, _username(upstream, ntn, pos_id))
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as why:  # backends raise their own types (D-Bus, Windows, ...)
        raise KeystoreError(f"could not delete the key from the OS keyring ({backend_name()}): "
                            f"{type(why).__name__}") from None
    return True


def backend_name() -> str:
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
