"""One tray app per data folder: a second launch asks the first to bring its window forward
(over a QLocalServer named after the folder) and exits."""

import hashlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

SHOW = b"show\n"


def server_name(data_dir: Path) -> str:
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return f"rims-utility-{digest}"


def ask_first_to_show(data_dir: Path, timeout_ms: int = 1000) -> bool:
    """True if another tray app runs for ``data_dir`` and was asked to show its window."""
    socket = QLocalSocket()
    socket.connectToServer(server_name(data_dir))
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(SHOW)
    socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    return True


class FirstInstance(QObject):
    """Listens for later launches; ``on_show`` runs in the Qt thread for each."""

    def __init__(self, data_dir: Path, on_show: Callable[[], None]) -> None:
        super().__init__()
        self._on_show = on_show
        self.server = QLocalServer(self)
        name = server_name(data_dir)
        QLocalServer.removeServer(name)  # a stale socket file from a crash (we hold the lock)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.listen(name)
        self.server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (socket := self.server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(SHOW.strip()):
            self._on_show()

    def close(self) -> None:
        self.server.close()
