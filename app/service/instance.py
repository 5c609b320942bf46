"""One running service per data folder, and a port taken before anything else is touched.

A second `rims-utility serve` on the same data folder (or the tray app next to a running
`serve`) must not open the database, start a second writer, rotate the first one's log file or
forward the same queue twice. An OS file lock on ``<data dir>/rims-utility.lock`` says who owns
the folder; the OS releases it when the owner dies, even after ``kill -9`` or a power cut, so a
stale lock file never blocks a restart. The owner writes its PID and address into the file so
the second one can say which instance is running."""

import json
import os
import socket
from pathlib import Path
from typing import IO, Any

LOCK_NAME = "rims-utility.lock"
# Windows locks are mandatory: lock a byte far past the text, so others can still read it.
_LOCK_OFFSET = 1 << 20


class AlreadyRunning(RuntimeError):
    """Another instance owns this data folder; the message says which one."""


class PortInUse(RuntimeError):
    """The port is taken (by another instance, or by another program)."""


class InstanceLock:
    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_NAME
        self._file: IO[bytes] | None = None

    def acquire(self) -> "InstanceLock":
        """Take the folder or raise AlreadyRunning; nothing in the folder changes if it fails."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the service's lifetime
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            owner = _describe(handle.read(4096))
            handle.close()
            raise AlreadyRunning(
                f"RIMS Utility is already running for the data folder {self.path.parent}"
                f"{owner}. Nothing was changed. Use that one, or stop it first.") from None
        self._file = handle
        self.update()
        return self

    def update(self, **details: Any) -> None:
        """Record who holds the lock (PID, and e.g. the address once it is known)."""
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps({"pid": os.getpid(), **details}).encode())
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock; the file stays (harmless, reused)
            self._file = None

    def __enter__(self) -> "InstanceLock":
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def listen(host: str, port: int) -> socket.socket:
    """Bind the POS port first, before any file is touched: a port already taken ends the
    start-up with a clear message and nothing else done."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as why:
        raise PortInUse(f"Cannot listen on {host}:{port}: {why.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name == "nt":  # no other program may bind the same port over ours
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:  # restart right after a stop, despite connections still in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as why:
        sock.close()
        if why.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise PortInUse(f"Port {port} on {host} is already in use. Is RIMS Utility already "
                            "running? Stop it, or use --port. Nothing was changed.") from None
        raise PortInUse(f"Cannot listen on {host}:{port}: {why.strerror}") from None
    sock.setblocking(False)
    return sock


def _lock(handle: IO[bytes]) -> None:
    if os.name == "nt":
        import msvcrt

        handle.seek(_LOCK_OFFSET)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _describe(text: bytes) -> str:
    try:
        owner = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(owner, dict):
        return ""
    parts = [f"PID {owner['pid']}"] if "pid" in owner else []
    if owner.get("url"):
        parts.append(f"at {owner['url']}")
    return f" ({', '.join(parts)})" if parts else ""
