"""Pieces of the Kenya setup pages: labelled fields checked as typed (secret ones hidden behind
dots), a card of facts, the TEST / LIVE badge of a ProTax key (its prefix only, never the key)."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.kenya_validation import KRA_PIN
from app.gui.setup_wizard import (
    CARD_STYLE,
    HINT_STYLE,
    _escape,
    check_field,
    show_problem,
    text_label,
)

TEST_BADGE = ("QLabel { background: #fff4e5; color: #8a4b00; border: 1px solid #e8a33d; "
              "border-radius: 4px; padding: 2px 8px; font-weight: bold; }")
LIVE_BADGE = ("QLabel { background: #e6f4ea; color: #1e5e2c; border: 1px solid #2e8b46; "
              "border-radius: 4px; padding: 2px 8px; font-weight: bold; }")
BAD_BADGE = ("QLabel { background: #fdecea; color: #7a1212; border: 1px solid #d93025; "
             "border-radius: 4px; padding: 2px 8px; font-weight: bold; }")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    hint: str
    placeholder: str = ""
    secret: bool = False
    default: str = ""
    check: Callable[[str], tuple[str | None, str | None]] | None = None
    upper: bool = False  # shown in capitals as typed (a KRA PIN)


def address_check(label: str) -> Callable[[str], tuple[str | None, str | None]]:
    def check(text: str) -> tuple[str | None, str | None]:
        value = text.strip().rstrip("/")
        if not value:
            return None, f"{label} is required"
        if not value.startswith("https://") or len(value) <= len("https://"):
            return None, f"{label} must start with https://"
        if any(c.isspace() for c in value):
            return None, f"{label} must not contain spaces"
        return value, None
    return check


def kra_pin_check(text: str) -> tuple[str | None, str | None]:
    value = text.strip().upper()
    if not value:
        return None, "KRA PIN is required"
    if not KRA_PIN.fullmatch(value):
        return None, "KRA PIN is a letter, 9 digits and a letter (e.g. P051234567A)"
    return value, None


def email_check(text: str) -> tuple[str | None, str | None]:
    value = text.strip()
    if not value:
        return None, "Email is required"
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        return None, "Email must look like name@example.com"
    return value, None


def limited_check(label: str, limit: int) -> Callable[[str], tuple[str | None, str | None]]:
    return lambda text: check_field(label, text, limit)


def password_check(text: str) -> tuple[str | None, str | None]:
    return (text, None) if text else (None, "Password is required")


class FieldsForm(QWidget):
    """Labelled fields, each checked as typed; the line under a field gives a hint, or says
    exactly what is wrong once the field was touched. Secret fields show dots and a Show button."""

    changed = Signal()

    def __init__(self, fields: tuple[Field, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields = {f.name: f for f in fields}
        self.edits: dict[str, QLineEdit] = {}
        self.messages: dict[str, QLabel] = {}
        self.show_buttons: list[QPushButton] = []
        self._touched: set[str] = set()
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(1)
        for row, f in enumerate(fields):
            edit = QLineEdit(f.default)
            edit.setObjectName(f.name)
            edit.setPlaceholderText(f.placeholder)
            label = QLabel(f"{f.label}:")
            label.setBuddy(edit)
            grid.addWidget(label, row * 2, 0)
            if f.secret:
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                show = QPushButton("Show")
                show.setCheckable(True)
                show.setFocusPolicy(Qt.FocusPolicy.TabFocus)
                show.setToolTip(f"Show or hide the {f.label.lower()} while you type it")
                show.toggled.connect(lambda on, edit=edit, show=show: self._toggle(edit, show, on))
                self.show_buttons.append(show)
                line = QHBoxLayout()
                line.setSpacing(6)
                line.addWidget(edit, 1)
                line.addWidget(show)
                grid.addLayout(line, row * 2, 1)
            else:
                grid.addWidget(edit, row * 2, 1)
            message = text_label(f.hint, HINT_STYLE)
            message.setObjectName(f"{f.name}_message")
            grid.addWidget(message, row * 2 + 1, 1)
            edit.textChanged.connect(lambda _text, name=f.name: self._edited(name))
            self.edits[f.name] = edit
            self.messages[f.name] = message
        grid.setColumnStretch(1, 1)

    @staticmethod
    def _toggle(edit: QLineEdit, show: QPushButton, shown: bool) -> None:
        edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        show.setText("Hide" if shown else "Show")

    def hide_secrets(self) -> None:
        for show in self.show_buttons:
            show.setChecked(False)

    def _edited(self, name: str) -> None:
        edit = self.edits[name]
        if self.fields[name].upper and edit.text() != edit.text().upper():
            cursor = edit.cursorPosition()
            edit.setText(edit.text().upper())  # (textChanged again: refreshed then)
            edit.setCursorPosition(cursor)
            return
        self._touched.add(name)
        self._refresh()
        self.changed.emit()

    def _checks(self) -> dict[str, tuple[str | None, str | None]]:
        out = {}
        for name, f in self.fields.items():
            text = self.edits[name].text()
            out[name] = f.check(text) if f.check else ((text.strip() or None), None if
                                                       text.strip() else f"{f.label} is required")
        return out

    def _refresh(self) -> None:
        for name, (_value, problem) in self._checks().items():
            show_problem(self.messages[name], problem if name in self._touched else None,
                         self.fields[name].hint)

    def show_problems(self) -> None:
        self._touched.update(self.fields)
        self._refresh()

    def is_valid(self) -> bool:
        return all(problem is None for _value, problem in self._checks().values())

    def values(self) -> dict[str, str]:
        """Every field as it will be used; only when is_valid()."""
        return {name: value or "" for name, (value, _problem) in self._checks().items()}

    def set_read_only(self, read_only: bool) -> None:
        for edit in self.edits.values():
            edit.setReadOnly(read_only)


def facts_card(rows: list[tuple[str, str]], name: str) -> tuple[QFrame, QLabel]:
    card = QFrame()
    card.setObjectName("card")
    card.setStyleSheet(CARD_STYLE)
    text = text_label("", rich=True)
    text.setObjectName(name)
    text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    layout = QVBoxLayout(card)
    layout.setContentsMargins(12, 8, 12, 8)
    layout.addWidget(text)
    set_facts(text, rows)
    return card, text


def set_facts(label: QLabel, rows: list[tuple[str, str]]) -> None:
    label.setText("<table cellspacing='3'>" + "".join(
        f"<tr><td style='color:#5f6368; padding-right:16px'>{_escape(name)}</td>"
        f"<td><b>{_escape(value)}</b></td></tr>" for name, value in rows) + "</table>")


KEY_KINDS = {"test": ("ptx_test_…  TEST key — invoices are not real", TEST_BADGE),
             "live": ("ptx_live_…  LIVE key — invoices are filed with KRA", LIVE_BADGE)}


def kind_badge(label: QLabel, kind: str | None, otherwise: str, prefix: str = "") -> None:
    """``label`` as the badge of a ProTax key's kind ("test", "live"; its prefix only, never
    the key), after ``prefix``; any other kind: ``otherwise``, as a problem."""
    text, style = KEY_KINDS.get(kind or "", (otherwise, BAD_BADGE))
    label.setText(prefix + text)
    label.setStyleSheet(style)


def key_badge(label: QLabel, api_key: str) -> str | None:
    """The TEST / LIVE badge of a ProTax key as typed; returns the kind."""
    key = api_key.strip()
    kind = next((k for k in KEY_KINDS if key.startswith(f"ptx_{k}_") and len(key) > 9), None)
    if key:
        kind_badge(label, kind, "Not a ProTax key: it starts with ptx_test_ or ptx_live_")
    else:
        label.setText("")
        label.setStyleSheet("")
    label.setVisible(bool(key))
    return kind


def running_address(wizard, upstream: str, default: str) -> str:
    """The address this upstream has now (a Kenya installation set up before, or the practice
    sandbox running), else ``default``."""
    settings = wizard.runtime.facade.settings()
    if settings.upstream != upstream:
        return default
    return wizard.runtime.core.upstream_url or settings.upstream_base or default
