"""Certificates for the KPRA sandbox, so its HTTPS is real HTTPS.

The live KPRA API is HTTPS-only, so the sandbox must be too: clients talk to it with
certificate verification switched ON, trusting a private CA made here with `trustme`.
The files are kept and reused across restarts, so a client that was told to trust the
CA once keeps working. The CA's private key is deliberately never written to disk: a
stolen copy could not mint certificates for other hosts. (If the files are lost or
damaged a new CA is made, and clients must be pointed at the new `ca.pem`.)
"""

from __future__ import annotations

import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

CA_FILE = "ca.pem"
CERT_FILE = "server-cert.pem"
KEY_FILE = "server-key.pem"
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Where the sandbox's PEM files live."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def ensure_certificates(directory: Path) -> TlsFiles:
    """Return usable CA + server certificate files in `directory`, creating them if needed.

    Existing files are reused when they load as a valid certificate/key pair; anything
    missing or damaged causes all three to be made afresh (one consistent set).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    if _usable(files):
        return files
    import trustme  # only to make them: with cryptography it is ~15 MB the sandbox keeps

    ca = trustme.CA(organization_name="RIMS Utility KPRA sandbox")
    leaf = ca.issue_cert(*SERVER_NAMES)
    _write_atomic(files.key_pem, leaf.private_key_pem.bytes(), mode=0o600)
    _write_atomic(files.cert_pem, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_atomic(files.ca_pem, ca.cert_pem.bytes())
    return files


def certificates_ready(directory: Path) -> bool:
    """True when `directory` already holds a usable set (ensure_certificates would reuse it)."""
    directory = Path(directory)
    return _usable(TlsFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE))


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) presenting the sandbox certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_pem, files.key_pem)
    return context


def _usable(files: TlsFiles) -> bool:
    """True when all three files exist and the CA and server pair load cleanly."""
    if not all(p.is_file() for p in (files.ca_pem, files.cert_pem, files.key_pem)):
        return False
    try:
        server_ssl_context(files)
        ssl.create_default_context(cafile=str(files.ca_pem))
    except (ssl.SSLError, OSError, ValueError):
        return False
    return True


def main(argv: list[str]) -> int:
    """`_sandbox-tls FOLDER` (app/relaunch.py): make the certificates in a process of their own,
    so that the service that asked never loads trustme and cryptography (~15 MB it would keep)."""
    if len(argv) != 1:
        print("usage: _sandbox-tls FOLDER", file=sys.stderr)
        return 2
    try:
        ensure_certificates(Path(argv[0]))
    except Exception as why:  # said, not a traceback (a windowed program would show a dialog)
        if sys.stderr is not None:
            print(f"{type(why).__name__}: {why}", file=sys.stderr)
        return 1
    return 0


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file + rename, so a crash never leaves half a PEM file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
