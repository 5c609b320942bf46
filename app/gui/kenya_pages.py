"""Kenya (docs/KENYA.md) in the setup wizard and the settings window: the wizard's last page (what
the till must send, and where), the authority choice's hints, and the settings window's
connection box (the authority, its address, the KRA Agent account or each ProTax key's kind,
and Test connection). The KRA Agent and ProTax pages: kra_agent_pages.py, protax_page.py.

Nothing secret is ever shown: a ProTax key only as its prefix, with a TEST / LIVE badge."""


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.gui.check_line import CheckLine
from app.gui.fields_form import kind_badge, set_facts
from app.gui.setup_wizard import (
    HINT_STYLE,
    DonePage,
    _escape,
    call_for,
    failure_text,
    text_label,
)
from app.settings import UPSTREAM_NAMES

AUTHORITY_NAMES = {"kra-agent": "KRA eTIMS (Kenya) through the KRA Agent",
                   "protax": "KRA eTIMS (Kenya) through ProTax"}


class KenyaDonePage(DonePage):
    """What the till must send, and where."""

    def __init__(self) -> None:
        super().__init__("All set: point your till here",
                         "Give these details to whoever set up your till's software.")

    def show_result(self, result, base_url: str, running_upstream: str) -> None:
        key_word = ("the integration token you typed" if result.upstream == "kra-agent" else
                    "the ProTax API key (" + ("ptx_test_…, TEST" if result.key_kind == "test"
                                              else "ptx_live_…, LIVE") + ")")
        rows = [("ntn", f"your KRA PIN: {result.kra_pin}"), ("pos_id", result.pos_id),
                ("key", key_word),
                ("invoice_no, date_time", "the sale's number and time (YYYY-MM-DD HH:MM:SS)"),
                ("items[…]", "each line: item_code or item_name, quantity, unit_price, "
                             "tax_type")]
        table = "".join(f"<tr><td style='padding-right:14px'><code>{_escape(n)}</code></td>"
                        f"<td>{_escape(v)}</td></tr>" for n, v in rows)
        parts = [f"<p>Your till's software sends each sale to:<br><b>{_escape(base_url)}"
                 "/api/invoice</b></p>",
                 f"<p>with these fields:</p><table cellspacing='2'>{table}</table>",
                 "<p style='color:#5f6368'>Credit notes go to <b>/api/credit-note</b>, new "
                 "items to <b>/api/item</b> and stock changes to <b>/api/stock</b> at the same "
                 "address.</p>"]
        if result.released:
            parts.append(f"<p>{result.released} invoice(s) that were waiting for this POS will "
                         "be sent now.</p>")
        if result.warning:
            parts.append(f"<p style='color:#b3261e'>⚠ {_escape(result.warning)}</p>")
        if not result.settings_saved:
            parts.append("<p><b>Practice mode:</b> this POS uses the built-in sandbox; nothing "
                         "is filed with KRA.</p>")
        elif running_upstream != result.upstream:
            name = UPSTREAM_NAMES.get(result.upstream, result.upstream)
            parts.append(f"<p>The utility switches to <b>{_escape(name)}</b> the next time it "
                         "starts: quit it (Quit in the tray menu) and open it again.</p>")
        self.message.setText("".join(parts))

    def show_practice(self, upstream_name: str, base_url: str, till: tuple[str, str, str]
                      ) -> None:
        pin, pos_id, key = till
        self.setTitle("Practice mode chosen")
        self.message.setText(
            f"<p>The utility practises with a built-in {_escape(upstream_name)} sandbox the "
            "next time it starts (Quit in the tray menu, then open it again). Nothing is filed "
            "with KRA.</p><p>Your till can practise with the sample POS: <code>ntn</code> "
            f"<b>{_escape(pin)}</b>, <code>pos_id</code> <b>{_escape(pos_id)}</b>, "
            f"<code>key</code> <b>{_escape(key)}</b>, sending to <b>{_escape(base_url)}"
            "/api/invoice</b>.</p><p style='color:#5f6368'>Run this setup again when you are "
            "ready to file for real.</p>")


def authority_hint(label: str) -> QLabel:
    hint = text_label(label, HINT_STYLE)
    hint.setIndent(24)
    return hint




class KenyaConnection(QWidget):
    """The settings window's "where to send" in Kenya mode: the authority, its address, the
    KRA Agent account or each ProTax key's kind (never a secret), and Test connection."""

    changed = Signal()  # (nothing here is edited; for the settings window's wiring)

    def __init__(self, runtime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runtime = runtime
        settings = runtime.facade.settings()
        self.running_practice = settings.practice
        self.facts = text_label("", rich=True)
        self.facts.setObjectName("kenya_facts")
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.badges = QHBoxLayout()
        self.check = CheckLine("Test connection", self.test)
        self.test_button, self.busy, self.result = (self.check.button, self.check.busy,
                                                    self.check.result)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.facts)
        layout.addLayout(self.badges)
        layout.addLayout(self.check.line)
        layout.addWidget(self.result)
        layout.addWidget(text_label("To change the authority, the account or a key, run the "
                                    "setup again (Set up a till… above).", HINT_STYLE))
        self.info: dict | None = None
        self._show_facts({"upstream": settings.upstream, "base_url":
                          runtime.core.upstream_url or settings.upstream_base,
                          "email": settings.kra_agent_email, "practice": settings.practice,
                          "name": UPSTREAM_NAMES.get(settings.upstream, settings.upstream),
                          "key_kinds": {}})
        call_for(self, runtime, lambda facade: facade.kenya_account(), self._show_facts,
                 lambda _error: None)

    def chosen_practice(self) -> bool:
        return self.running_practice

    def _show_facts(self, info: dict) -> None:
        self.info = info
        name = AUTHORITY_NAMES.get(str(info["upstream"]), str(info["name"]))
        rows = [("Tax authority", name + ("  (practice: a built-in sandbox, "
                                                         "nothing is filed)" if info["practice"]
                                                         else "")),
                ("Address", str(info["base_url"] or "not set"))]
        if info["upstream"] == "kra-agent":
            rows.append(("Account", str(info["email"] or ("built-in practice account"
                                                          if info["practice"] else "not set"))))
        set_facts(self.facts, rows)
        while self.badges.count():
            item = self.badges.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for pos_id, kind in dict(info.get("key_kinds") or {}).items():
            badge = QLabel()
            badge.setObjectName(f"key_kind_{pos_id}")
            kind_badge(badge, kind, "no usable API key", prefix=f"POS {pos_id}: ")
            self.badges.addWidget(badge)
        self.badges.addStretch(1)

    def test(self) -> None:
        if self.busy.isVisibleTo(self):  # (the button stays enabled: focus stays on it)
            return
        self.check.started("Checking… (this can take up to 15 seconds; you can keep working)",
                           disable=False)

        def done(answer: tuple[bool, str]) -> None:
            ok, text = answer
            self.check.finished(ok, text)

        def failed(error: BaseException) -> None:
            self.check.finished(False, f"The connection could not be tested: "
                                       f"{failure_text(error)}")

        call_for(self, self._runtime, lambda facade: facade.test_kenya_connection(), done,
                 failed)
