"""The setup wizard's KRA Agent pages (docs/KENYA.md; seed 002): sign in to the agent (nothing is
saved yet), then set up this till's POS with the agent (§3.1) and initialise its device with KRA
(§3.4, selectInitOsdcInfo). The password and the integration token are typed into hidden fields
and reach only the facade (service/kenya_setup.py keeps them in the OS keyring)."""


from PySide6.QtWidgets import (
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
    email_check,
    facts_card,
    kra_pin_check,
    limited_check,
    password_check,
    running_address,
    set_facts,
)
from app.gui.setup_wizard import (
    KeyringNotice,
    _error_box,
    call_for,
    failure_text,
)


class KraAccountPage(QWizardPage):
    """The agent's address and the account: Sign in checks them (nothing is saved yet)."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Your KRA Agent account")
        self.setSubTitle("The KRA Agent files your invoices with KRA eTIMS. Sign in with the "
                         "account your KRA Agent provider gave you.")
        self.form = FieldsForm((
            Field("base_url", "Agent address", "The address your provider gave you, ending in "
                  "/kra-agent/api/v1.", "https://…/kra-agent/api/v1", check=address_check(
                      "Agent address")),
            Field("email", "Email", "The account's email address.", "name@example.com",
                  check=email_check),
            Field("password", "Password", "Kept in this computer's keyring once the device is "
                  "set up, never in a file.", secret=True, check=password_check),
        ))
        self.form.changed.connect(self._edited)
        self.check = CheckLine("Sign in", self.sign_in, button_name="sign_in",
                               result_name="sign_in_result")
        self.sign_in_button, self.busy, self.result = (self.check.button, self.check.busy,
                                                       self.check.result)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addSpacing(4)
        layout.addLayout(self.check.line)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self.signed_in: dict[str, str] | None = None
        self._attempt = 0

    def initializePage(self) -> None:
        edit = self.form.edits["base_url"]
        if not edit.text():
            edit.setText(running_address(self._wizard, "kra-agent", ""))
        email = self.form.edits["email"]
        if not email.text():
            email.setText(self._wizard.runtime.facade.settings().kra_agent_email)
        (self.form.edits["base_url"] if not edit.text() else email if not email.text()
         else self.form.edits["password"]).setFocus()

    def _edited(self) -> None:
        self._attempt += 1  # an answer for other details no longer applies
        self.signed_in = None
        self.check.clear()
        self.completeChanged.emit()

    def sign_in(self) -> None:
        if not self.form.is_valid():
            self.form.show_problems()
            return
        self._attempt += 1
        attempt, values = self._attempt, self.form.values()
        self.form.hide_secrets()
        self.check.started("Signing in… (this can take up to 15 seconds)")

        def done(answer: dict[str, str]) -> None:
            if attempt == self._attempt:
                self.signed_in = values
                self.check.finished(True, f"Signed in as {answer['email']}. Next: set up this till's "
                                 "device.")
                self.completeChanged.emit()

        def failed(error: BaseException) -> None:
            if attempt == self._attempt:
                self.check.finished(False, failure_text(error))

        call_for(self, self._wizard.runtime, lambda facade: facade.kra_agent_sign_in(
            values["base_url"], values["email"], values["password"]), done, failed)

    def isComplete(self) -> bool:
        return self.signed_in is not None

    def validatePage(self) -> bool:
        self.form.hide_secrets()
        return self.signed_in is not None


class KraDevicePage(QWizardPage):
    """The POS and its device: set up with the agent (seed 002 §3.1) and initialised with KRA
    (§3.4); then the secrets to the keyring, the POS to the database."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("This till's device")
        self.setSubTitle("Registers this till with the KRA Agent and initialises its device "
                         "with KRA eTIMS. Nothing is saved on this computer before KRA says yes.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Next")
        self.form = FieldsForm((
            Field("kra_pin", "KRA PIN", "Your business's KRA PIN.", "e.g. P051234567A",
                  check=kra_pin_check, upper=True),
            Field("company_name", "Company name", "As registered with KRA.",
                  check=limited_check("Company name", 200)),
            Field("branch_id", "Branch id", "00 for the head office.", default="00",
                  check=limited_check("Branch id", 8)),
            Field("dvc_srl_no", "Device serial", "The device serial number KRA issued for "
                  "this till.", check=limited_check("Device serial", MAX_ID)),
            Field("integration_token", "Integration token", "The key your till's software "
                  "will send with every invoice. Kept in the keyring.", secret=True,
                  check=limited_check("Integration token", MAX_KEY)),
            Field("pos_id", "POS ID", "The name your till's software sends as pos_id.",
                  "e.g. POS-1", check=limited_check("POS ID", MAX_ID)),
        ))
        self.form.changed.connect(self.completeChanged)
        self.check = CheckLine("Set up and initialise device", self.set_up,
                               button_name="setup_device", result_name="setup_progress",
                               min_height=0)
        self.setup_button = self.check.button
        self.check.line.insertWidget(2, self.check.result, 1)  # the progress beside the button
        self.device_card, self.device = facts_card([], "device_facts")
        self.device_card.hide()
        self.keyring = KeyringNotice(wizard.runtime)
        self.keyring.changed.connect(self._update)
        self.error_box, self.error = _error_box()
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(self.keyring)
        layout.addLayout(self.check.line)
        layout.addWidget(self.device_card)
        layout.addWidget(self.error_box)
        layout.addStretch(1)
        self.result = None
        self.working = False

    def initializePage(self) -> None:
        if not self.keyring.loaded:
            self.keyring.load()
        self.form.edits["kra_pin"].setFocus()
        self._update()

    def _update(self) -> None:
        self.setup_button.setEnabled(not self.working and self.result is None
                                     and self.keyring.ready())
        self.completeChanged.emit()

    def set_up(self) -> None:
        if not self.form.is_valid():
            self.form.show_problems()
            return
        if self.working or not self.keyring.ready():
            return
        account = self._wizard.kra_account.signed_in
        assert account is not None
        fields = {**self.form.values(), **account}
        self.working = True
        self.form.hide_secrets()
        self.error_box.hide()
        self.check.started("Setting up with the KRA Agent and KRA eTIMS…")
        self._wizard.button(QWizard.WizardButton.BackButton).setEnabled(False)
        self._update()

        def done(result) -> None:
            self.working = False
            self.result = result
            self.check.clear()
            self.form.set_read_only(True)
            d = result.device
            verified = d.get("status", "")
            set_facts(self.device, [
                ("KRA status", f"{verified} ✓" if verified == "verified" else verified),
                ("Device ID (dvcId)", d.get("dvcId", "—")), ("SDC ID", d.get("sdcId", "—")),
                ("MRC number", d.get("mrcNo", "—")),
                *([("Taxpayer (as KRA knows it)", d["taxpayer"])] if d.get("taxpayer") else []),
                ("POS", f"{result.pos_id} (KRA PIN {result.kra_pin})")])
            self.device_card.show()
            self._update()
            self._wizard.kenya_saved(result)

        def failed(error: BaseException) -> None:
            self.working = False
            self.check.clear()
            self.error.setText(failure_text(error) + "\n\nNothing was saved on this computer. "
                               "Fix the problem, then press Set up again.")
            self.error_box.show()
            self._wizard.button(QWizard.WizardButton.BackButton).setEnabled(True)
            self._update()

        call_for(self, self._wizard.runtime,
                 lambda facade: facade.setup_kra_agent(**fields), done, failed)

    def isComplete(self) -> bool:
        return self.result is not None

    def nextId(self) -> int:
        return self._wizard.KENYA_DONE
