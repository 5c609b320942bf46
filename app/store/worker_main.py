"""How the database writer process starts (POSIX): the service (store/writer.py) runs

    python -m app _writer --fd N DATABASE          (from source)
    rims-utility _writer --fd N DATABASE           (the frozen program)

with its end of the socket pair passed as file descriptor N (``subprocess.Popen(pass_fds=…)``).
app/__main__.py sends ``_writer`` here (app/relaunch.py) before anything else is imported, so
the process holds only what the writes need (store/worker.py and the modules of the operations
it is sent): no aiohttp, keyring, Qt or command line, and no multiprocessing resource tracker
beside it."""

import sys


def main(argv: list[str]) -> int:
    """``argv``: the arguments after ``_writer``: ``--fd N DATABASE``."""
    if len(argv) != 3 or argv[0] != "--fd" or not argv[1].isdigit():
        print("usage: _writer --fd N DATABASE (started by the service, not by hand)",
              file=sys.stderr)
        return 2
    import socket

    from app.store import worker

    connection = socket.socket(fileno=int(argv[1]))
    try:
        worker.main(argv[2], connection)
    finally:
        connection.close()
    return 0
