"""The first-run wizard against a real core (practice mode) and the real keyring: fields checked
with the domain's rules as typed, Test connection in the background, the key saved in the OS
keyring and the POS in the database, the unsafe-keyring warning before anything is saved."""

import asyncio
import contextlib
import uuid

import keyring
import pytest
from keyring.errors import KeyringLocked, PasswordDeleteError
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QWizard

from app import keystore, settings
from app.domain.validation import MAX_ID
from app.gui.runtime import Runtime
from app.gui.setup_wizard import SetupWizard, needs_setup
from app.service.facade import PosSetting
from tests.gui.conftest import screenshot, shown

NEXT = QWizard.WizardButton.NextButton
SAVE = QWizard.WizardButton.CommitButton


def pos_list(qtbot, runtime: Runtime) -> list[PosSetting]:
    answer: list[list[PosSetting]] = []
    runtime.call(lambda facade: facade.pos_settings(), answer.append)
    qtbot.waitUntil(lambda: bool(answer), timeout=10_000)
    return answer[0]


def forget_key(ntn: str, pos_id: str) -> None:
    """No key for this POS in the (per-run) keyring, whatever an earlier test saved."""
    with contextlib.suppress(PasswordDeleteError):
        keyring.delete_password(keystore.SERVICE, f"kpra:{ntn}:{pos_id}")
    assert keystore.load_key("kpra", ntn, pos_id) is None


def unique_pos() -> str:
    return f"TILL-{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture
def wizard(qtbot, runtime: Runtime) -> SetupWizard:
    return shown(qtbot, SetupWizard(runtime))


def type_credentials(qtbot, wizard: SetupWizard, ntn: str, pos_id: str, key: str) -> None:
    form = wizard.credentials.form
    for edit, text in ((form.ntn, ntn), (form.pos_id, pos_id), (form.key, key)):
        edit.clear()
        qtbot.keyClicks(edit, text)


def to_save_page(qtbot, wizard: SetupWizard, ntn: str, pos_id: str, key: str, *,
                 live: bool = False) -> None:
    wizard.next()
    type_credentials(qtbot, wizard, ntn, pos_id, key)
    assert wizard.button(NEXT).isEnabled()
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.UPSTREAM
    if live:
        wizard.upstream.chooser.live.setChecked(True)
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.SAVE
    qtbot.waitUntil(lambda: wizard.save_page.keyring.loaded, timeout=10_000)


def test_bad_details_keep_next_disabled_with_a_message_saying_what_is_wrong(qtbot, wizard):
    wizard.next()
    assert wizard.currentId() == SetupWizard.CREDENTIALS
    form, next_button = wizard.credentials.form, wizard.button(NEXT)
    assert not next_button.isEnabled()  # nothing typed yet
    assert form.messages["ntn"].text().startswith("Your business's NTN")  # a hint, not a scolding

    qtbot.keyClicks(form.ntn, "   ")
    qtbot.keyClicks(form.pos_id, "P" * (MAX_ID + 1))
    qtbot.keyClicks(form.key, "x")
    qtbot.keyClick(form.key, Qt.Key.Key_Backspace)
    assert form.messages["ntn"].text() == "NTN must not be blank"
    assert form.messages["pos_id"].text() == (
        f"POS ID must be at most {MAX_ID} characters (got {MAX_ID + 1})")
    assert form.messages["key"].text() == "Key is required"
    assert not next_button.isEnabled()

    form.ntn.clear()
    qtbot.keyClicks(form.ntn, "1234567-8")
    qtbot.keyClicks(form.key, "s3cret-KEY")
    assert form.key.echoMode() == form.key.EchoMode.Password  # dots
    assert form.messages["ntn"].text().startswith("Your business's NTN")
    assert not next_button.isEnabled()  # the POS ID is still too long
    form.pos_id.clear()
    assert form.messages["pos_id"].text() == "POS ID is required"
    assert not next_button.isEnabled()
    screenshot(wizard, "setup-wizard-credentials")

    qtbot.keyClicks(form.pos_id, "TILL-01")
    assert form.messages["pos_id"].text().startswith("The POS ID KPRA issued")
    assert next_button.isEnabled()
    qtbot.mouseClick(form.show_key, Qt.MouseButton.LeftButton)
    assert form.key.echoMode() == form.key.EchoMode.Normal and form.show_key.text() == "Hide"
    qtbot.mouseClick(next_button, Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.UPSTREAM
    assert form.key.echoMode() == form.key.EchoMode.Password  # hidden again on leaving the page


def test_test_connection_runs_in_the_background_and_says_the_result(qtbot, wizard, runtime,
                                                                      monkeypatch):
    real = runtime.facade.test_connection

    async def slow(upstream_url=None):
        await asyncio.sleep(0.6)  # a slow network: the window must keep working meanwhile
        return await real(upstream_url)

    monkeypatch.setattr(runtime.facade, "test_connection", slow)
    wizard.next()
    type_credentials(qtbot, wizard, "1234567-8", unique_pos(), "s3cret-KEY")
    wizard.next()
    chooser = wizard.upstream.chooser
    assert chooser.practice.isChecked()  # the core runs in practice mode
    assert chooser.restart_note.text() == ""
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    qtbot.mouseClick(chooser.test_button, Qt.MouseButton.LeftButton)
    assert chooser.result.text().startswith("Checking…")
    assert not chooser.test_button.isEnabled() and chooser.busy.isVisibleTo(chooser)
    qtbot.waitUntil(lambda: chooser.result.text().startswith("✓"), timeout=20_000)
    timer.stop()
    assert len(ticks) >= 10, "the Qt thread was blocked while the connection was tested"
    assert "practice sandbox answered" in chooser.result.text()
    assert chooser.test_button.isEnabled() and not chooser.busy.isVisibleTo(chooser)
    screenshot(wizard, "setup-wizard-upstream")

    chooser.live.setChecked(True)  # another choice: the old answer no longer applies
    assert chooser.result.text() == ""
    assert "next time the utility starts" in chooser.restart_note.text()


def test_finishing_saves_the_key_in_the_keyring_and_the_pos_in_the_database(qtbot, wizard,
                                                                              runtime):
    ntn, pos_id, key = "1234567-8", "TILL-01", "s3cret-KEY"
    forget_key(ntn, pos_id)
    assert needs_setup(pos_list(qtbot, runtime))  # only practice mode's built-in user
    saved: list[str] = []
    wizard.pos_saved.connect(saved.append)
    to_save_page(qtbot, wizard, ntn, pos_id, f"  {key} ")  # spaces around: trimmed, as intake does
    page = wizard.save_page
    assert not page.keyring.warning_box.isVisibleTo(page)
    assert "desktop keyring" in page.keyring.where.text()
    assert key not in page.summary.text() and "•" in page.summary.text()
    assert keystore.load_key("kpra", ntn, pos_id) is None  # nothing saved before Save
    save = wizard.button(SAVE)
    assert save.isVisible() and save.text() == "Save" and save.isEnabled()
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.DONE, timeout=15_000)

    assert keystore.load_key("kpra", ntn, pos_id) == key
    [mine] = [p for p in pos_list(qtbot, runtime) if p.pos_id == pos_id]
    assert (mine.ntn, mine.has_key, mine.held_reason) == (ntn, True, None)
    assert not needs_setup(pos_list(qtbot, runtime))
    assert saved == [pos_id]
    text = wizard.done_page.message.text()
    assert pos_id in text and "/api/invoice" in text and "Practice mode" in text
    assert key not in text
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    screenshot(wizard, "setup-wizard-done")
    assert not (runtime.settings.data_dir / settings.CONFIG_NAME).exists()  # practice unchanged


def test_choosing_live_in_practice_mode_is_saved_for_the_next_start(qtbot, wizard, runtime):
    to_save_page(qtbot, wizard, "7654321-0", unique_pos(), "another-KEY", live=True)
    assert "KPRA (live)" in wizard.save_page.summary.text()
    qtbot.mouseClick(wizard.button(SAVE), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.DONE, timeout=15_000)
    assert settings.load(runtime.settings.data_dir).practice is False
    config = (runtime.settings.data_dir / settings.CONFIG_NAME).read_text()
    assert "practice = false" in config
    assert "switches to <b>KPRA (live)</b> the next time it starts" in (
        wizard.done_page.message.text())


def test_an_unsafe_keyring_is_warned_about_before_anything_is_saved(qtbot, wizard, runtime,
                                                                    monkeypatch):
    warning = "The keyring backend keyrings.alt.file.PlaintextKeyring does not keep keys safely."
    monkeypatch.setattr(keystore, "backend_warning", lambda: warning)
    monkeypatch.setattr(keystore, "backend_name", lambda: "keyrings.alt.file.PlaintextKeyring")
    ntn, pos_id, key = "1234567-8", unique_pos(), "s3cret-KEY"
    to_save_page(qtbot, wizard, ntn, pos_id, key)
    page, save = wizard.save_page, wizard.button(SAVE)
    assert page.keyring.warning_box.isVisibleTo(page)
    assert warning in page.keyring.warning_text.text()
    assert "plain file" in page.keyring.where.text()
    assert not save.isEnabled()  # not without the user's say-so
    assert keystore.load_key("kpra", ntn, pos_id) is None

    box = page.keyring.accept_risk
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked()
    assert save.isEnabled()
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.DONE, timeout=15_000)
    assert keystore.load_key("kpra", ntn, pos_id) == key


def test_a_keyring_refusal_is_shown_in_the_wizard_and_nothing_is_half_saved(qtbot, wizard,
                                                                          runtime, monkeypatch):
    def refuse(*_args):
        raise KeyringLocked("the keyring is locked")

    monkeypatch.setattr(keyring, "set_password", refuse)
    ntn, pos_id, key = "1234567-8", unique_pos(), "s3cret-KEY"
    to_save_page(qtbot, wizard, ntn, pos_id, key, live=True)  # not saved either
    page = wizard.save_page
    qtbot.mouseClick(wizard.button(SAVE), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.error_box.isVisibleTo(page), timeout=15_000)
    assert wizard.currentId() == SetupWizard.SAVE
    assert "could not save the key in the OS keyring" in page.error.text()
    assert "Nothing was saved" in page.error.text()
    assert key not in page.error.text()
    assert wizard.button(SAVE).isEnabled()  # try again once the keyring is unlocked
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert pos_id not in {p.pos_id for p in pos_list(qtbot, runtime)}
    assert not (runtime.settings.data_dir / settings.CONFIG_NAME).exists()

    monkeypatch.undo()
    qtbot.mouseClick(wizard.button(SAVE), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.DONE, timeout=15_000)
    assert keystore.load_key("kpra", ntn, pos_id) == key
