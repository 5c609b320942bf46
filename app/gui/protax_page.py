"""The setup wizard's ProTax page (docs/KENYA.md; seed 004): the address, the API key (checked
with /health by Test connection; shown only as its prefix with a TEST / LIVE badge), the KRA PIN
and the POS ID; Save keeps the key in the OS keyring (service/kenya_setup.py)."""


from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from app.domain.validation import MAX_ID, MAX_KEY
from app.gui.check_line import CheckLine
from app.gui.fields_form import (
    Field,
    FieldsForm,
    address_check,
    key_badge,
    kra_pin_check,
    limited_check,
    running_address,
)
from app.gui.setup_wizard import ERROR_STYLE, KeyringNotice, _error_box, call_for, failure_text
from app.settings import PROTAX_LIVE_URL

PROTAX_SANDBOX_URL = "https://sandbox.protax.co.ke/api/v2"


class ProTaxPage(QWizardPage):
    """ProTax's address, the API key (checked with /health by Test connection), the KRA PIN and
    the POS ID; Save keeps the key in the keyring and sets up the POS."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Your ProTax details")
        self.setSubTitle("ProTax files your invoices with KRA eTIMS. Use the API key from the "
                         "ProTax dashboard (Settings → API Keys).")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Save")
        self.form = FieldsForm((
            Field("base_url", "Address", f"Live: {PROTAX_LIVE_URL}",
                  check=address_check("Address"), default=PROTAX_LIVE_URL),
            Field("api_key", "API key", "Kept in this computer's keyring, never shown again.",
                  "ptx_live_… or ptx_test_…", secret=True, check=limited_check("API key", MAX_KEY)),
            Field("kra_pin", "KRA PIN", "Your business's KRA PIN.", "e.g. P051234567A",
                  check=kra_pin_check, upper=True),
            Field("pos_id", "POS ID", "The name your till's software sends as pos_id.",
                  "e.g. POS-1", check=limited_check("POS ID", MAX_ID)),
        ))
        self.form.changed.connect(self._edited)
        self.badge = QLabel("")
        self.badge.setObjectName("key_badge")
        self.badge.hide()
        self.sandbox_button = QPushButton("Use the ProTax sandbox address")
        self.sandbox_button.clicked.connect(
            lambda: self.form.edits["base_url"].setText(PROTAX_SANDBOX_URL))
        badge_line = QHBoxLayout()
        badge_line.addWidget(self.badge)
        badge_line.addStretch(1)
        badge_line.addWidget(self.sandbox_button)
        self.check = CheckLine("Test connection", self.test, button_name="test_protax",
                               min_height=0)
        self.test_button, self.busy, self.result = (self.check.button, self.check.busy,
                                                    self.check.result)
        self.keyring = KeyringNotice(wizard.runtime)
        self.keyring.changed.connect(self.completeChanged)
        self.error_box, self.error = _error_box()
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addLayout(badge_line)
        layout.addLayout(self.check.line)
        layout.addWidget(self.result)
        layout.addWidget(self.keyring)
        layout.addWidget(self.error_box)
        layout.addStretch(1)
        self.saving = False
        self.saved = False
        self.checked = None
        self._attempt = 0

    def initializePage(self) -> None:
        edit = self.form.edits["base_url"]
        edit.setText(running_address(self._wizard, "protax", edit.text() or PROTAX_LIVE_URL))
        if not self.keyring.loaded:
            self.keyring.load()
        self.form.edits["api_key"].setFocus()

    def _edited(self) -> None:
        self._attempt += 1
        self.checked = None
        self.check.clear()
        key_badge(self.badge, self.form.edits["api_key"].text())
        self.completeChanged.emit()

    def test(self) -> None:
        values = self.form.values()
        checks = self.form._checks()
        if checks["base_url"][1] or checks["api_key"][1]:
            self.form.show_problems()
            return
        self._attempt += 1
        attempt = self._attempt
        self.form.hide_secrets()
        self.check.started("Checking… (this can take up to 15 seconds)")

        def done(check) -> None:
            if attempt != self._attempt:
                return
            self.checked = check
            kind = "TEST key — invoices are not real" if check.key_kind == "test" else "LIVE key"
            text = (f"ProTax answered: version {check.version}, {check.environment}, KRA "
                    f"eTIMS {check.etims_status}. {kind}.")
            if check.warning:
                text += f"\n⚠ {check.warning}"
            self.check.finished(True, text, ERROR_STYLE if check.warning else None)

        def failed(error: BaseException) -> None:
            if attempt == self._attempt:
                self.check.finished(False, failure_text(error))

        call_for(self, self._wizard.runtime, lambda facade: facade.protax_check(
            values["base_url"], values["api_key"]), done, failed)

    def isComplete(self) -> bool:
        return not self.saving and self.form.is_valid() and self.keyring.ready()

    def validatePage(self) -> bool:
        if self.saved:
            return True
        if not self.saving and self.form.is_valid() and self.keyring.ready():
            self.save()
        return False

    def save(self) -> None:
        values = self.form.values()
        self.saving = True
        self.form.hide_secrets()
        self.error_box.hide()
        self.check.started("Checking the key with ProTax and saving…", disable=False)
        self.completeChanged.emit()
        self._wizard.button(QWizard.WizardButton.BackButton).setEnabled(False)

        def done(result) -> None:
            self.saving = False
            self.saved = True
            self.busy.hide()
            self.result.setText("")
            self._wizard.kenya_saved(result)
            self._wizard.next()

        def failed(error: BaseException) -> None:
            self.saving = False
            self.busy.hide()
            self.result.setText("")
            self.error.setText(failure_text(error) + "\n\nNothing was saved. Fix the problem, "
                               "then press Save again.")
            self.error_box.show()
            self._wizard.button(QWizard.WizardButton.BackButton).setEnabled(True)
            self.completeChanged.emit()

        call_for(self, self._wizard.runtime, lambda facade: facade.setup_protax(**values),
                 done, failed)

    def nextId(self) -> int:
        return self._wizard.KENYA_DONE
