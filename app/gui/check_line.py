"""A button that starts a check in the background, its busy bar, and the label that says how it
went (✓ / ✗): Test connection in the wizard and the settings window, and the KRA Agent's Sign in.
The page lays out ``line`` (button and busy bar) and ``result`` where it wants them."""

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QPushButton

from app.gui.setup_wizard import ERROR_STYLE, HINT_STYLE, OK_STYLE, _busy_bar, text_label


class CheckLine:
    def __init__(self, text: str, start: Callable[[], object], *, button_name: str = "",
                 result_name: str = "test_result", min_height: int = 36) -> None:
        self.button = QPushButton(text)
        if button_name:
            self.button.setObjectName(button_name)
        self.button.clicked.connect(start)
        self.busy = _busy_bar()
        self.result = text_label("")
        self.result.setObjectName(result_name)
        if min_height:
            self.result.setMinimumHeight(min_height)
        self.line = QHBoxLayout()
        self.line.addWidget(self.button)
        self.line.addWidget(self.busy)
        self.line.addStretch(1)

    def started(self, text: str, *, disable: bool = True) -> None:
        """Busy, saying ``text``; the button disabled unless ``disable`` is False."""
        if disable:
            self.button.setEnabled(False)
        self.busy.show()
        self.result.setStyleSheet(HINT_STYLE)
        self.result.setText(text)

    def finished(self, ok: bool, text: str, style: str | None = None) -> None:
        """``text`` after ✓ (green) or ✗ (red), or in ``style``."""
        self.busy.hide()
        self.button.setEnabled(True)
        self.result.setStyleSheet(style or (OK_STYLE if ok else ERROR_STYLE))
        self.result.setText(("✓ " if ok else "✗ ") + text)

    def clear(self) -> None:
        """An answer no longer applies (the details or the choice changed)."""
        self.busy.hide()
        self.button.setEnabled(True)
        self.result.setText("")
