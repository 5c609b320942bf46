"""The setup wizard's Kenya flows against the real sandboxes over real HTTPS (their own CA, given
to the core as its extra CA), a real core on its own thread and the real keyring: the secrets end
up in the keyring and nowhere else (not in the database, not in config.toml, not on screen), a
wrong password or key says so plainly, and nothing is saved then."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLabel, QWizard

from app import keystore, settings
from app.gui.protax_page import PROTAX_SANDBOX_URL
from app.gui.runtime import Runtime
from app.gui.setup_wizard import SetupWizard
from app.sandbox.tls import ensure_certificates
from tests.gui.conftest import gui_settings, screenshot, shown

NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
PIN = "P051234567A"


def run(runtime: Runtime, coroutine, timeout: float = 30):
    """Run a coroutine on the core's loop (where the sandbox lives too) and wait for it."""
    assert runtime.loop is not None
    return asyncio.run_coroutine_threadsafe(coroutine, runtime.loop).result(timeout)


def started_runtime(qtbot, data_dir: Path, ca_file: Path) -> Runtime:
    """A live-mode core (KPRA, nothing sent) that trusts the sandbox's CA, as a shop whose
    authority's certificate is trusted; the wizard switches it to Kenya."""
    running = Runtime(gui_settings(data_dir, practice=False, upstream_ca=ca_file))
    with qtbot.waitSignal(running.bridge.started, timeout=20_000):
        running.start()
    with qtbot.waitSignal(running.bridge.snapshot, timeout=10_000):
        pass
    return running


def with_sandbox(qtbot, tmp_path: Path, sandbox) -> Iterator[tuple[Runtime, object]]:
    ca = ensure_certificates(sandbox.tls_dir).ca_pem
    running = started_runtime(qtbot, tmp_path / "data", ca)
    run(running, sandbox.start())
    try:
        yield running, sandbox
    finally:
        run(running, sandbox.stop())
        assert running.stop(), "the core thread did not stop"


@pytest.fixture
def protax(qtbot, tmp_path: Path):
    from app.sandbox.protax import ProTaxSandbox

    yield from with_sandbox(qtbot, tmp_path, ProTaxSandbox(tmp_path / "protax"))


@pytest.fixture
def kra_agent(qtbot, tmp_path: Path):
    sandbox_module = pytest.importorskip("app.sandbox.kra_agent")
    yield from with_sandbox(qtbot, tmp_path, sandbox_module.KraAgentSandbox(tmp_path / "agent"))


def unique_pos() -> str:
    return f"POS-{uuid.uuid4().hex[:6].upper()}"


def stored_nowhere_but_the_keyring(data_dir: Path, *secrets: str) -> None:
    """No secret in any file of the data dir (database, its WAL, config.toml, logs)."""
    for path in data_dir.rglob("*"):
        if path.is_file() and "practice-sandbox" not in path.parts:
            blob = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in blob, f"a secret is in {path}"


def type_into(qtbot, form, **values: str) -> None:
    for name, text in values.items():
        edit = form.edits[name]
        edit.clear()
        qtbot.keyClicks(edit, text)


def choose(qtbot, wizard: SetupWizard, upstream: str) -> None:
    assert wizard.currentId() == SetupWizard.WELCOME
    button = wizard.welcome.authorities[upstream]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    assert wizard.welcome.authorities[upstream].isChecked()


def wait_keyring(qtbot, page) -> None:
    qtbot.waitUntil(lambda: page.keyring.loaded, timeout=10_000)


# --------------------------------------------------------------------------------- ProTax


def test_protax_key_is_tested_saved_in_the_keyring_and_the_till_told_what_to_send(qtbot, protax):
    from app.sandbox.protax import DEFAULT_KEY

    runtime, sandbox = protax
    wizard = shown(qtbot, SetupWizard(runtime))
    choose(qtbot, wizard, "protax")
    screenshot(wizard, "setup-wizard-kenya-authority")
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.PROTAX
    page, pos_id = wizard.protax, unique_pos()
    assert page.form.edits["base_url"].text() == settings.PROTAX_LIVE_URL
    assert page.form.edits["api_key"].echoMode() == page.form.edits["api_key"].EchoMode.Password

    type_into(qtbot, page.form, base_url=sandbox.base_url, api_key=DEFAULT_KEY, kra_pin=PIN,
              pos_id=pos_id)
    assert "TEST key — invoices are not real" in page.badge.text()
    assert DEFAULT_KEY not in page.badge.text() and page.badge.text().startswith("ptx_test_…")
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.result.text().startswith("✓"), timeout=20_000)
    assert "ProTax answered" in page.result.text() and "sandbox" in page.result.text()
    assert "TEST key" in page.result.text()
    wait_keyring(qtbot, page)
    screenshot(wizard, "setup-wizard-kenya-protax")
    assert keystore.load_key("protax", PIN, pos_id) is None  # nothing saved before Save

    save = wizard.button(COMMIT)
    assert save.text() == "Save" and save.isEnabled()
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.KENYA_DONE, timeout=20_000)

    assert json.loads(keystore.load_key("protax", PIN, pos_id)) == {"api_key": DEFAULT_KEY}
    saved = settings.load(runtime.settings.data_dir)
    assert (saved.upstream, saved.upstream_url, saved.practice) == (
        "protax", sandbox.base_url, False)
    text = wizard.kenya_done.message.text()
    assert "/api/invoice" in text and PIN in text and pos_id in text and "items[…]" in text
    assert DEFAULT_KEY not in text
    screenshot(wizard, "setup-wizard-kenya-done")
    stored_nowhere_but_the_keyring(runtime.settings.data_dir, DEFAULT_KEY)


def test_a_wrong_protax_key_is_refused_with_a_clear_message_and_nothing_saved(qtbot, protax):
    runtime, sandbox = protax
    wizard = shown(qtbot, SetupWizard(runtime))
    choose(qtbot, wizard, "protax")
    wizard.next()
    page, pos_id = wizard.protax, unique_pos()
    wrong = "ptx_test_not_a_key_of_this_account"
    type_into(qtbot, page.form, base_url=sandbox.base_url, api_key=wrong, kra_pin=PIN,
              pos_id=pos_id)
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.result.text().startswith("✗"), timeout=20_000)
    assert wrong not in page.result.text()
    wait_keyring(qtbot, page)
    qtbot.mouseClick(wizard.button(COMMIT), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.error_box.isVisibleTo(page), timeout=20_000)
    assert wizard.currentId() == SetupWizard.PROTAX
    assert "Nothing was saved" in page.error.text() and wrong not in page.error.text()
    assert keystore.load_key("protax", PIN, pos_id) is None
    assert not (runtime.settings.data_dir / settings.CONFIG_NAME).exists()

    not_protax = "sk_live_123456"  # not a ProTax key at all: said before anything is sent
    type_into(qtbot, page.form, api_key=not_protax)
    assert "Not a ProTax key" in page.badge.text()
    qtbot.mouseClick(wizard.button(COMMIT), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "ptx_test_ (test) or ptx_live_" in page.error.text(),
                    timeout=20_000)
    assert keystore.load_key("protax", PIN, pos_id) is None


def test_a_key_for_the_other_protax_environment_is_warned_about():
    from app.service.kenya_setup import key_warning

    sandbox, live = PROTAX_SANDBOX_URL, settings.PROTAX_LIVE_URL
    assert "LIVE key but the address is ProTax's sandbox" in key_warning("live", "production",
                                                                          sandbox)
    assert "TEST key but the address is ProTax's live" in key_warning("test", "sandbox", live)
    assert key_warning("test", "sandbox", sandbox) is None
    assert key_warning("live", "production", live) is None
    local = "https://127.0.0.1:8443/api/v2"  # our sandbox: /health's environment decides
    assert key_warning("live", "production", local) is None
    assert key_warning("test", "sandbox", local) is None
    assert "TEST key" in key_warning("test", "production", local)


def test_a_live_protax_key_shows_a_live_badge(qtbot, protax):
    runtime, sandbox = protax
    live = "ptx_live_shop_key_0001"
    sandbox.add_key(live)
    wizard = shown(qtbot, SetupWizard(runtime))
    choose(qtbot, wizard, "protax")
    wizard.next()
    page = wizard.protax
    type_into(qtbot, page.form, base_url=sandbox.base_url, api_key=live, kra_pin=PIN,
              pos_id=unique_pos())
    assert "LIVE key" in page.badge.text()
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.result.text().startswith("✓"), timeout=20_000)
    assert "production" in page.result.text() and "LIVE key" in page.result.text()
    assert live not in page.result.text() and live not in page.badge.text()


# ------------------------------------------------------------------------------ KRA Agent


def test_kra_agent_sign_in_device_setup_and_initialisation(qtbot, kra_agent):
    from app.sandbox import kra_agent as sandbox_module

    runtime, sandbox = kra_agent
    email, password = sandbox_module.DEFAULT_EMAIL, sandbox_module.DEFAULT_PASSWORD
    token, pos_id = f"till-{uuid.uuid4().hex[:10]}", unique_pos()
    wizard = shown(qtbot, SetupWizard(runtime))
    choose(qtbot, wizard, "kra-agent")
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.KRA_ACCOUNT
    account = wizard.kra_account
    assert not wizard.button(NEXT).isEnabled()  # not before signing in

    type_into(qtbot, account.form, base_url=sandbox.base_url, email=email, password="wrong-pw")
    qtbot.mouseClick(account.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: account.result.text().startswith("✗"), timeout=20_000)
    assert "could not sign in" in account.result.text()
    assert "wrong-pw" not in account.result.text()
    assert not wizard.button(NEXT).isEnabled()

    type_into(qtbot, account.form, password=password)
    qtbot.mouseClick(account.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: account.result.text().startswith("✓"), timeout=20_000)
    assert f"Signed in as {email}" in account.result.text()
    screenshot(wizard, "setup-wizard-kenya-kra-account")
    assert keystore.load_key("kra-agent", "account", email) is None  # nothing saved yet
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.KRA_DEVICE

    device = wizard.kra_device
    assert device.form.edits["branch_id"].text() == "00"
    type_into(qtbot, device.form, kra_pin=PIN.lower(), company_name="Mama Mboga Stores",
              dvc_srl_no="KRACU-0042", integration_token=token, pos_id=pos_id)
    assert device.form.edits["kra_pin"].text() == PIN  # capitals, as KRA writes it
    assert device.form.is_valid()
    wait_keyring(qtbot, device)
    assert not wizard.button(COMMIT).isEnabled()  # not before the device is set up
    qtbot.mouseClick(device.setup_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: device.device_card.isVisibleTo(device), timeout=30_000)
    facts = device.device.text()
    assert "verified" in facts and "Device ID" in facts and "MRC number" in facts
    assert token not in facts
    screenshot(wizard, "setup-wizard-kenya-kra-device")

    stored = json.loads(keystore.load_key("kra-agent", PIN, pos_id))
    assert stored["integration_token"] == token and stored["client_id"] and stored["client_secret"]
    account_secrets = json.loads(keystore.load_key("kra-agent", "account", email))
    assert account_secrets["password"] == password and account_secrets["refresh_token"]
    saved = settings.load(runtime.settings.data_dir)
    assert (saved.upstream, saved.upstream_url, saved.kra_agent_email) == (
        "kra-agent", sandbox.base_url, email)

    qtbot.mouseClick(wizard.button(COMMIT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.KENYA_DONE
    text = wizard.kenya_done.message.text()
    assert "integration token" in text and PIN in text and token not in text
    screenshot(wizard, "setup-wizard-kenya-kra-done")
    stored_nowhere_but_the_keyring(
        runtime.settings.data_dir, token, password, stored["client_secret"],
        account_secrets["access_token"], account_secrets["refresh_token"])


def test_kenya_practice_is_chosen_for_the_next_start(qtbot, protax):
    runtime, _sandbox = protax
    wizard = shown(qtbot, SetupWizard(runtime))
    choose(qtbot, wizard, "kra-agent")
    assert wizard.welcome.practice.isVisibleTo(wizard.welcome)
    wizard.welcome.practice.setChecked(True)
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.KENYA_DONE
    saved = settings.load(runtime.settings.data_dir)
    assert (saved.upstream, saved.practice) == ("kra-agent", True)
    assert "practice-till-key" in wizard.kenya_done.message.text()


# ----------------------------------------------------------------------- settings window


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kenya_core(qtbot, tmp_path: Path, upstream: str, sandbox, path: str, **changes: object):
    """A core running in a Kenya mode against ``sandbox`` (as after the wizard and a restart)."""
    ca = ensure_certificates(sandbox.tls_dir).ca_pem
    port = free_port()
    # The settings say the usual port (as the screenshots should); the POS port is any free
    # one, bound here (as instance.listen does at a real start).
    from app.service import instance

    running = Runtime(gui_settings(tmp_path / "data", practice=False, upstream_ca=ca,
                                   upstream=upstream, upstream_url=f"https://127.0.0.1:{port}"
                                   f"{path}", port=3000, **changes),
                      instance.listen("127.0.0.1", 0))
    with qtbot.waitSignal(running.bridge.started, timeout=20_000):
        running.start()
    run(running, sandbox.start(port=port))
    try:
        yield running, sandbox
    finally:
        run(running, sandbox.stop())
        assert running.stop(), "the core thread did not stop"


@pytest.fixture
def protax_core(qtbot, tmp_path: Path):
    from app.sandbox.protax import ProTaxSandbox

    yield from kenya_core(qtbot, tmp_path, "protax", ProTaxSandbox(tmp_path / "protax"),
                          "/api/v2")


@pytest.fixture
def kra_agent_core(qtbot, tmp_path: Path):
    from app.sandbox.kra_agent import DEFAULT_EMAIL, KraAgentSandbox

    yield from kenya_core(qtbot, tmp_path, "kra-agent", KraAgentSandbox(tmp_path / "agent"),
                          "/kra-agent/api/v1", kra_agent_email=DEFAULT_EMAIL)


def test_settings_window_in_kenya_mode_shows_the_authority_and_key_kind(qtbot, protax_core):
    from app.gui.settings_window import SettingsWindow
    from app.sandbox.protax import DEFAULT_KEY

    runtime, sandbox = protax_core
    pos_id = unique_pos()
    done: list[object] = []
    runtime.call(lambda facade: facade.setup_protax(
        base_url=sandbox.base_url, api_key=DEFAULT_KEY, kra_pin=PIN, pos_id=pos_id), done.append,
        done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=20_000)
    assert done[0].pos_id == pos_id, done[0]

    window = shown(qtbot, SettingsWindow(runtime))
    qtbot.waitUntil(lambda: window.table.rowCount() == 1, timeout=10_000)
    assert window.table.horizontalHeaderItem(1).text() == "KRA PIN"
    assert [window.table.item(0, c).text() for c in range(3)] == [pos_id, PIN, "Yes"]
    connection = window.upstream
    qtbot.waitUntil(lambda: bool(connection.info and connection.info["key_kinds"]),
                    timeout=10_000)
    facts = connection.facts.text()
    assert "ProTax" in facts and sandbox.base_url in facts
    badge = connection.findChild(QLabel, f"key_kind_{pos_id}")
    assert "TEST key — invoices are not real" in badge.text() and DEFAULT_KEY not in badge.text()
    qtbot.mouseClick(connection.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: connection.result.text()[:1] in "✓✗", timeout=20_000)
    assert connection.result.text().startswith("✓ ProTax answered"), connection.result.text()
    assert DEFAULT_KEY not in connection.result.text()
    assert window.add_button.text() == "Set up a till…"
    screenshot(window, "settings-window-kenya")


def test_going_back_to_kpra_from_kenya_saves_kpra_for_the_next_start(qtbot, protax_core):
    runtime, _sandbox = protax_core
    wizard = shown(qtbot, SetupWizard(runtime))
    assert wizard.welcome.chosen() == "protax"  # what runs now is chosen to begin with
    choose(qtbot, wizard, "kpra")
    assert not wizard.welcome.practice.isVisibleTo(wizard.welcome)
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentId() == SetupWizard.CREDENTIALS
    form = wizard.credentials.form
    for edit, text in ((form.ntn, "1234567-8"), (form.pos_id, unique_pos()),
                       (form.key, "s3cret-KEY")):
        qtbot.keyClicks(edit, text)
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    chooser = wizard.upstream.chooser
    chooser.live.setChecked(True)
    assert "uses KRA eTIMS (ProTax) now" in chooser.restart_note.text()
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.save_page.keyring.loaded, timeout=10_000)
    qtbot.mouseClick(wizard.button(COMMIT), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentId() == SetupWizard.DONE, timeout=15_000)
    saved = settings.load(runtime.settings.data_dir)
    assert (saved.upstream, saved.upstream_url, saved.practice) == (
        "kpra", settings.KPRA_LIVE_URL, False)
    assert "switches to <b>KPRA (live)</b>" in wizard.done_page.message.text()


def test_status_window_and_tray_menu_in_kenya_practice_mode(qtbot, tmp_path):
    from app.gui.app import Shell

    settings_ = gui_settings(tmp_path / "data", upstream="protax")  # practice: the sandbox
    runtime = Runtime(settings_)
    shell = Shell(settings_, runtime, use_tray=False, confirm_quit=False)
    with qtbot.waitSignal(runtime.bridge.snapshot, timeout=30_000):
        shell.start()
    try:
        main = shell.main
        qtbot.waitUntil(lambda: "nothing is sent to KRA" in main.headline_label.text(),
                        timeout=10_000)
        assert "KPRA" not in main.headline_label.text()
        assert main.facts["upstream"].text().startswith("KRA eTIMS (ProTax)")
        screenshot(main, "status-window-kenya")
    finally:
        shell.main.hide()
        assert runtime.stop()


def post_json(base_url: str, path: str, body: dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{base_url}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_protax_practice_sale_and_credit_note_in_the_queue_with_the_receipt_qr(qtbot, tmp_path):
    """A till's sale and credit note through the ProTax sandbox (practice mode): the queue names
    each row's kind, a credit note's total is negative, and the receipt QR is ProTax's link."""
    from app.gui.qr_preview import QrPreview
    from app.gui.queue_window import QueueWindow
    from app.sandbox.protax import DEFAULT_KEY
    from app.service.upstreams import KENYA_PRACTICE_PIN, KENYA_PRACTICE_POS_ID

    runtime = Runtime(gui_settings(tmp_path / "data", upstream="protax"))
    with qtbot.waitSignal(runtime.bridge.snapshot, timeout=30_000):
        runtime.start()
    try:
        till = {"ntn": KENYA_PRACTICE_PIN, "pos_id": KENYA_PRACTICE_POS_ID, "key": DEFAULT_KEY}
        status, answer = post_json(runtime.core.base_url, "/api/invoice", till | {
            "invoice_no": "INV-77", "date_time": "2026-11-21 10:00:00", "items": [
                {"item_code": "KE1NTXU0000013", "item_name": "Sinda Engine Oil 20W50",
                 "quantity": 2, "unit_price": 2900, "tax_type": "A",
                 "item_class_code": "99013001"}]})
        assert status == 201, answer
        status, answer = post_json(runtime.core.base_url, "/api/credit-note", till | {
            "credit_note_no": "CN-77", "original_invoice_no": "INV-77",
            "reason": "Goods returned", "date_time": "2026-11-21 11:00:00"})
        assert status == 201, answer
        qtbot.waitUntil(lambda: runtime.last_snapshot is not None
                        and runtime.last_snapshot.counts.get("synced", 0) == 3, timeout=30_000)

        window = shown(qtbot, QueueWindow(runtime))
        model = window.model
        qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=10_000)
        from app.gui.invoice_model import COL_INVOICE, COL_TOTAL

        shown_rows = {model.data(model.index(r, COL_INVOICE)): model.data(model.index(r, COL_TOTAL))
                      for r in range(3)}
        assert shown_rows["CN-77 (credit note)"].startswith("-")
        assert shown_rows["KE1NTXU0000013 (item registration)"] == "—"
        assert not shown_rows["INV-77"].startswith("-")
        window.table.selectRow(0)  # the credit note, with its story below
        label = window.refreshed_label
        qtbot.waitUntil(lambda: "List updated" in label.text()
                        and label.width() >= label.sizeHint().width(), timeout=10_000)
        qtbot.waitUntil(lambda: window.pane.title.text() == "Credit note CN-77"
                        and window.pane.attempts.rowCount() == 1
                        and window.pane.attempts.isVisibleTo(window), timeout=10_000)
        assert window.pane.values["ntn"].text() == KENYA_PRACTICE_PIN
        assert window.pane.attempts.item(0, 2).text() == "Recorded by KRA eTIMS"
        screenshot(window, "queue-window-kenya")

        found: list[dict] = []

        async def detail(facade):
            page = await facade.invoices(search="INV-77")
            return await facade.invoice(page.rows[0]["id"])

        runtime.call(detail, found.append)
        qtbot.waitUntil(lambda: bool(found), timeout=10_000)
        receipt = found[0]["receipt_url"]
        assert receipt and receipt.startswith("https://127.0.0.1:") and "/qr/" in receipt
        preview = QrPreview(runtime, found[0])
        qtbot.addWidget(preview)
        preview.show()
        qtbot.waitUntil(lambda: preview.pixmap is not None, timeout=10_000)
        assert preview.url == receipt
    finally:
        assert runtime.stop()


def test_settings_window_in_kra_agent_mode_signs_in_with_the_account_in_the_keyring(
        qtbot, kra_agent_core):
    from app.gui.settings_window import SettingsWindow
    from app.sandbox.kra_agent import DEFAULT_EMAIL, DEFAULT_PASSWORD

    runtime, sandbox = kra_agent_core
    pos_id, token = unique_pos(), f"till-{uuid.uuid4().hex[:10]}"
    done: list[object] = []
    runtime.call(lambda facade: facade.setup_kra_agent(
        base_url=sandbox.base_url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD, kra_pin=PIN,
        pos_id=pos_id, company_name="Mama Mboga Stores", integration_token=token,
        dvc_srl_no="KRACU-0042"), done.append, done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=30_000)
    assert done[0].device["status"] == "verified", done[0]

    window = shown(qtbot, SettingsWindow(runtime))
    qtbot.waitUntil(lambda: window.table.rowCount() == 1, timeout=10_000)
    connection = window.upstream
    facts = connection.facts.text()
    assert "KRA Agent" in facts and DEFAULT_EMAIL in facts and sandbox.base_url in facts
    qtbot.mouseClick(connection.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: connection.result.text()[:1] in "✓✗", timeout=20_000)
    assert connection.result.text() == (f"✓ The KRA Agent answered at {sandbox.base_url} and "
                                        f"signed in {DEFAULT_EMAIL}.")
    assert DEFAULT_PASSWORD not in connection.result.text()
    screenshot(window, "settings-window-kenya-kra-agent")
