"""First-run setup: the shop's KPRA details (NTN, POS ID, key), where invoices go (KPRA or the
built-in practice sandbox), then the key into the OS keyring and the POS into the database
(facade.save_pos). The pieces (CredentialsForm, UpstreamChooser, KeyringNotice, PosDialog) are
reused by the settings window.

Field rules are the domain's (domain/validation.py), the same a POS's posted invoice is checked
with, so a POS ID accepted here is never refused at intake. Every call to the core goes through
Runtime.call: the window never waits on the network or the keyring."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)
from shiboken6 import isValid

from app import settings
from app.domain.validation import MAX_ID, MAX_KEY, _text
from app.gui.runtime import Runtime
from app.service.core import PRACTICE_POS
from app.service.facade import PosSetting, ServiceError

T = TypeVar("T")

ERROR_STYLE = "color: #b3261e;"
HINT_STYLE = "color: #5f6368;"
OK_STYLE = "color: #1e7e34;"
WARNING_BOX_STYLE = ("QFrame#warningBox { background: #fff4e5; border: 1px solid #e8a33d; "
                     "border-radius: 6px; }")
ERROR_BOX_STYLE = ("QFrame#errorBox { background: #fdecea; border: 1px solid #d93025; "
                   "border-radius: 6px; }")
CARD_STYLE = ("QFrame#card { background: palette(base); border: 1px solid palette(mid); "
              "border-radius: 6px; }")

# How the keyring backends are called on the screen (keystore.backend_name() gives the class).
_KEYRING_LABELS = (
    ("SecretService", "the desktop keyring (GNOME Keyring / Secret Service)"),
    ("kwallet", "KDE Wallet"),
    ("Windows", "Windows Credential Manager"),
    ("macOS", "the macOS Keychain"),
    ("PlaintextKeyring", "a plain file (not encrypted)"),
    ("EncryptedKeyring", "an encrypted file (keyrings.alt)"),
    ("fail.Keyring", "no keyring (keys cannot be kept)"),
    ("null.Keyring", "no keyring (keys are thrown away)"),
)


def keyring_label(backend: str) -> str:
    """A shopkeeper's name for a keyring backend's class name."""
    for marker, label in _KEYRING_LABELS:
        if marker in backend:
            return label
    return backend


def is_sample_pos(p: PosSetting) -> bool:
    """Practice mode's built-in sample POS (KPRA's, or Kenya's)."""
    from app.service.upstreams import KENYA_PRACTICE_PIN, KENYA_PRACTICE_POS_ID

    return (p.ntn, p.pos_id) in ((PRACTICE_POS.ntn, PRACTICE_POS.pos_id),
                                 (KENYA_PRACTICE_PIN, KENYA_PRACTICE_POS_ID))


def needs_setup(pos: Iterable[PosSetting]) -> bool:
    """First run: no POS set up apart from practice mode's built-in sample POS."""
    return all(is_sample_pos(p) for p in pos)


def check_field(label: str, text: str, limit: int) -> tuple[str | None, str | None]:
    """The domain's rule for an identifier or key field (the one intake applies to what a POS
    posts): (the value as it will be used, None) or (None, what is wrong, naming the field)."""
    errors: dict[str, str] = {}
    value = _text({label: text}, label, limit, errors)
    return value, errors.get(label)


def text_label(text: str, style: str = "", *, wrap: bool = True, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    if style:
        label.setStyleSheet(style)
    return label


def show_problem(message: QLabel, problem: str | None, hint: str) -> None:
    """The line under a field: what is wrong with it (red), else its hint."""
    message.setText(problem or hint)
    message.setStyleSheet(ERROR_STYLE if problem else HINT_STYLE)


def _bold(label: QLabel) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def _busy_bar() -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 0)  # "busy": an animated bar while the core works
    bar.setTextVisible(False)
    bar.setFixedSize(110, 12)
    bar.hide()
    return bar


def call_for(widget: QWidget, runtime: Runtime, fn: Callable[..., Awaitable[T]],
             done: Callable[[T], object], failed: Callable[[BaseException], object]) -> None:
    """runtime.call for a window: the answer is dropped if the window was closed (and deleted)
    meanwhile, instead of reaching a dead widget."""
    def alive(callback: Callable[[Any], object]) -> Callable[[Any], None]:
        def deliver(value: Any) -> None:
            if isValid(widget):
                callback(value)
        return deliver
    runtime.call(fn, alive(done), alive(failed))


def failure_text(error: BaseException) -> str:
    if isinstance(error, ServiceError):
        return str(error)
    return f"Something went wrong: {error or type(error).__name__}"


# --------------------------------------------------------------------------- credentials


class CredentialsForm(QWidget):
    """NTN, POS ID and key, each checked as typed with the domain's rules; the message under a
    field says exactly what is wrong with it. With ``fixed`` (Change key), only the key is asked
    for. The key is hidden (dots) unless the user presses Show."""

    changed = Signal()

    def __init__(self, fixed: PosSetting | None = None, taken: Iterable[str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fixed = fixed
        self._taken = set(taken)
        self.ntn = QLineEdit()
        self.ntn.setObjectName("ntn")
        self.ntn.setPlaceholderText("e.g. 1234567-8")
        self.pos_id = QLineEdit()
        self.pos_id.setObjectName("pos_id")
        self.pos_id.setPlaceholderText("as issued by KPRA")
        self.key = QLineEdit()
        self.key.setObjectName("key")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("the secret key issued with the POS ID")
        self.show_key = QPushButton("Show")
        self.show_key.setCheckable(True)
        self.show_key.setToolTip("Show or hide the key while you type it")
        self.show_key.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.show_key.toggled.connect(self._toggle_key)

        self._hints = {
            "ntn": f"Your business's NTN, as registered with KPRA (at most {MAX_ID} characters).",
            "pos_id": f"The POS ID KPRA issued for this till (at most {MAX_ID} characters).",
            "key": "Kept in this computer's keyring, never in a file, and never shown again.",
        }
        self.messages = {name: text_label(self._hints[name], HINT_STYLE) for name in self._hints}
        for name, message in self.messages.items():
            message.setObjectName(f"{name}_message")
        self._touched: set[str] = set()

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        rows = (("NTN", self.ntn, "ntn"), ("POS ID", self.pos_id, "pos_id"), ("Key", self.key, "key"))
        for row, (text, edit, name) in enumerate(rows):
            label = QLabel(f"{text}:")
            label.setBuddy(edit)
            grid.addWidget(label, row * 2, 0)
            if edit is self.key:
                line = QHBoxLayout()
                line.setSpacing(6)
                line.addWidget(self.key, 1)
                line.addWidget(self.show_key)
                grid.addLayout(line, row * 2, 1)
            else:
                grid.addWidget(edit, row * 2, 1)
            grid.addWidget(self.messages[name], row * 2 + 1, 1)
            grid.setRowMinimumHeight(row * 2 + 1, 34)
            edit.textChanged.connect(lambda _text, name=name: self._edited(name))
        grid.setColumnStretch(1, 1)

        if fixed is not None:
            for edit, value in ((self.ntn, fixed.ntn), (self.pos_id, fixed.pos_id)):
                edit.setText(value)
                edit.setReadOnly(True)
                edit.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.messages["ntn"].setText("")
            self.messages["pos_id"].setText("")
            self._hints["key"] = "Type the new key. It replaces the old one, which is never shown."
            self.messages["key"].setText(self._hints["key"])
        self._touched.clear()

    def _toggle_key(self, shown: bool) -> None:
        self.key.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_key.setText("Hide" if shown else "Show")

    def hide_key(self) -> None:
        self.show_key.setChecked(False)

    def _edited(self, name: str) -> None:
        self._touched.add(name)
        self._refresh()
        self.changed.emit()

    def _checks(self) -> dict[str, tuple[str | None, str | None]]:
        checks = {"ntn": check_field("NTN", self.ntn.text(), MAX_ID),
                  "pos_id": check_field("POS ID", self.pos_id.text(), MAX_ID),
                  "key": check_field("Key", self.key.text(), MAX_KEY)}
        pos_id = checks["pos_id"][0]
        if self._fixed is None and pos_id is not None and pos_id in self._taken:
            checks["pos_id"] = (None, f"POS {pos_id} is already set up: select it in the list "
                                      "and use Change key… instead.")
        return checks

    def _refresh(self) -> None:
        for name, (_value, problem) in self._checks().items():
            if self._fixed is None or name == "key":
                show_problem(self.messages[name], problem if name in self._touched else None,
                             self._hints[name])

    def show_problems(self) -> None:
        """Show every field's problem, typed in or not (e.g. after a failed attempt)."""
        self._touched.update(self.messages)
        self._refresh()

    def is_valid(self) -> bool:
        return all(problem is None for _value, problem in self._checks().values())

    def values(self) -> tuple[str, str, str]:
        """(ntn, pos_id, key) as they will be saved; only when is_valid()."""
        checks = self._checks()
        ntn, pos_id, key = (checks[name][0] for name in ("ntn", "pos_id", "key"))
        assert ntn is not None and pos_id is not None and key is not None
        return ntn, pos_id, key


# ------------------------------------------------------------------------------ keyring


class KeyringNotice(QWidget):
    """Where the key will be kept; when that keyring does not keep keys safely, a warning box
    and a box to tick to go on anyway (asked before anything is saved)."""

    changed = Signal()

    def __init__(self, runtime: Runtime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self.loaded = False
        self.backend: str | None = None
        self.warning: str | None = None
        self.where = text_label("Checking where keys are kept on this computer…")
        self.where.setObjectName("keyring_where")
        self.warning_box = QFrame()
        self.warning_box.setObjectName("warningBox")
        self.warning_box.setStyleSheet(WARNING_BOX_STYLE)
        box = QVBoxLayout(self.warning_box)
        box.setContentsMargins(12, 10, 12, 10)
        box.addWidget(_bold(text_label("⚠ This computer cannot keep the key safely")))
        self.warning_text = text_label("")
        self.warning_text.setObjectName("keyring_warning")
        box.addWidget(self.warning_text)
        self.accept_risk = QCheckBox("Continue anyway: save the key in this keyring")
        self.accept_risk.toggled.connect(lambda _on: self.changed.emit())
        box.addWidget(self.accept_risk)
        self.warning_box.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.where)
        layout.addWidget(self.warning_box)

    def load(self) -> None:
        def ask(facade):
            return asyncio.to_thread(lambda: (facade.keyring_name(), facade.keyring_warning()))
        call_for(self, self._runtime, ask, self._loaded, self._failed)

    def _loaded(self, answer: tuple[str, str | None]) -> None:
        self.backend, self.warning = answer
        self.loaded = True
        self.where.setText(f"The key will be kept in {keyring_label(self.backend)}.")
        self.where.setToolTip(self.backend)
        if self.warning:
            self.warning_text.setText(
                f"{self.warning} Keys saved now could be read by anyone using this computer, "
                "or be lost. You can go on (for example to try things out) and save the key "
                "again once the keyring is fixed.")
            self.warning_box.show()
        self.changed.emit()

    def _failed(self, error: BaseException) -> None:
        self._loaded(("unknown keyring", f"The keyring could not be checked ({failure_text(error)})."))

    def ready(self) -> bool:
        return self.loaded and (not self.warning or self.accept_risk.isChecked())


# ----------------------------------------------------------------------------- upstream


class UpstreamChooser(QWidget):
    """KPRA (live) or the practice sandbox, with Test connection run in the background."""

    changed = Signal()

    def __init__(self, runtime: Runtime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        running = runtime.facade.settings()
        # A Kenya installation going back to KPRA: KPRA's own address, and any choice here
        # takes effect at the next start.
        self._kpra_running = running.upstream == "kpra"
        self._running_name = settings.UPSTREAM_NAMES.get(running.upstream, running.upstream)
        self.running_practice = running.practice and self._kpra_running
        self._live_url = running.upstream_url if self._kpra_running else settings.KPRA_LIVE_URL
        self._check = 0  # which Test connection is current (an older answer is ignored)
        self.live = QRadioButton("KPRA (live)")
        self.live.setObjectName("live")
        self.practice = QRadioButton("Practice (built-in sandbox: nothing is filed)")
        self.practice.setObjectName("practice")
        group = QButtonGroup(self)
        group.addButton(self.live)
        group.addButton(self.practice)
        (self.practice if self.running_practice else self.live).setChecked(True)
        from app.gui.check_line import CheckLine  # (it builds on this module)

        self.check = CheckLine("Test connection", self.test)
        self.test_button, self.busy, self.result = (self.check.button, self.check.busy,
                                                    self.check.result)
        self.restart_note = text_label("", HINT_STYLE)
        self.restart_note.setObjectName("restart_note")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.live)
        layout.addWidget(self._indented(text_label("Invoices are filed with KPRA for real. Use this "
                                               "in the shop.", HINT_STYLE)))
        layout.addWidget(self.practice)
        layout.addWidget(self._indented(text_label(
            "For trying things out: invoices go to a sandbox inside this utility and never reach "
            "KPRA.", HINT_STYLE)))
        layout.addSpacing(8)
        layout.addLayout(self.check.line)
        layout.addWidget(self.result)
        layout.addWidget(self.restart_note)
        self.live.toggled.connect(self._choice_changed)
        self._choice_changed()

    @staticmethod
    def _indented(label: QLabel) -> QLabel:
        label.setIndent(24)
        return label

    def chosen_practice(self) -> bool:
        return self.practice.isChecked()

    def set_practice(self, practice: bool) -> None:
        (self.practice if practice else self.live).setChecked(True)

    def _choice_changed(self, *_args: object) -> None:
        self._check += 1  # an answer for the other choice would be misleading
        self.check.clear()
        self.restart_note.setVisible(self.chosen_practice() != self.running_practice
                                     or not self._kpra_running)
        if not self._kpra_running:
            self.restart_note.setText(
                f"The utility uses {self._running_name} now. This choice takes effect the next "
                "time the utility starts.")
        elif self.chosen_practice() == self.running_practice:
            self.restart_note.setText("")
        else:
            now = "practice mode" if self.running_practice else "KPRA (live)"
            self.restart_note.setText(
                f"The utility is using {now} now. This choice takes effect the next time the "
                "utility starts.")
        self.changed.emit()

    def test(self) -> None:
        self._check += 1
        check, practice = self._check, self.chosen_practice()
        if practice and (not self.running_practice or not self._kpra_running):
            self._show(True, "The practice sandbox is part of this utility and needs no "
                             "internet: it starts with the utility in practice mode.", "")
            return
        url = (None if practice == self.running_practice and self._kpra_running
               else self._live_url)
        if self.test_button.hasFocus():  # disabled, it would hand focus to the next field
            (self.practice if practice else self.live).setFocus()
        self.check.started("Checking… (this can take up to 15 seconds; you can keep working)")

        def done(answer: tuple[bool, str]) -> None:
            if check == self._check:
                ok, detail = answer
                if ok and practice:
                    text = ("The practice sandbox answered. Invoices go there; nothing is filed "
                            "with KPRA.")
                elif ok:
                    text = ("KPRA answered: this computer can reach KPRA. The key is checked "
                            "when the first invoice is sent.")
                else:
                    text = detail
                self._show(ok, text, detail)

        def failed(error: BaseException) -> None:
            if check == self._check:
                self._show(False, f"The connection could not be tested: {failure_text(error)}", "")

        call_for(self, self._runtime, lambda facade: facade.test_connection(url), done, failed)

    def _show(self, ok: bool, text: str, detail: str) -> None:
        self.check.finished(ok, text)
        self.result.setToolTip(detail)


# ------------------------------------------------------------------------------ saving


def save_pos(widget: QWidget, runtime: Runtime, ntn: str, pos_id: str, key: str,
             done: Callable[[int], object], failed: Callable[[str], object]) -> None:
    """facade.save_pos in the background (it goes on if the window is closed meanwhile);
    ``failed`` gets the message to show."""
    call_for(widget, runtime, lambda facade: facade.save_pos(ntn, pos_id, key), done,
             lambda error: failed(failure_text(error)))


def _error_box() -> tuple[QFrame, QLabel]:
    box = QFrame()
    box.setObjectName("errorBox")
    box.setStyleSheet(ERROR_BOX_STYLE)
    text = text_label("")
    text.setObjectName("save_error")
    layout = QVBoxLayout(box)
    layout.setContentsMargins(12, 8, 12, 8)
    layout.addWidget(text)
    box.hide()
    return box, text


class PosDialog(QDialog):
    """Add a POS, or change a POS's key (``existing``): the wizard's credentials form, where the
    key is kept, and Save (facade.save_pos in the background; errors shown here)."""

    def __init__(self, runtime: Runtime, existing: PosSetting | None = None,
                 taken: Iterable[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        self.released: int | None = None
        self.setWindowTitle(f"Change the key of POS {existing.pos_id}" if existing
                            else "Add a POS")
        self.form = CredentialsForm(existing, taken)
        self.keyring = KeyringNotice(runtime)
        self.error_box, self.error = _error_box()
        self.busy = _busy_bar()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        intro = ("Type the new key KPRA gave you for this POS." if existing else
                 "Type the details KPRA gave you for this till.")
        layout = QVBoxLayout(self)
        layout.addWidget(text_label(intro))
        layout.addSpacing(6)
        layout.addWidget(self.form)
        layout.addWidget(self.keyring)
        layout.addWidget(self.error_box)
        layout.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.busy)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout.addLayout(bottom)
        self.form.changed.connect(self._update)
        self.keyring.changed.connect(self._update)
        self._saving = False
        self.resize(560, 400)
        self._update()
        self.keyring.load()
        (self.form.key if existing else self.form.ntn).setFocus()

    def _update(self) -> None:
        self.save_button.setEnabled(not self._saving and self.form.is_valid()
                                    and self.keyring.ready())

    def save(self) -> None:
        if not self.form.is_valid():
            self.form.show_problems()
            return
        if self._saving or not self.keyring.ready():
            return
        self._saving = True
        self.error_box.hide()
        self.busy.show()
        self.form.hide_key()
        self._update()
        save_pos(self, self._runtime, *self.form.values(), self._saved, self._failed)

    def _saved(self, released: int) -> None:
        self._saving = False
        self.busy.hide()
        self.released = released
        self.accept()

    def _failed(self, message: str) -> None:
        self._saving = False
        self.busy.hide()
        self.error.setText(message)
        self.error_box.show()
        self._update()


# ------------------------------------------------------------------------------ wizard


class WelcomePage(QWizardPage):
    """Welcome, and the first choice: which tax authority (KPRA, or KRA eTIMS through the KRA
    Agent or ProTax); for Kenya, practice mode may be chosen here (KPRA asks on its own page)."""

    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Welcome to RIMS Utility")
        self.setSubTitle("Sends your shop's sales invoices to the tax authority.")
        layout = QVBoxLayout(self)
        layout.addWidget(text_label(
            "RIMS Utility sits between your shop's POS software and the tax authority: your POS "
            "sends each sale here, and the utility files it, retrying on its own when the "
            "internet or the authority is down. Nothing is lost if the connection drops."))
        layout.addSpacing(8)
        layout.addWidget(_bold(text_label("Which tax authority?")))
        from app.gui.kenya_pages import AUTHORITY_NAMES, authority_hint

        self.authorities: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        names = {"kpra": "KPRA (Pakistan)", **AUTHORITY_NAMES}
        for upstream, hint in (
                ("kpra", "Have the NTN, POS ID and key KPRA gave you ready."),
                ("kra-agent",
                 "Have the agent's address, your account, KRA PIN and device serial ready."),
                ("protax",
                 "Have your ProTax API key (ptx_live_… or ptx_test_…) and KRA PIN ready.")):
            button = QRadioButton(names[upstream])
            button.setObjectName(f"authority_{upstream}")
            group.addButton(button)
            button.toggled.connect(lambda _on: self._chosen())
            self.authorities[upstream] = button
            layout.addWidget(button)
            layout.addWidget(authority_hint(hint))
        running = wizard.runtime.facade.settings()
        self.authorities.get(running.upstream, self.authorities["kpra"]).setChecked(True)
        layout.addSpacing(4)
        self.practice = QCheckBox("Just practise: a built-in sandbox stands in for KRA "
                                  "(nothing is filed)")
        self.practice.setObjectName("kenya_practice")
        layout.addWidget(self.practice)
        layout.addStretch(1)
        self._chosen()

    def chosen(self) -> str:
        return next(name for name, button in self.authorities.items() if button.isChecked())

    def _chosen(self) -> None:
        if hasattr(self, "practice"):
            kenya = self.chosen() != "kpra"
            self.practice.setVisible(kenya)
            if not kenya:
                self.practice.setChecked(False)

    def nextId(self) -> int:
        w, upstream = self._wizard, self.chosen()
        if upstream == "kpra":
            return w.CREDENTIALS
        if self.practice.isChecked():
            return w.KENYA_DONE
        return w.KRA_ACCOUNT if upstream == "kra-agent" else w.PROTAX

    def validatePage(self) -> bool:
        if self.chosen() != "kpra" and self.practice.isChecked():
            return self._wizard.choose_kenya_practice(self.chosen())
        return True


class CredentialsPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Your KPRA details")
        self.setSubTitle("As KPRA issued them for this till. Next is available once all three "
                         "are filled in correctly.")
        self.form = CredentialsForm()
        self.form.changed.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.form.ntn.setFocus()

    def isComplete(self) -> bool:
        return self.form.is_valid()

    def validatePage(self) -> bool:
        self.form.hide_key()
        return self.form.is_valid()


class UpstreamPage(QWizardPage):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.setTitle("Where to send invoices")
        self.setSubTitle("Choose KPRA for real filing. Test connection checks that this "
                         "computer can reach it.")
        self.chooser = UpstreamChooser(runtime)
        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addStretch(1)


class SavePage(QWizardPage):
    """Check and save: the details (key as dots), where the key is kept, the warning about an
    unsafe keyring (before anything is saved), then Save."""

    def __init__(self, wizard: "SetupWizard") -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Check and save")
        self.setSubTitle("Nothing has been saved yet. Save keeps the key in this computer's "
                         "keyring and sets up the POS.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Save")
        self.summary = text_label("", rich=True)
        self.summary.setObjectName("summary")
        card = QFrame()
        card.setObjectName("card")
        card.setStyleSheet(CARD_STYLE)
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(12, 10, 12, 10)
        card_layout.addWidget(self.summary)
        self.keyring = KeyringNotice(wizard.runtime)
        self.keyring.changed.connect(self.completeChanged)
        self.error_box, self.error = _error_box()
        self.busy = _busy_bar()
        self.busy_text = text_label("Saving…", HINT_STYLE)
        self.busy_text.hide()
        busy_line = QHBoxLayout()
        busy_line.addWidget(self.busy)
        busy_line.addWidget(self.busy_text)
        busy_line.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(card)
        layout.addSpacing(6)
        layout.addWidget(self.keyring)
        layout.addWidget(self.error_box)
        layout.addLayout(busy_line)
        layout.addStretch(1)
        self.saving = False
        self.saved = False

    def initializePage(self) -> None:
        wizard = self._wizard
        ntn, pos_id, _key = wizard.credentials.form.values()
        practice = wizard.upstream.chooser.chosen_practice()
        where = "Practice (built-in sandbox: nothing is filed)" if practice else "KPRA (live)"
        rows = (("NTN", ntn), ("POS ID", pos_id), ("Key", "•" * 10 + " (hidden)"),
                ("Send to", where))
        self.summary.setText("<table cellspacing='4'>" + "".join(
            f"<tr><td style='color:#5f6368; padding-right:16px'>{name}</td>"
            f"<td><b>{_escape(value)}</b></td></tr>" for name, value in rows) + "</table>")
        self.error_box.hide()
        if not self.keyring.loaded:
            self.keyring.load()

    def isComplete(self) -> bool:
        return not self.saving and self.keyring.ready()

    def validatePage(self) -> bool:
        if self.saved:
            return True
        if not self.saving and self.keyring.ready():
            self._wizard.save()
        return False

    def set_saving(self, saving: bool) -> None:
        self.saving = saving
        self.busy.setVisible(saving)
        self.busy_text.setVisible(saving)
        if saving:
            self.error_box.hide()
        self.completeChanged.emit()
        back = self._wizard.button(QWizard.WizardButton.BackButton)
        back.setEnabled(not saving)

    def show_error(self, message: str) -> None:
        self.error.setText(message + "\n\nNothing was saved. Fix the problem, then press Save "
                                     "again (or Back to change the details).")
        self.error_box.show()


class DonePage(QWizardPage):
    def nextId(self) -> int:
        return -1

    def __init__(self, title: str = "All set",
                 subtitle: str = "The utility is ready to take invoices from this POS.") -> None:
        super().__init__()
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.message = text_label("", rich=True)
        self.message.setObjectName("done_message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addStretch(1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SetupWizard(QWizard):
    """Shown on first run (needs_setup): welcome, KPRA details, where to send, save, done.
    ``pos_saved(pos_id)`` is emitted once the POS is saved."""

    pos_saved = Signal(str)

    WELCOME, CREDENTIALS, UPSTREAM, SAVE, DONE = range(5)
    KRA_ACCOUNT, KRA_DEVICE, PROTAX, KENYA_DONE = range(5, 9)

    def __init__(self, runtime: Runtime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.setWindowTitle("RIMS Utility setup")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # opened again: a fresh start
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        from app.gui.kenya_pages import KenyaDonePage
        from app.gui.kra_agent_pages import KraAccountPage, KraDevicePage
        from app.gui.protax_page import ProTaxPage

        self.welcome = WelcomePage(self)
        self.credentials = CredentialsPage()
        self.upstream = UpstreamPage(runtime)
        self.save_page = SavePage(self)
        self.done_page = DonePage()
        self.kra_account = KraAccountPage(self)
        self.kra_device = KraDevicePage(self)
        self.protax = ProTaxPage(self)
        self.kenya_done = KenyaDonePage()
        for page_id, page in enumerate((self.welcome, self.credentials, self.upstream,
                                        self.save_page, self.done_page, self.kra_account,
                                        self.kra_device, self.protax, self.kenya_done)):
            self.setPage(page_id, page)
        self.released: int | None = None
        self.settings_error: str | None = None
        try:
            from app.gui import icons

            self.setPixmap(QWizard.WizardPixmap.LogoPixmap, icons.app_icon().pixmap(48, 48))
        except (ImportError, FileNotFoundError):  # a missing icon must not stop the setup
            pass
        self.resize(680, 600)

    def kenya_saved(self, result) -> None:
        """A Kenya POS was set up (service/kenya_setup.py's result): the last page says what the
        till must send."""
        snapshot = self.runtime.last_snapshot
        base_url = snapshot.base_url if snapshot is not None else self.runtime.core.base_url
        self.kenya_done.show_result(result, base_url, self.runtime.facade.settings().upstream)
        self.pos_saved.emit(result.pos_id)

    def choose_kenya_practice(self, upstream: str) -> bool:
        """Practice mode for a Kenya authority: saved for the next start (nothing else to set
        up: the sample POS is built in). False (and a message) if it could not be saved."""
        from app.service import upstreams

        try:
            self.runtime.facade.save_settings(upstream=upstream, practice=True)
        except ServiceError as why:
            QMessageBox.warning(self, "Not saved", f"Practice mode could not be chosen: {why}")
            return False
        snapshot = self.runtime.last_snapshot
        base_url = snapshot.base_url if snapshot is not None else self.runtime.core.base_url
        key = (upstreams.KENYA_PRACTICE_TILL_KEY if upstream == "kra-agent"
               else "the sandbox's test API key (see the README)")
        self.kenya_done.show_practice(settings.UPSTREAM_NAMES[upstream], base_url, (
            upstreams.KENYA_PRACTICE_PIN, upstreams.KENYA_PRACTICE_POS_ID, key))
        return True

    def save(self) -> None:
        """The key to the keyring and the POS to the database (facade.save_pos: all or nothing),
        then the choice of live/practice to config.toml when it changed."""
        ntn, pos_id, key = self.credentials.form.values()
        self.save_page.set_saving(True)

        def done(released: int) -> None:
            self.released = released
            self.settings_error = None
            practice = self.upstream.chooser.chosen_practice()
            changes: dict[str, object] = {}
            if practice != self.upstream.chooser.running_practice:
                changes["practice"] = practice
            if self.runtime.facade.settings().upstream != "kpra":  # from Kenya back to KPRA
                changes.update(upstream=None, upstream_url=None, practice=practice or None)
            if changes:
                try:
                    self.runtime.facade.save_settings(**changes)
                except ServiceError as why:
                    self.settings_error = str(why)
            self._show_done(ntn, pos_id, released, practice)
            self.save_page.saved = True
            self.save_page.set_saving(False)
            self.pos_saved.emit(pos_id)
            self.next()

        def failed(message: str) -> None:
            self.save_page.set_saving(False)
            self.save_page.show_error(message)

        save_pos(self, self.runtime, ntn, pos_id, key, done, failed)

    def _show_done(self, ntn: str, pos_id: str, released: int, practice: bool) -> None:
        keyring = keyring_label(self.save_page.keyring.backend or "the OS keyring")
        snapshot = self.runtime.last_snapshot
        base_url = snapshot.base_url if snapshot is not None else self.runtime.core.base_url
        parts = [f"<p>POS <b>{_escape(pos_id)}</b> (NTN {_escape(ntn)}) is set up. Its key is "
                 f"kept in {_escape(keyring)}.</p>"]
        if released:
            parts.append(f"<p>{released} invoice(s) that were waiting for this POS will be sent "
                         "now.</p>")
        parts.append("<p>Point your POS software at this address:<br>"
                     f"<b>{_escape(base_url)}/api/invoice</b></p>")
        chooser = self.upstream.chooser
        if self.settings_error:
            parts.append(f"<p style='color:#b3261e'>Where to send could not be saved: "
                         f"{_escape(self.settings_error)} The utility keeps using "
                         f"{'practice mode' if chooser.running_practice else 'KPRA (live)'}; "
                         "change it in Settings.</p>")
        elif practice != chooser.running_practice or not chooser._kpra_running:
            now = ("practice mode" if chooser.running_practice else "KPRA (live)"
                   if chooser._kpra_running else chooser._running_name)
            then = "practice mode" if practice else "KPRA (live)"
            parts.append(f"<p>The utility switches to <b>{then}</b> the next time it starts; "
                         f"until then it uses {now}.</p>")
        elif practice:
            parts.append("<p><b>Practice mode:</b> invoices go to the built-in sandbox and "
                         "nothing is filed with KPRA. Switch to KPRA (live) in Settings when "
                         "you are ready.</p>")
        else:
            parts.append("<p>Invoices are filed with KPRA. The key is checked when the first "
                         "one is sent; the tray icon turns red if KPRA refuses it.</p>")
        parts.append("<p style='color:#5f6368'>You can add more POS or change a key later in "
                     "Settings.</p>")
        self.done_page.message.setText("".join(parts))
