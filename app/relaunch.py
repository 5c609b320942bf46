"""Helper processes that are this program started again with a hidden first argument:

    python -m app _writer --fd N DATABASE     the database writer (store/worker_main.py; POSIX)
    python -m app _sandbox-tls FOLDER         practice mode's first start: the sandbox's
                                              certificates (sandbox/tls.py), made and gone
    python -m app _keys                       the POS keys from the OS keyring, read and gone
                                              (keystore.py; Linux and macOS)

From the frozen program ``rims-utility _writer …`` (there ``sys.executable`` is the program).
app/__main__.py sends these to ``run`` before anything else is imported, so that each process
holds only what its job needs. Nothing here is for people to type: the names may change.

Keep this module's imports to the cheapest of the standard library: it runs first."""

import os
import sys

WRITER = "_writer"
SANDBOX_TLS = "_sandbox-tls"
KEYS = "_keys"
COMMANDS = (WRITER, SANDBOX_TLS, KEYS)


def command(name: str, *args: str) -> list[str]:
    """The command line that starts this program as the helper ``name``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, name, *args]
    import subprocess

    # The interpreter's own flags as multiprocessing passes them (-B, -X …); -P: the current
    # folder is not put on sys.path (environment() hands over this process's path instead).
    return [sys.executable, *subprocess._args_from_interpreter_flags(), "-P", "-m", "app", name,
            *args]


def environment() -> dict[str, str] | None:
    """The helper's environment: from source, this one with PYTHONPATH set to this process's
    sys.path, so that it finds ``app`` (and everything else) where this process found it, as
    multiprocessing's "spawn" does. None (inherit) when frozen."""
    if getattr(sys, "frozen", False):
        return None
    return os.environ | {"PYTHONPATH": os.pathsep.join(entry or os.getcwd() for entry in sys.path)}


def run(name: str, args: list[str]) -> int:
    """The helper's side: do the job ``name`` with ``args``; the exit status."""
    if name == WRITER:
        from app.store.worker_main import main as writer

        return writer(args)
    if name == SANDBOX_TLS:
        from app.sandbox.tls import main as certificates

        return certificates(args)
    if name == KEYS:
        from app.keystore import helper_main

        return helper_main()
    print(f"unknown helper command {name!r}", file=sys.stderr)
    return 2
