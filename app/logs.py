"""Rotating log file in the data dir; every record passes a filter that redacts secrets."""

import logging
import logging.handlers
import re
import threading
from pathlib import Path

LOG_NAME = "rims-utility.log"
_KEY_FIELD = re.compile(
    r"""(?i)(["']?(?:key|api[_-]?key|password|token|secret)["']?\s*[:=]\s*["']?)([^"'&\s,}]+)"""
)


class SecretRedactor(logging.Filter):
    """Replaces every known key (registered as it is loaded) and anything shaped like
    ``key=…`` / ``"key": "…"`` with ***. Applied to the fully formatted message."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        return _KEY_FIELD.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


redactor = SecretRedactor()


def setup(log_dir: Path | None, level: int = logging.INFO, console: bool = True) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        if getattr(handler, "_rims", False):
            root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            log_dir / LOG_NAME, maxBytes=2_000_000, backupCount=5, encoding="utf-8"))
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._rims = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(redactor)
        root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
